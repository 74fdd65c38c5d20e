"""Staff actions on an order that WooCommerce must learn about: each writes an event and an outbox push."""

from django.db import transaction
from django.utils.translation import gettext as _

from accounting.services.exports import exports_follow_orders
from fulfillment import events
from fulfillment.choices import EventSource, OrderStatus, PushKind, status_label
from fulfillment.countries import COUNTRY_CODES, POSTCODE_OPTIONAL, STATE_REQUIRED
from fulfillment.models import Order
from fulfillment.services.countdown import countdowns_follow_status
from fulfillment.services.outbox import push_create

# Which statuses staff may move an order to from each status. Custom statuses may go anywhere
# a core status may, and may always come back to processing or on-hold.
TRANSITIONS = {
    OrderStatus.PENDING: {OrderStatus.PROCESSING, OrderStatus.ON_HOLD, OrderStatus.CANCELLED, OrderStatus.FAILED},
    OrderStatus.FAILED: {OrderStatus.PENDING, OrderStatus.PROCESSING, OrderStatus.ON_HOLD, OrderStatus.CANCELLED},
    OrderStatus.ON_HOLD: {OrderStatus.PROCESSING, OrderStatus.COMPLETED, OrderStatus.CANCELLED, OrderStatus.PENDING},
    OrderStatus.PROCESSING: {OrderStatus.ON_HOLD, OrderStatus.COMPLETED, OrderStatus.CANCELLED},
    OrderStatus.COMPLETED: {OrderStatus.PROCESSING},
    OrderStatus.CANCELLED: {OrderStatus.PENDING, OrderStatus.PROCESSING, OrderStatus.ON_HOLD},
    OrderStatus.REFUNDED: set(),
    OrderStatus.CHECKOUT_DRAFT: set(),
    OrderStatus.TRASH: set(),
    OrderStatus.READY_FOR_PICKUP: {OrderStatus.COMPLETED, OrderStatus.CANCELLED, OrderStatus.PROCESSING},
}
CUSTOM_STATUS_TARGETS = {OrderStatus.PROCESSING, OrderStatus.ON_HOLD, OrderStatus.COMPLETED, OrderStatus.CANCELLED}
# The postcode too, except where WooCommerce does not ask for one; the state where addresses need one (countries.py).
REQUIRED_ADDRESS_FIELDS = ("first_name", "last_name", "address_1", "city", "country")
ADDRESS_FIELDS = ("first_name", "last_name", "company", "address_1", "address_2", "city", "state", "postcode",
                  "country", "phone")


class OrderActionError(ValueError):
    """A staff action is not allowed; the message (and `errors`, per field) is for staff."""

    def __init__(self, message, errors=None):
        super().__init__(message)
        self.errors = errors or {}


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


def allowed_statuses(order):
    """The statuses staff may move this order to."""
    if order.trashed:
        return set()
    try:
        return set(TRANSITIONS[OrderStatus(order.status)])
    except ValueError:
        return set(CUSTOM_STATUS_TARGETS)


def _locked(order):
    return Order.objects.select_for_update().get(pk=order.pk)


def order_change_status(*, order, status, user, note="", source=EventSource.STAFF):
    """Move an order to another status here and in WooCommerce (staff, or a provider's last shipment)."""
    with transaction.atomic():
        order = _locked(order)
        if status not in allowed_statuses(order):
            raise OrderActionError(_("An order in status %(before)s cannot be moved to %(after)s.") % {
                "before": order.status_label, "after": status_label(status),
            })
        before = order.status
        order.status = status
        order.save(update_fields=["status"])
        events.status_changed_event(order, before=before, after=status, source=source, user=user,
                                    note=note).save()
        push_create(order=order, kind=PushKind.STATUS, payload={"status": status}, user=user)
        countdowns_follow_status(changes=[(order.pk, before, status)], source=source)
        exports_follow_orders(order_ids=[order.pk])
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
    return order
