"""Write-only secrets in the admin (a store's keys, a provider's webhook token, a supplier's API key).

The change form never sends a stored secret to the browser: a password input, empty keeps the stored value, and a
hint says whether one is set. Who may only look at the object gets no secret field at all, only "set" / "not set".
"""

from django import forms
from django.contrib import admin
from django.utils.html import format_html_join
from django.utils.translation import gettext_lazy as _


class WriteOnlySecretsForm(forms.ModelForm):
    """A model form whose `secret_fields` are password inputs; blank keeps the stored value, or clears it when the
    form has a ticked `<name>_clear` box (for a secret that may be empty)."""

    secret_fields = ()

    def __init__(self, *args, **kwargs):
        super().__init__(*args, **kwargs)
        for name in self.secret_fields:
            if name not in self.fields:
                continue  # a view-only page: no secret field at all (SecretsAdminMixin.get_fieldsets)
            field = self.fields[name]
            field.widget = forms.PasswordInput(render_value=False, attrs=field.widget.attrs)
            if self.instance.pk:
                stored = getattr(self.instance, name)
                field.required = field.required and not stored
                field.help_text = _("Stored. Leave blank to keep it.") if stored else _("Not set.")

    def clean(self):
        cleaned = super().clean()
        if self.instance.pk:
            for name in self.secret_fields:
                # The instance is the row as loaded for this form: its secrets are the stored ones.
                if name in self.fields and not cleaned.get(name) and not cleaned.get(f"{name}_clear"):
                    cleaned[name] = getattr(self.instance, name)
        return cleaned


class SecretsAdminMixin:
    """For a ModelAdmin with a WriteOnlySecretsForm: view-only staff see `secrets_set` instead of the fields."""

    def get_fieldsets(self, request, obj=None):
        fieldsets = super().get_fieldsets(request, obj)
        if self.has_change_permission(request, obj):
            return fieldsets
        # Read-only fields would show the secrets as text.
        hidden = {*self.form.secret_fields, *(f"{name}_clear" for name in self.form.secret_fields)}
        shown = []
        for title, options in fieldsets:
            fields = [f for f in options["fields"] if f not in hidden]
            if len(fields) < len(options["fields"]) and "secrets_set" not in fields:
                fields.insert(0, "secrets_set")
            shown.append((title, {**options, "fields": tuple(fields)}))
        return tuple(shown)

    def get_readonly_fields(self, request, obj=None):
        return (*super().get_readonly_fields(request, obj), "secrets_set")

    @admin.display(description=_("stored secrets"))
    def secrets_set(self, obj):
        return format_html_join(
            "", "<div>{}: {}</div>",
            ((obj._meta.get_field(name).verbose_name, _("set") if getattr(obj, name) else _("not set"))
             for name in self.form.secret_fields))
