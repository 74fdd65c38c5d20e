"""Customer accounts for My Account: sign-up, email confirmation, and the link to the shop's customer."""

from django.contrib.auth import get_user_model
from django.core import signing
from django.core.mail import send_mail
from django.db import IntegrityError, transaction
from django.template.loader import render_to_string
from django.utils import timezone
from django.utils.translation import gettext as _

from fulfillment.models import Order
from projects.errors import ProjectError
from projects.models import CustomerProfile

CONFIRM_SALT = "projects.customer-email-confirm"
CONFIRM_MAX_AGE = 7 * 24 * 3600


def normalise_email(email):
    return (email or "").strip().lower()


def customer_signup(*, store, email, password):
    """Open a customer account (never staff) for a shop; the email is confirmed later through a mailed link."""
    email = normalise_email(email)
    User = get_user_model()
    if User.objects.filter(username=email).exists() or User.objects.filter(email__iexact=email).exists():
        raise ProjectError(_("An account with this email address already exists: log in or reset the password."),
                           field="email")
    try:
        with transaction.atomic():
            user = User.objects.create_user(username=email, email=email, password=password,
                                            is_staff=False, is_superuser=False)
            CustomerProfile.objects.create(user=user, store=store)
    except IntegrityError:
        # Two sign-ups with one address at the same moment: the unique username lets only one through.
        raise ProjectError(_("An account with this email address already exists: log in or reset the password."),
                           field="email") from None
    return user


def confirmation_token(user):
    return signing.dumps({"user": user.pk, "email": user.email}, salt=CONFIRM_SALT)


def confirmation_send(*, user, confirm_url):
    """Mail the link that proves the customer owns the address (sent once the account is committed)."""
    context = {"user": user, "confirm_url": confirm_url, "store": user.customer_profile.store}
    subject = render_to_string("projects/account/confirm_email_subject.txt", context).strip()
    body = render_to_string("projects/account/confirm_email.txt", context)
    transaction.on_commit(lambda: send_mail(subject, body, None, [user.email]))


def customer_confirm_email(*, token):
    """Mark the address as the customer's (from the mailed link) and link the shop's customer by it."""
    try:
        data = signing.loads(token, salt=CONFIRM_SALT, max_age=CONFIRM_MAX_AGE)
    except signing.BadSignature:
        raise ProjectError(_("This confirmation link is invalid or has expired."), field="token") from None
    profile = (CustomerProfile.objects.select_related("user", "store")
               .filter(user_id=data.get("user"), user__email=data.get("email")).first())
    if profile is None:
        raise ProjectError(_("This confirmation link is invalid or has expired."), field="token")
    if profile.email_confirmed_at is None:
        profile.email_confirmed_at = timezone.now()
        profile.save(update_fields=["email_confirmed_at"])
    customer_link_woo(profile=profile)
    return profile


def customer_link_woo(*, profile):
    """Link a confirmed customer to the WooCommerce customer whose orders carry their email address."""
    if profile.woo_customer_id is not None or profile.email_confirmed_at is None:
        return profile
    woo_ids = (Order.objects.filter(store_id=profile.store_id, customer_email__iexact=profile.user.email,
                                    customer_woo_id__gt=0)
               .order_by("-created_at").values_list("customer_woo_id", flat=True))
    woo_id = woo_ids.first()
    if woo_id is None:
        return profile
    if CustomerProfile.objects.filter(store_id=profile.store_id, woo_customer_id=woo_id).exists():
        return profile  # another account of this shop holds that customer already: left for staff to sort out
    try:
        with transaction.atomic():
            if CustomerProfile.objects.filter(pk=profile.pk, woo_customer_id__isnull=True).update(
                    woo_customer_id=woo_id):
                profile.woo_customer_id = woo_id
    except IntegrityError:
        pass  # the unique constraint decided a race between two accounts: the other one won
    return profile


def customer_for_editor(*, store, woo_customer_id=None, email=None):
    """The account the shop's editor is used by, when the shop says who is logged in and we know them."""
    profiles = CustomerProfile.objects.select_related("user").filter(store=store, user__is_active=True)
    if woo_customer_id:
        profile = profiles.filter(woo_customer_id=woo_customer_id).first()
        if profile is not None:
            return profile.user
    if email:
        # Only a confirmed address: an unconfirmed one could be anyone's.
        profile = profiles.filter(user__email__iexact=normalise_email(email), email_confirmed_at__isnull=False).first()
        if profile is not None:
            return profile.user
    return None
