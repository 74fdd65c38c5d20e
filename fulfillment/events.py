"""One small function per order event type: the timeline in the admin is built from these rows."""

from django.utils import translation

from fulfillment.choices import ADDRESS_LABELS, EventSource, EventType, status_label
from fulfillment.models import OrderEvent
from fulfillment.money import quantize


# These three take any object with the order's pk, number, status: the mirror passes what it wrote, not models.
def order_created_event(order, *, source):
    return OrderEvent(order_id=order.pk, type=EventType.CREATED, source=source,
                      message=f"Order #{order.number} received ({status_label(order.status)})",
                      data={"status": order.status})


def status_changed_event(order, *, before, after, source, user=None, note=""):
    message = f"{status_label(before)} → {status_label(after)}"
    if note:
        message = f"{message}: {note}"
    return OrderEvent(order_id=order.pk, type=EventType.STATUS_CHANGED, source=source, user=user,
                      message=message, data={"before": before, "after": after})


def trashed_event(order, *, source, trashed):
    return OrderEvent(order_id=order.pk, type=EventType.TRASHED if trashed else EventType.RESTORED, source=source,
                      data={"trashed": trashed})


def note_added_event(order, *, note, customer_note, user):
    return OrderEvent(order=order, type=EventType.NOTE_ADDED, source=EventSource.STAFF, user=user, message=note,
                      data={"customer_note": customer_note})


def address_changes(before, after):
    """What differs between two addresses, by field label: "City: Wien → Amsterdam · Postcode: 1010 → 1016 GV"."""
    return " · ".join(
        f"{label}: {before.get(name) or '—'} → {after.get(name) or '—'}"
        for name, label in ADDRESS_LABELS.items() if (before.get(name) or "") != (after.get(name) or "")
    )


def address_changed_event(order, *, before, after, user, source=EventSource.STAFF, message=""):
    if not message:
        with translation.override("en"):  # as every event's message: the timeline reads data in the staff's language
            message = address_changes(before, after)
    return OrderEvent(order=order, type=EventType.ADDRESS_CHANGED, source=source, user=user, message=message,
                      data={"before": before, "after": after})


def push_sent_event(push):
    return OrderEvent(order_id=push.order_id, type=EventType.PUSH_SENT, source=EventSource.PUSH,
                      message=f"{push.get_kind_display()} sent to WooCommerce (attempt {push.attempts})",
                      data={"push_id": push.pk, "kind": push.kind})


def push_failed_event(push):
    return OrderEvent(order_id=push.order_id, type=EventType.PUSH_FAILED, source=EventSource.PUSH,
                      message=f"{push.get_kind_display()} not accepted by WooCommerce: {push.last_error}",
                      data={"push_id": push.pk, "kind": push.kind})


def refund_event(refund, *, user):
    what = ", ".join(f"{p['quantity']} × {p['name']}" if p["quantity"] else p["name"] for p in refund.lines)
    return OrderEvent(order_id=refund.order_id, type=EventType.REFUNDED, source=EventSource.STAFF, user=user,
                      message=f"{refund.amount} {refund.order.currency} ({what})"
                              + (f" — {refund.reason}" if refund.reason else "")
                              + (" · restocked" if refund.restock else ""),
                      data={"refund_id": refund.pk, "amount": str(refund.amount), "restock": refund.restock})


def refunded_in_woo_event(refund, *, currency, source):
    amount = quantize(refund.amount, currency)
    return OrderEvent(order_id=refund.order_id, type=EventType.REFUNDED_IN_WOO, source=source,
                      message=f"{amount} {currency} (WooCommerce refund {refund.woo_refund_id})"
                              + (f" — {refund.reason}" if refund.reason else ""),
                      data={"refund_id": refund.pk, "woo_refund_id": refund.woo_refund_id, "amount": str(amount),
                            "currency": currency, "reason": refund.reason})


def shipment_event(shipment, *, user, source=EventSource.STAFF):
    return OrderEvent(order_id=shipment.order_id, type=EventType.SHIPPED, source=source, user=user,
                      message=f"{shipment.carrier} {shipment.tracking_number}",
                      data={"shipment_id": shipment.pk, "link": shipment.tracking_link})


def push_retried_event(push, *, user):
    return OrderEvent(order_id=push.order_id, type=EventType.PUSH_RETRIED, source=EventSource.STAFF, user=user,
                      message=f"{push.get_kind_display()}: sent again after: {push.last_error}",
                      data={"push_id": push.pk, "kind": push.kind})


def submission_event(submission, *, user, source, retry=False, reprint=False):
    if reprint:
        message = f"Reprint queued for {submission.provider.name} ({submission.external_id}): {submission.reason}"
    elif retry:
        message = f"Queued again for {submission.provider.name} ({submission.external_id})"
    else:
        message = f"Queued for {submission.provider.name} ({submission.external_id})"
    return OrderEvent(order_id=submission.order_id, type=EventType.SUBMISSION_QUEUED, source=source, user=user,
                      message=message, data={"submission_id": submission.pk, "reprint_of": submission.reprint_of_id})


def submitted_event(submission):
    return OrderEvent(order_id=submission.order_id, type=EventType.SUBMITTED, source=EventSource.PROVIDER,
                      message=f"{submission.provider.name} accepted it as {submission.remote_id}",
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
    return OrderEvent(order_id=order.pk, type=EventType.COUNTDOWN, source=source, message=message)
