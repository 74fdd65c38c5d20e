from django import forms
from django.utils.translation import gettext_lazy as _

from fulfillment.choices import ImportMode
from fulfillment.models import Store
from fulfillment.services.imports import ImportRequestError, parse_ids


class ImportForm(forms.Form):
    store = forms.ModelChoiceField(queryset=Store.objects.all(), label=_("Store"))
    mode = forms.ChoiceField(choices=ImportMode.choices, widget=forms.RadioSelect, initial=ImportMode.ALL,
                             label=_("Import"))
    since = forms.DateTimeField(required=False, label=_("From (UTC)"),
                                widget=forms.DateTimeInput(attrs={"type": "datetime-local"}))
    until = forms.DateTimeField(required=False, label=_("To (UTC)"),
                                widget=forms.DateTimeInput(attrs={"type": "datetime-local"}))
    ids = forms.CharField(required=False, label=_("Order IDs"), help_text=_("Separated by commas or spaces."))

    def clean(self):
        cleaned = super().clean()
        mode = cleaned.get("mode")
        if mode == ImportMode.RANGE:
            if not cleaned.get("since"):
                self.add_error("since", _("A date range needs a start."))
            elif cleaned.get("until") and cleaned["until"] <= cleaned["since"]:
                self.add_error("until", _("The end must come after the start."))
        if mode == ImportMode.IDS:
            try:
                cleaned["id_list"] = parse_ids(cleaned.get("ids") or "")
            except ImportRequestError as exc:
                self.add_error("ids", str(exc))
        return cleaned
