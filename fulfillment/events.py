"""One small function per order event type: the timeline in the admin is built from these rows.

Our sentences are kept as data (fulfillment.texts): `text` is rendered in each reader's language, `message`
holds its English rendering (logs, searches, older readers).
"""

from django.utils import translation
from django.utils.translation import gettext_noop as N_

from fulfillment.choices import ADDRESS_LABELS, EventSource, EventType
from fulfillment.models import OrderEvent
from fulfillment.money import quantize
from fulfillment.texts import english, push_kind, status, text


def order_event(spec, **fields):
    """An unsaved OrderEvent whose message is one of our sentences (`texts.text(...)`), for any app's timeline entry.

    `fields` are OrderEvent's: order_id (or order), type, source, user, data.
    """
    return OrderEvent(message=english(spec), text=spec, **fields)



# These three take any object with the order's pk, number, status: the mirror passes what it wrote, not models.
def order_created_event(order, *, source):
    return order_event(text(N_("Order #%(number)s received (%(status)s)"), number=order.number, status=status(order.status)),
                  order_id=order.pk, type=EventType.CREATED, source=source, data={"status": order.status})


def status_changed_event(order, *, before, after, source, user=None, note=""):
    """`note`: what staff typed, or one of our sentences as `texts.text(...)`."""
    spec = text(N_("%(before)s → %(after)s"), before=status(before), after=status(after))
    if note:
        spec = text(N_("%(change)s: %(note)s"), change=spec, note=note)
    return order_event(spec, order_id=order.pk, type=EventType.STATUS_CHANGED, source=source, user=user,
                  data={"before": before, "after": after})


def trashed_event(order, *, source, trashed):
    return OrderEvent(order_id=order.pk, type=EventType.TRASHED if trashed else EventType.RESTORED, source=source,
                      data={"trashed": trashed})


def note_added_event(order, *, note, customer_note, user):
    return OrderEvent(order=order, type=EventType.NOTE_ADDED, source=EventSource.STAFF, user=user, message=note,
                      data={"customer_note": customer_note})


def order_details_event(order, *, email, user):
    return order_event(text(N_("WooCommerce is asked to email the order details to %(email)s"), email=email),
                  order_id=order.pk, type=EventType.ORDER_DETAILS, source=EventSource.STAFF, user=user,
                  data={"email": email})


def address_changes(before, after):
    """What differs between two addresses, by field label: "City: Wien → Amsterdam · Postcode: 1010 → 1016 GV"."""
    return " · ".join(
        f"{label}: {before.get(name) or '—'} → {after.get(name) or '—'}"
        for name, label in ADDRESS_LABELS.items() if (before.get(name) or "") != (after.get(name) or "")
    )


def address_line(shipping):
    """A shipping address on one line: street, postcode and city, country."""
    town = " ".join(str(p) for p in (shipping.get("postcode"), shipping.get("city")) if p)
    return ", ".join(str(p) for p in (shipping.get("address_1"), town, shipping.get("country")) if p)


def address_changed_event(order, *, before, after, user, source=EventSource.STAFF, note=None):
    """`note`: why, as `texts.text(...)`, when it is not a staff correction (the timeline then shows it)."""
    data = {"before": before, "after": after}
    if note:
        return order_event(note, order_id=order.pk, type=EventType.ADDRESS_CHANGED, source=source, user=user, data=data)
    with translation.override("en"):  # the timeline renders the changes from `data`, in the staff's language
        message = address_changes(before, after)
    return OrderEvent(order=order, type=EventType.ADDRESS_CHANGED, source=source, user=user, message=message,
                      data=data)


def push_sent_event(push):
    return order_event(text(N_("%(kind)s sent to WooCommerce (attempt %(attempt)s)"), kind=push_kind(push.kind),
                       attempt=push.attempts),
                  order_id=push.order_id, type=EventType.PUSH_SENT, source=EventSource.PUSH,
                  data={"push_id": push.pk, "kind": push.kind})


def push_failed_event(push):
    return order_event(text(N_("%(kind)s not accepted by WooCommerce: %(error)s"), kind=push_kind(push.kind),
                       error=push.last_error),
                  order_id=push.order_id, type=EventType.PUSH_FAILED, source=EventSource.PUSH,
                  data={"push_id": push.pk, "kind": push.kind})


def refund_event(refund, *, user):
    what = ", ".join(f"{p['quantity']} × {p['name']}" if p["quantity"] else p["name"] for p in refund.lines)
    spec = text(N_("%(amount)s %(currency)s (%(what)s)"), amount=str(refund.amount), currency=refund.order.currency,
                what=what)
    if refund.reason:
        spec = text(N_("%(refund)s — %(reason)s"), refund=spec, reason=refund.reason)
    if refund.restock:
        spec = text(N_("%(refund)s · restocked"), refund=spec)
    return order_event(spec, order_id=refund.order_id, type=EventType.REFUNDED, source=EventSource.STAFF, user=user,
                  data={"refund_id": refund.pk, "amount": str(refund.amount), "restock": refund.restock})


def refunded_in_woo_event(refund, *, currency, source):
    amount = quantize(refund.amount, currency)
    spec = text(N_("%(amount)s %(currency)s (WooCommerce refund %(id)s)"), amount=str(amount), currency=currency,
                id=refund.woo_refund_id)
    if refund.reason:
        spec = text(N_("%(refund)s — %(reason)s"), refund=spec, reason=refund.reason)
    return order_event(spec, order_id=refund.order_id, type=EventType.REFUNDED_IN_WOO, source=source,
                  data={"refund_id": refund.pk, "woo_refund_id": refund.woo_refund_id, "amount": str(amount),
                        "currency": currency, "reason": refund.reason})


def shipment_event(shipment, *, user, source=EventSource.STAFF):
    return OrderEvent(order_id=shipment.order_id, type=EventType.SHIPPED, source=source, user=user,
                      message=f"{shipment.carrier} {shipment.tracking_number}",
                      data={"shipment_id": shipment.pk, "link": shipment.tracking_link})


def push_retried_event(push, *, user):
    return order_event(text(N_("%(kind)s: sent again after: %(error)s"), kind=push_kind(push.kind), error=push.last_error),
                  order_id=push.order_id, type=EventType.PUSH_RETRIED, source=EventSource.STAFF, user=user,
                  data={"push_id": push.pk, "kind": push.kind})


def push_discarded_event(push, *, user):
    return order_event(text(N_("%(kind)s: not to be sent (discarded after: %(error)s)"), kind=push_kind(push.kind),
                            error=push.last_error),
                       order_id=push.order_id, type=EventType.PUSH_DISCARDED, source=EventSource.STAFF, user=user,
                       data={"push_id": push.pk, "kind": push.kind})


def submission_event(submission, *, user, source, retry=False, reprint=False):
    names = {"provider": submission.provider.name, "external_id": submission.external_id}
    if reprint:
        spec = text(N_("Reprint queued for %(provider)s (%(external_id)s): %(reason)s"), reason=submission.reason,
                    **names)
    elif retry:
        spec = text(N_("Queued again for %(provider)s (%(external_id)s)"), **names)
    else:
        spec = text(N_("Queued for %(provider)s (%(external_id)s)"), **names)
    return order_event(spec, order_id=submission.order_id, type=EventType.SUBMISSION_QUEUED, source=source, user=user,
                  data={"submission_id": submission.pk, "reprint_of": submission.reprint_of_id})


def submitted_event(submission):
    return order_event(text(N_("%(provider)s accepted it as %(remote_id)s"), provider=submission.provider.name,
                       remote_id=submission.remote_id),
                  order_id=submission.order_id, type=EventType.SUBMITTED, source=EventSource.PROVIDER,
                  data={"submission_id": submission.pk, "remote_id": submission.remote_id})


def submission_failed_event(submission):
    return OrderEvent(order_id=submission.order_id, type=EventType.SUBMISSION_FAILED, source=EventSource.PROVIDER,
                      message=f"{submission.provider.name}: {submission.failure_reason}",
                      data={"submission_id": submission.pk})


def submission_cancelled_event(submission, *, user):
    return OrderEvent(order_id=submission.order_id, type=EventType.SUBMISSION_CANCELLED, source=EventSource.STAFF,
                      user=user, message=f"{submission.provider.name} ({submission.external_id})",
                      data={"submission_id": submission.pk})


def countdown_event(order, *, message, source):
    """`message`: one of our sentences as `texts.text(...)`."""
    return order_event(message, order_id=order.pk, type=EventType.COUNTDOWN, source=source)


def reservation_event(order_id, spec, *, source=EventSource.SUPPLIER, user=None, data=None):
    """A supplier reservation changed: `spec` is one of our sentences (`texts.text(...)`)."""
    return order_event(spec, order_id=order_id, type=EventType.RESERVATION, source=source, user=user,
                       data=data or {})
