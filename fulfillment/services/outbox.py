"""The outbox: changes for WooCommerce are written with the local change and sent by a task, in order."""

import logging
import random
from collections import defaultdict
from datetime import timedelta

from django.db import transaction
from django.db.models import F, Q
from django.utils import timezone
from django.utils.translation import gettext as _

from fulfillment import events
from fulfillment.choices import EventSource, PushKind, PushState
from fulfillment.integrations.woocommerce.client import WooClient, WooError
from fulfillment.models import Refund, Shipment, StorePush
from fulfillment.queue import enqueue
from fulfillment.services.mirror import orders_upsert

logger = logging.getLogger("fulfillment.outbox")

UNSENT = (PushState.PENDING, PushState.RETRYING, PushState.SENDING)
# A push claimed longer ago than this belongs to a worker that died: it is tried again.
CLAIM_TIMEOUT = timedelta(minutes=10)
BACKOFF_FIRST_SECONDS = 30
BACKOFF_MAX_SECONDS = 30 * 60


class PushError(Exception):
    """A push cannot be retried in its state; the message is for staff."""


def push_create(*, order, kind, payload, user=None):
    """Write a change for WooCommerce to the outbox; call inside the transaction of the local change."""
    push = StorePush.objects.create(
        store_id=order.store_id, order=order, kind=kind, payload=payload, created_by=user,
        next_attempt_at=timezone.now(),
    )
    enqueue("fulfillment.tasks.dispatch_pushes", order.store_id)
    return push


def backoff(attempts):
    """Seconds to wait before attempt `attempts + 1`: 30 s doubling to 30 min, with jitter."""
    delay = min(BACKOFF_FIRST_SECONDS * 2 ** max(attempts - 1, 0), BACKOFF_MAX_SECONDS)
    return delay * (1 + random.random() / 10)


def _send(client, push):
    """One HTTP call for one push; returns WooCommerce's answer."""
    woo_id = push.order.woo_id
    if push.kind == PushKind.STATUS:
        return client.update_order(woo_id, {"status": push.payload["status"]}, retries=0)
    if push.kind == PushKind.ADDRESS:
        return client.update_order(woo_id, {"shipping": push.payload["shipping"]}, retries=0)
    if push.kind == PushKind.NOTE:
        return client.add_order_note(woo_id, note=push.payload["note"],
                                     customer_note=push.payload.get("customer_note", False), retries=0)
    if push.kind == PushKind.REFUND:
        return _send_refund(client, push)
    if push.kind == PushKind.TRACKING:
        from fulfillment.services.tracking import tracking_request_body

        shipment = Shipment.objects.get(pk=push.payload["shipment_id"])
        return client.add_shipment_tracking(woo_id, tracking_request_body(shipment), retries=0)
    raise WooError(f"no sender for push kind {push.kind!r}")


def _send_refund(client, push):
    # Imported here: the refunds service writes pushes through this module.
    from fulfillment.services.refunds import find_pushed_refund, refund_request_body

    refund = Refund.objects.select_related("order").get(pk=push.payload["refund_id"])
    if push.attempts > 1:
        # An earlier attempt may have reached WooCommerce before it failed (a timeout after the refund was
        # made): look before sending, or the customer would be refunded twice.
        already = find_pushed_refund(client.list_refunds(push.order.woo_id, retries=0), refund)
        if already is not None:
            return already
    return client.create_refund(push.order.woo_id, refund_request_body(refund), retries=0)


def _after_success(push, answer):
    if push.kind in (PushKind.STATUS, PushKind.ADDRESS) and isinstance(answer, dict):
        # WooCommerce answers with the whole order: the mirror takes it as it would a webhook.
        orders_upsert(store=push.store, payloads=[answer], source=EventSource.PUSH)
    elif push.kind == PushKind.REFUND and isinstance(answer, dict) and answer.get("id"):
        from fulfillment.services.refunds import refund_mark_pushed

        refund_mark_pushed(refund=Refund.objects.get(pk=push.payload["refund_id"]), remote=answer)
    elif push.kind == PushKind.TRACKING and isinstance(answer, dict):
        Shipment.objects.filter(pk=push.payload["shipment_id"]).update(
            woo_tracking_id=str(answer.get("tracking_id") or "")[:64]
        )


def pushes_dispatch(*, store_ids=None, now=None, client_for=WooClient.for_store):
    """Send every due push, oldest first; a push waits while an older one of the same order is unsent."""
    now = now or timezone.now()
    unsent = StorePush.objects.filter(state__in=UNSENT).select_related("order", "store").order_by("pk")
    if store_ids is not None:
        unsent = unsent.filter(store_id__in=store_ids)
    by_store = defaultdict(list)
    for push in unsent:
        by_store[push.store_id].append(push)
    counts = defaultdict(int)
    for pushes in by_store.values():
        _dispatch_store(pushes, now, client_for(pushes[0].store), counts)
    return dict(counts)


def _is_due(push, now):
    if push.state == PushState.SENDING:
        return push.claimed_at is not None and push.claimed_at < now - CLAIM_TIMEOUT
    return push.next_attempt_at <= now


def _dispatch_store(pushes, now, client, counts):
    waiting_orders = set()
    for push in pushes:
        if push.order_id in waiting_orders or not _is_due(push, now):
            waiting_orders.add(push.order_id)
            counts["waiting"] += 1
            continue
        # Claim it: only one worker wins this update, so a push is never sent by two at once.
        # The attempt is counted in the claim itself: if this worker dies after WooCommerce accepted the call,
        # the next attempt knows an earlier one may have gone through (refunds look before sending again).
        claimed = StorePush.objects.filter(pk=push.pk, state=push.state, attempts=push.attempts).update(
            state=PushState.SENDING, claimed_at=timezone.now(), attempts=F("attempts") + 1
        )
        if not claimed:
            waiting_orders.add(push.order_id)
            continue
        push.attempts += 1
        try:
            answer = _send(client, push)
        except WooError as exc:
            _record_failure(push, exc)
            waiting_orders.add(push.order_id)
            counts["retrying" if exc.retryable else "failed"] += 1
            if exc.retryable and (exc.status is None or exc.status in (502, 503, 504)):
                # The shop is unreachable: the rest would only time out too. They wait for the next run.
                break
            continue
        _record_success(push, answer)
        counts["sent"] += 1


def _record_success(push, answer):
    with transaction.atomic():
        push.state, push.sent_at, push.last_error = PushState.SENT, timezone.now(), ""
        push.response = answer if isinstance(answer, (dict, list)) else None
        push.save(update_fields=["state", "sent_at", "last_error", "response", "attempts"])
        events.push_sent_event(push).save()
        _after_success(push, answer)


def _record_failure(push, exc):
    push.last_error = str(exc)
    if exc.retryable:
        push.state = PushState.RETRYING
        push.next_attempt_at = timezone.now() + timedelta(seconds=backoff(push.attempts))
        logger.info("push %s (%s, order %s) will be retried: %s", push.pk, push.kind, push.order_id, exc)
        push.save(update_fields=["state", "next_attempt_at", "last_error", "attempts"])
        return
    push.state = PushState.FAILED
    with transaction.atomic():
        push.save(update_fields=["state", "last_error", "attempts"])
        events.push_failed_event(push).save()
        if push.kind == PushKind.REFUND:
            from fulfillment.services.refunds import refund_mark_failed

            refund_mark_failed(push=push)
    logger.warning("push %s (%s, order %s) failed for good: %s", push.pk, push.kind, push.order_id, exc)


def push_retry(*, push, user=None):
    """Staff send a failed push again (after fixing its cause)."""
    with transaction.atomic():
        updated = StorePush.objects.filter(pk=push.pk, state=PushState.FAILED).update(
            state=PushState.PENDING, next_attempt_at=timezone.now(), last_error=""
        )
        if not updated:
            raise PushError(_("Only a failed push can be retried; this one is %(state)s.") % {
                "state": push.get_state_display()
            })
        if push.kind == PushKind.REFUND:
            from fulfillment.services.orders import OrderActionError
            from fulfillment.services.refunds import refund_requeue

            try:
                refund_requeue(push=push, user=user)
            except OrderActionError as exc:
                raise PushError(str(exc)) from None
        events.push_retried_event(push, user=user).save()
        enqueue("fulfillment.tasks.dispatch_pushes", push.store_id)
    push.refresh_from_db()
    return push


def stores_with_due_pushes(now=None):
    now = now or timezone.now()
    return list(
        StorePush.objects.filter(
            Q(state__in=(PushState.PENDING, PushState.RETRYING), next_attempt_at__lte=now)
            | Q(state=PushState.SENDING, claimed_at__lt=now - CLAIM_TIMEOUT)
        ).values_list("store_id", flat=True).distinct()
    )

