"""Forms of the customer pages (My Account): they validate input, the services do the work."""

from django import forms
from django.contrib.auth import password_validation
from django.contrib.auth.forms import AuthenticationForm, PasswordResetForm
from django.utils.translation import gettext_lazy as _

from fulfillment.models import Store
from projects.services.customers import normalise_email
from projects.services.projects import TITLE_MAX_LENGTH


class SignupForm(forms.Form):
    store = forms.ModelChoiceField(queryset=Store.objects.all(), to_field_name="slug", label=_("Shop"),
                                   empty_label=None)
    email = forms.EmailField(label=_("Email address"), max_length=150,
                             widget=forms.EmailInput(attrs={"autocomplete": "email", "autofocus": True}))
    password1 = forms.CharField(label=_("Password"), strip=False,
                                widget=forms.PasswordInput(attrs={"autocomplete": "new-password"}),
                                help_text=password_validation.password_validators_help_text_html())
    password2 = forms.CharField(label=_("Password again"), strip=False,
                                widget=forms.PasswordInput(attrs={"autocomplete": "new-password"}))

    def __init__(self, *args, store=None, **kwargs):
        super().__init__(*args, **kwargs)
        # The shop's link says which shop the customer comes from; the choice is shown only when it does not.
        if store is not None:
            self.fields["store"].initial = store.slug
            self.fields["store"].widget = forms.HiddenInput()

    def clean_email(self):
        return normalise_email(self.cleaned_data["email"])

    def clean(self):
        cleaned = super().clean()
        password1, password2 = cleaned.get("password1"), cleaned.get("password2")
        if password1 and password2 and password1 != password2:
            self.add_error("password2", _("The two passwords differ."))
        elif password1:
            try:
                password_validation.validate_password(password1)
            except forms.ValidationError as error:
                self.add_error("password1", error)
        return cleaned


class CustomerLoginForm(AuthenticationForm):
    """Email and password; staff accounts log in to the admin, not here."""

    username = forms.EmailField(label=_("Email address"), max_length=150,
                                widget=forms.EmailInput(attrs={"autocomplete": "email", "autofocus": True}))

    def clean_username(self):
        return normalise_email(self.cleaned_data["username"])

    def confirm_login_allowed(self, user):
        super().confirm_login_allowed(user)
        if user.is_staff or not hasattr(user, "customer_profile"):
            raise forms.ValidationError(self.error_messages["invalid_login"], code="invalid_login",
                                        params={"username": self.username_field.verbose_name})


class CustomerPasswordResetForm(PasswordResetForm):
    """Django's reset, for customer accounts only: a staff password is never reset from the shop's side."""

    def get_users(self, email):
        return (user for user in super().get_users(email) if not user.is_staff and hasattr(user, "customer_profile"))


class RenameForm(forms.Form):
    title = forms.CharField(label=_("Name"), max_length=TITLE_MAX_LENGTH)


class UploadForm(forms.Form):
    file = forms.FileField(label=_("Photo"), widget=forms.ClearableFileInput(
        attrs={"accept": "image/jpeg,image/png,image/webp"}))
