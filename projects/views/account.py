"""Customer accounts: sign-up, login, logout, email confirmation and password reset (Django's views, our pages)."""

from django.contrib import messages
from django.contrib.auth import login
from django.contrib.auth import views as auth_views
from django.shortcuts import redirect, render
from django.urls import reverse, reverse_lazy
from django.utils.translation import gettext as _
from django.views.decorators.http import require_GET

from fulfillment.models import Store
from projects.errors import ProjectError
from projects.forms import CustomerLoginForm, CustomerPasswordResetForm, SignupForm
from projects.services.customers import (
    confirmation_send, confirmation_token, customer_confirm_email, customer_link_woo, customer_signup,
)

TEMPLATES = "projects/account/"


def _signup_store(request):
    """The shop the customer comes from: named in the shop's link (?store=slug), or the only one there is."""
    slug = request.GET.get("store") or request.POST.get("store")
    if slug:
        return Store.objects.filter(slug=slug).first()
    stores = list(Store.objects.all()[:2])
    return stores[0] if len(stores) == 1 else None


def signup(request):
    store = _signup_store(request)
    form = SignupForm(request.POST or None, store=store)
    if request.method == "POST" and form.is_valid():
        try:
            user = customer_signup(store=form.cleaned_data["store"], email=form.cleaned_data["email"],
                                   password=form.cleaned_data["password1"])
        except ProjectError as error:
            form.add_error(error.field, error.message)
        else:
            confirm_url = request.build_absolute_uri(reverse("account:confirm_email",
                                                             args=[confirmation_token(user)]))
            confirmation_send(user=user, confirm_url=confirm_url)
            login(request, user, backend="django.contrib.auth.backends.ModelBackend")
            messages.success(request, _("Welcome! We sent you an email: open its link to confirm your address."))
            return redirect("account:projects")
    return render(request, TEMPLATES + "signup.html", {"form": form})


class LoginView(auth_views.LoginView):
    template_name = TEMPLATES + "login.html"
    authentication_form = CustomerLoginForm
    next_page = reverse_lazy("account:projects")

    def form_valid(self, form):
        response = super().form_valid(form)
        # Orders may have arrived since the last visit: link the shop's customer now if not done yet.
        customer_link_woo(profile=form.get_user().customer_profile)
        return response


class LogoutView(auth_views.LogoutView):
    next_page = reverse_lazy("account:login")


@require_GET
def confirm_email(request, token):
    try:
        customer_confirm_email(token=token)
    except ProjectError as error:
        messages.error(request, error.message)
    else:
        messages.success(request, _("Thank you: your email address is confirmed."))
    return redirect("account:projects" if request.user.is_authenticated else "account:login")


class PasswordResetView(auth_views.PasswordResetView):
    template_name = TEMPLATES + "password_reset_form.html"
    form_class = CustomerPasswordResetForm
    email_template_name = TEMPLATES + "password_reset_email.txt"
    subject_template_name = TEMPLATES + "password_reset_subject.txt"
    success_url = reverse_lazy("account:password_reset_done")


class PasswordResetDoneView(auth_views.PasswordResetDoneView):
    template_name = TEMPLATES + "password_reset_done.html"


class PasswordResetConfirmView(auth_views.PasswordResetConfirmView):
    template_name = TEMPLATES + "password_reset_confirm.html"
    success_url = reverse_lazy("account:password_reset_complete")


class PasswordResetCompleteView(auth_views.PasswordResetCompleteView):
    template_name = TEMPLATES + "password_reset_complete.html"
