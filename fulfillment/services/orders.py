"""Staff actions on an order that WooCommerce must learn about: each writes an event and an outbox push."""

from django.db import transaction
from django.utils.html import strip_tags
from django.utils.translation import gettext as _

from fulfillment import events
from fulfillment.choices import EventSource, PushKind
from fulfillment.countries import COUNTRY_CODES, POSTCODE_OPTIONAL, STATE_REQUIRED
from fulfillment.errors import OrderActionError
from fulfillment.followers import Changed, OrderChange, orders_changed
from fulfillment.integrations.woocommerce.client import WooClient
from fulfillment.integrations.woocommerce.mapping import MappingError, parse_gmt
from fulfillment.models import Order
from fulfillment.services.outbox import push_create

# The postcode too, except where WooCommerce does not ask for one; the state where addresses need one (countries.py).
REQUIRED_ADDRESS_FIELDS = ("first_name", "last_name", "address_1", "city", "country")
ADDRESS_FIELDS = ("first_name", "last_name", "company", "address_1", "address_2", "city", "state", "postcode",
                  "country", "phone")
FORM_TOKEN_MAX = 64


def clean_form_token(token):
    """The one-time token a form was rendered with ("" when the form had none); OrderActionError if malformed.

    A form posted twice (a double click, a reload of the answer) carries the same token: the service answers the
    second post with what the first one made. Pages rendered before forms had tokens post none, and are served
    as before.
    """
    token = str(token or "").strip()
    if len(token) > FORM_TOKEN_MAX or not all(c.isascii() and (c.isalnum() or c in "-_") for c in token):
        raise OrderActionError(_("This form is out of date: reload the page and fill it in again."),
                               {"__all__": _("This form is out of date: reload the page and fill it in again.")})
    return token


def _locked(order):
    return Order.objects.select_for_update().get(pk=order.pk)


def order_change_status(*, order, status, user, note="", source=EventSource.STAFF):
    """Move an order to another status here and in WooCommerce (staff, or a provider's last shipment)."""
    with transaction.atomic():
        order = _locked(order)
        order.check_transition(status)
        before = order.status
        order.status = status
        order.save(update_fields=["status"])
        events.status_changed_event(order, before=before, after=status, source=source, user=user,
                                    note=note).save()
        push_create(order=order, kind=PushKind.STATUS, payload={"status": status}, user=user)
        orders_changed([OrderChange(order.pk, frozenset({Changed.STATUS}), before, status)], source=source, user=user)
    return order


def order_add_note(*, order, note, customer_note, user):
    """Add a note to an order; a customer note is emailed to the customer by WooCommerce."""
    note = (note or "").strip()
    if not note:
        raise OrderActionError(_("The note is empty."), {"note": _("Write the note.")})
    with transaction.atomic():
        order = _locked(order)
        events.note_added_event(order, note=note, customer_note=bool(customer_note), user=user).save()
        push_create(order=order, kind=PushKind.NOTE, payload={"note": note, "customer_note": bool(customer_note)},
                    user=user)
    return order


def order_send_details(*, order, user):
    """Have WooCommerce email the order's details (its "Order details" mail) to the billing address, once."""
    with transaction.atomic():
        order = _locked(order)
        email = (order.billing or {}).get("email") or order.customer_email
        if not email:
            raise OrderActionError(_("This order has no email address: WooCommerce cannot send its details."), {})
        events.order_details_event(order, email=email, user=user).save()
        push_create(order=order, kind=PushKind.ORDER_DETAILS, payload={"email": email}, user=user)
    return order


# The order page waits for these at most this long: staff are looking at the page.
WOO_NOTES_TIMEOUT_SECONDS = 8


def order_woo_notes(*, order, client=None):
    """The order's notes as WooCommerce keeps them (payment, stock, status, plugins, ours), newest first.

    Read when staff ask (a link on the order page), never stored: they are WooCommerce's record.
    Raises WooError with our own message when the shop does not answer.
    """
    client = client or WooClient.for_store(order.store, timeout=WOO_NOTES_TIMEOUT_SECONDS)
    notes = client.list_order_notes(order.woo_id, retries=0)
    return [{"author": str(n.get("author") or ""),
             # Plugins write notes with links and <br>: shown as text, never as the shop's HTML.
             "note": strip_tags(str(n.get("note") or "")), "customer_note": bool(n.get("customer_note")),
             "at": _note_date(n.get("date_created_gmt"))}
            for n in notes if isinstance(n, dict)]


def _note_date(value):
    try:
        return parse_gmt(value, "date_created_gmt")
    except MappingError:
        return None


def validate_address(address):
    """Clean a shipping address; raise OrderActionError with one message per wrong field (keyed by field name)."""
    cleaned = {name: str(address.get(name, "") or "").strip() for name in ADDRESS_FIELDS}
    country = cleaned["country"] = cleaned["country"].upper()
    errors = {name: _("This field is required.") for name in REQUIRED_ADDRESS_FIELDS if not cleaned[name]}
    if country and country not in COUNTRY_CODES:
        errors["country"] = _("%(code)s is not a country code: use the two-letter ISO code, e.g. NL, FR, IT, GB.") % {
            "code": str(address.get("country")).strip()}
    if not cleaned["postcode"] and country not in POSTCODE_OPTIONAL:
        errors["postcode"] = _("This field is required.")
    if not cleaned["state"] and country in STATE_REQUIRED:
        errors["state"] = _("Addresses in %(country)s need a state or province.") % {"country": country}
    if errors:
        raise OrderActionError(_("The address was not saved: correct the fields marked below."), errors)
    return cleaned


def order_update_shipping_address(*, order, address, user):
    """Correct the shipping address here and in WooCommerce."""
    cleaned = validate_address(address)
    with transaction.atomic():
        order = _locked(order)
        before = {name: order.shipping.get(name, "") for name in ADDRESS_FIELDS}
        order.shipping = {**order.shipping, **cleaned}
        order.city, order.state, order.country = cleaned["city"], cleaned["state"], cleaned["country"]
        order.save(update_fields=["shipping", "city", "state", "country"])
        events.address_changed_event(order, before=before, after=cleaned, user=user).save()
        push_create(order=order, kind=PushKind.ADDRESS, payload={"shipping": cleaned}, user=user)
        orders_changed([OrderChange(order.pk, frozenset({Changed.ADDRESS}), order.status, order.status)],
                       source=EventSource.STAFF, user=user)
    return order
