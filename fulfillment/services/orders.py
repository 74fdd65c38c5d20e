"""Staff actions on an order that WooCommerce must learn about: each writes an event and an outbox push."""

import re
from datetime import timedelta

from django.db import transaction
from django.utils.html import strip_tags
from django.utils.translation import gettext as _
from django.utils.translation import gettext_noop as N_

from accounting.services.exports import exports_follow_orders
from fulfillment import events
from fulfillment.texts import status as status_text, text
from fulfillment.choices import EventSource, OrderStatus, PushKind, PushState, status_label
from fulfillment.countries import COUNTRY_CODES, POSTCODE_OPTIONAL, STATE_REQUIRED
from fulfillment.integrations.woocommerce.client import WooClient
from fulfillment.integrations.woocommerce.mapping import MappingError, order_place, parse_gmt
from fulfillment.models import Order, StorePush
from fulfillment.services.countdown import countdowns_follow_status
from fulfillment.services.outbox import UNSENT, address_line, push_create

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
# The shop's clock and ours differ a little: a note dated up to this much before its push was queued may be ours.
CLOCK_SKEW = timedelta(minutes=2)


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
    return order


def _same_note_text(ours, theirs):
    ours, theirs = " ".join(ours.split()), " ".join(str(theirs or "").split())
    # WordPress stores a comment through wp_unslash(), which drops backslashes (PHP stripslashes).
    return theirs in (ours, re.sub(r"\\(.?)", r"\1", ours))


def find_pushed_note(notes, push):
    """The note WooCommerce already made for this push (an earlier attempt's answer was lost), or None.

    Same text and customer flag, dated after the push was queued, and not the note another of the order's pushes
    made: staff may add the same note twice on purpose.
    """
    taken = {str(response.get("id")) for response in StorePush.objects.filter(
        order_id=push.order_id, kind=PushKind.NOTE, state=PushState.SENT).exclude(pk=push.pk)
        .values_list("response", flat=True) if isinstance(response, dict)}
    since = push.created_at.replace(microsecond=0) - CLOCK_SKEW
    customer = bool(push.payload.get("customer_note"))
    for note in sorted((n for n in notes if isinstance(n, dict)), key=lambda n: int(n.get("id") or 0)):
        try:
            created = parse_gmt(note.get("date_created_gmt"), "date_created_gmt")
        except MappingError:
            continue
        if (str(note.get("id")) not in taken and created is not None and created >= since
                and bool(note.get("customer_note")) == customer and _same_note_text(push.payload["note"],
                                                                                     note.get("note"))):
            return note
    return None


def _later_change_waits(push):
    return StorePush.objects.filter(order_id=push.order_id, kind=push.kind, pk__gt=push.pk,
                                    state__in=UNSENT).exists()


def order_push_refused(*, push):
    """WooCommerce refused a status or address push for good: the order takes back the value WooCommerce has.

    Not when the field was changed again since (a later push waits, or the value is no longer the pushed one).
    Call inside the transaction that records the failure.
    """
    order = _locked(push.order)
    if _later_change_waits(push):
        return order
    reason = push.last_error
    if push.kind == PushKind.STATUS:
        pushed, woo_status = push.payload["status"], str(order.raw.get("status") or "")
        if order.status != pushed or not woo_status or woo_status == order.status:
            return order
        order.status = woo_status
        order.save(update_fields=["status"])
        events.status_changed_event(order, before=pushed, after=woo_status, source=EventSource.PUSH, note=text(N_(
            "WooCommerce refused the status change to %(status)s: %(reason)s; back to %(before)s"),
            status=status_text(pushed), reason=reason, before=status_text(woo_status))).save()
        countdowns_follow_status(changes=[(order.pk, pushed, woo_status)], source=EventSource.PUSH)
        exports_follow_orders(order_ids=[order.pk])
    elif push.kind == PushKind.ADDRESS:
        pushed, woo_shipping = push.payload["shipping"], order.raw.get("shipping")
        if not isinstance(woo_shipping, dict) or any(order.shipping.get(k, "") != v for k, v in pushed.items()):
            return order
        if all(woo_shipping.get(k, "") == v for k, v in pushed.items()):
            return order
        before = {name: order.shipping.get(name, "") for name in ADDRESS_FIELDS}
        order.shipping = dict(woo_shipping)
        place = order_place(order.billing, order.shipping)
        order.city, order.state, order.country = place["city"], place["state"], place["country"]
        order.save(update_fields=["shipping", "city", "state", "country"])
        after = {name: order.shipping.get(name, "") for name in ADDRESS_FIELDS}
        events.address_changed_event(order, before=before, after=after, user=None, source=EventSource.PUSH,
                                     note=text(N_("WooCommerce refused the shipping address change to %(address)s: "
                                                  "%(reason)s; back to %(before)s"),
                                               address=address_line(pushed), reason=reason,
                                               before=address_line(order.shipping))).save()
    return order
