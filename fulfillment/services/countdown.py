"""The countdown to automatic submission of in-app orders.

Processing starts it, on-hold pauses it with the time left, processing again resumes it; cancelled, refunded,
failed (and any other status) stop it. Changes arriving by webhook or reconcile drive it exactly as staff
changes do; an import of history never starts one (it would send old orders to production).
"""

from datetime import timedelta

from django.db import transaction
from django.utils import timezone
from django.utils.translation import gettext as _
from django.utils.translation import gettext_noop as N_

from fulfillment import events
from fulfillment.choices import EventSource, OrderStatus, OrderType, SubmitStatus
from fulfillment.models import Order, OrderEvent
from fulfillment.services.submissions import AlreadySubmitted, NotEligible, SubmissionError, order_submit
from fulfillment.texts import text

RENDER_WAIT = timedelta(minutes=2)
STARTING_SOURCES = (EventSource.WEBHOOK, EventSource.RECONCILE, EventSource.STAFF, EventSource.PUSH)


def countdown_next(order, *, before, after, now, delay_minutes, source):
    """(due_at, paused_seconds, message) after a status change, or None when nothing changes."""
    due, paused = order.countdown_due_at, order.countdown_paused_seconds
    if not delay_minutes or order.order_type != OrderType.IN_APP or order.submit_status == SubmitStatus.SUBMITTED:
        return (None, None, text(N_("countdown stopped"))) if (due or paused is not None) else None
    if after == OrderStatus.PROCESSING:
        if paused is not None:
            return now + timedelta(seconds=paused), None, text(N_("countdown resumed"))
        if due is None and before != OrderStatus.PROCESSING and source in STARTING_SOURCES:
            return now + timedelta(minutes=delay_minutes), None, text(N_("countdown started"))
        return None
    if after == OrderStatus.ON_HOLD:
        if due is not None:
            return None, max(int((due - now).total_seconds()), 0), text(N_("countdown paused"))
        return None
    if due is not None or paused is not None:
        return None, None, text(N_("countdown stopped"))
    return None


def countdowns_follow_status(*, changes, source, now=None):
    """Apply status changes [(order_id, before or None, after)] to the orders' countdowns (one bulk update)."""
    now = now or timezone.now()
    before_of = {order_id: before for order_id, before, _after in changes}
    orders = list(Order.objects.filter(pk__in=before_of).select_related("store").only(
        "id", "number", "status", "order_type", "submit_status", "countdown_due_at", "countdown_paused_seconds",
        "store__auto_submit_minutes"))
    changed, rows = [], []
    for order in orders:
        outcome = countdown_next(order, before=before_of[order.pk], after=order.status, now=now,
                                 delay_minutes=order.store.auto_submit_minutes, source=source)
        if outcome is None:
            continue
        order.countdown_due_at, order.countdown_paused_seconds, message = outcome
        changed.append(order)
        rows.append(events.countdown_event(order, message=message, source=source))
    if changed:
        with transaction.atomic():
            Order.objects.bulk_update(changed, ["countdown_due_at", "countdown_paused_seconds"])
            OrderEvent.objects.bulk_create(rows)
    return changed


def countdowns_follow(changes):
    """The order follower (fulfillment.followers): status changes, and arrivals, drive the countdowns.

    An order arriving by an import of history never starts one: it would send old orders to production.
    """
    status_changes = [(order_id, before, after) for order_id, before, after in changes.status_changes()
                      if not (before is None and changes.source == EventSource.IMPORT) and before != after]
    if status_changes:
        countdowns_follow_status(changes=status_changes, source=changes.source)


def orders_submit_due(now=None):
    """Submit every order whose countdown reached zero; an order that cannot go says why on the list."""
    now = now or timezone.now()
    submitted, refused = [], []
    for order in Order.objects.filter(countdown_due_at__lte=now).select_related("store").order_by("countdown_due_at"):
        try:
            order_submit(order=order, source=EventSource.COUNTDOWN, reason=_("automatic submission"))
            submitted.append(order.number)
        except AlreadySubmitted:
            Order.objects.filter(pk=order.pk).update(countdown_due_at=None, countdown_paused_seconds=None)
        except NotEligible as exc:
            if exc.waiting:
                # Only a production file still being rendered stands in the way: look again shortly.
                Order.objects.filter(pk=order.pk).update(countdown_due_at=now + RENDER_WAIT)
                continue
            _refuse(order, exc)
            refused.append((order.number, str(exc)))
        except SubmissionError as exc:
            _refuse(order, exc)
            refused.append((order.number, str(exc)))
    return submitted, refused


def _refuse(order, exc):
    with transaction.atomic():
        Order.objects.filter(pk=order.pk).update(
            countdown_due_at=None, countdown_paused_seconds=None, submit_status=SubmitStatus.FAILED,
            submit_error=_("Automatic submission impossible: %(why)s") % {"why": exc})
        events.countdown_event(order, message=text(N_("automatic submission impossible: %(why)s"), why=str(exc)),
                               source=EventSource.COUNTDOWN).save()
