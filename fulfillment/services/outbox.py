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
from fulfillment.choices import EventSource, PushKind, PushState, status_label
from fulfillment.integrations.woocommerce.client import WooAuthError, WooClient, WooError
from fulfillment.models import Order, Refund, Shipment, Store, StorePush
from fulfillment.queue import enqueue
from fulfillment.services.mirror import orders_upsert

logger = logging.getLogger("fulfillment.outbox")

UNSENT = (PushState.PENDING, PushState.RETRYING, PushState.SENDING)
# Kinds that set a field of the order to a value: a later push of the same kind replaces an earlier one. The others
# (notes, refunds, tracking) add something, and each one counts.
STATE_KINDS = (PushKind.STATUS, PushKind.ADDRESS)
# A push claimed longer ago than this belongs to a worker that died: it is tried again.
CLAIM_TIMEOUT = timedelta(minutes=10)
BACKOFF_FIRST_SECONDS = 30
BACKOFF_MAX_SECONDS = 30 * 60
# The dispatcher gives up on a push once both are reached: enough attempts for a passing fault to have passed, and
# long enough for a shop down over a weekend to lose nothing. With the 30-minute ceiling 20 attempts take about
# 7 hours, so a push is given up after 3 days unless it was seldom tried (its store kept failing before it).
GIVE_UP_ATTEMPTS = 20
GIVE_UP_AFTER = timedelta(days=3)
# After WooCommerce refused our key, the store's first push is tried again after as long as the key has been
# refused, within these bounds: a security plugin bans an address that keeps failing to log in.
KEY_RETRY_MIN = timedelta(seconds=30)
KEY_RETRY_MAX = timedelta(minutes=30)

# The permission a staff member needs to send a push of each kind again: the one to make that change.
RETRY_PERMISSIONS = {
    PushKind.STATUS: "fulfillment.change_order_status",
    PushKind.NOTE: "fulfillment.add_order_note",
    PushKind.ADDRESS: "fulfillment.change_order_address",
    PushKind.REFUND: "fulfillment.refund_order",
    PushKind.TRACKING: "fulfillment.add_tracking",
    PushKind.ORDER_DETAILS: "fulfillment.add_order_note",  # who writes to the customer
}


class PushError(Exception):
    """A push cannot be retried in its state (or by this user); the message is for staff."""


def push_create(*, order, kind, payload, user=None):
    """Write a change for WooCommerce to the outbox; call inside the transaction of the local change."""
    now = timezone.now()
    push = StorePush.objects.create(
        store_id=order.store_id, order=order, kind=kind, payload=payload, created_by=user,
        next_attempt_at=now, queued_at=now,
    )
    if kind in STATE_KINDS:
        # The new value replaces what failed before: those can no longer be retried.
        StorePush.objects.filter(order=order, kind=kind, pk__lt=push.pk,
                                 state__in=(PushState.FAILED, PushState.SUPERSEDED)).update(
            state=PushState.SUPERSEDED, superseded_by=push)
    enqueue("fulfillment.tasks.dispatch_pushes", order.store_id)
    return push


def backoff(attempts):
    """Seconds to wait before attempt `attempts + 1`: 30 s doubling to 30 min, with jitter."""
    delay = min(BACKOFF_FIRST_SECONDS * 2 ** max(attempts - 1, 0), BACKOFF_MAX_SECONDS)
    return delay * (1 + random.random() / 10)


def _send(client, push):
    """One HTTP call for one push (two when an earlier attempt may have arrived); returns WooCommerce's answer."""
    woo_id = push.order.woo_id
    if push.kind == PushKind.STATUS:
        return client.update_order(woo_id, {"status": push.payload["status"]}, retries=0)
    if push.kind == PushKind.ADDRESS:
        return client.update_order(woo_id, {"shipping": push.payload["shipping"]}, retries=0)
    if push.kind == PushKind.NOTE:
        return _send_note(client, push)
    if push.kind == PushKind.REFUND:
        return _send_refund(client, push)
    if push.kind == PushKind.TRACKING:
        return _send_tracking(client, push)
    if push.kind == PushKind.ORDER_DETAILS:
        return _send_order_details(client, push)
    raise WooError(f"no sender for push kind {push.kind!r}")


def _send_note(client, push):
    from fulfillment.services.orders import find_pushed_note

    woo_id = push.order.woo_id
    if push.maybe_sent:
        # WooCommerce may have made the note before the answer was lost: a second one would email the customer again.
        already = find_pushed_note(client.list_order_notes(woo_id, retries=0), push)
        if already is not None:
            return already
    return client.add_order_note(woo_id, note=push.payload["note"],
                                 customer_note=push.payload.get("customer_note", False), retries=0)


def _send_tracking(client, push):
    from fulfillment.services.tracking import find_pushed_tracking, tracking_request_body

    woo_id = push.order.woo_id
    shipment = Shipment.objects.get(pk=push.payload["shipment_id"])
    if push.maybe_sent:
        already = find_pushed_tracking(client.list_shipment_trackings(woo_id, retries=0), shipment)
        if already is not None:
            return already
    return client.add_shipment_tracking(woo_id, tracking_request_body(shipment), retries=0)


def _send_order_details(client, push):
    if push.maybe_sent:
        # The mail may be out already, and nothing tells (WooCommerce's note about it is in the shop's language): a
        # person looks before the customer gets it twice. Staff's retry sends it.
        raise WooError(_("WooCommerce may have emailed the order details already (the answer to the earlier attempt "
                         "was lost): check the order's notes in WooCommerce, and retry this push if they were not "
                         "sent."), unsent=True)
    return client.send_order_details(push.order.woo_id, retries=0)


def _send_refund(client, push):
    # Imported here: the refunds service writes pushes through this module.
    from fulfillment.services.refunds import find_pushed_refund, refund_request_body

    refund = Refund.objects.select_related("order").get(pk=push.payload["refund_id"])
    if push.attempts > 1:
        # An earlier attempt may have reached WooCommerce before it failed (a timeout after the refund was made): look
        # before sending, or the customer would be refunded twice. Money: looked up after any earlier attempt, as the
        # lookup by our id is exact.
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
    store = pushes[0].store
    if store.push_auth_retry_at is not None and store.push_auth_retry_at > now:
        # WooCommerce refused our key a moment ago: every push would be refused too. They wait; none fails.
        counts["waiting"] += len(pushes)
        return
    waiting_orders = set()
    for push in pushes:
        if push.order_id in waiting_orders or not _is_due(push, now):
            waiting_orders.add(push.order_id)
            counts["waiting"] += 1
            continue
        # Claim it: only one worker wins this update, so a push is never sent by two at once.
        # The attempt is counted in the claim itself: if this worker dies after WooCommerce accepted the call,
        # the next attempt knows an earlier one may have gone through (and looks before sending again).
        reclaimed = push.state == PushState.SENDING
        claimed = StorePush.objects.filter(pk=push.pk, state=push.state, attempts=push.attempts).update(
            state=PushState.SENDING, claimed_at=timezone.now(), attempts=F("attempts") + 1,
            auto_attempts=F("auto_attempts") + 1, maybe_sent=push.maybe_sent or reclaimed,
        )
        if not claimed:
            waiting_orders.add(push.order_id)
            continue
        previous_state = push.state
        push.attempts += 1
        push.auto_attempts += 1
        push.maybe_sent = push.maybe_sent or reclaimed
        try:
            answer = _send(client, push)
        except WooAuthError as exc:
            # The key, not this push, is wrong: the store's pushes all wait for it, in order, and none fails.
            _record_key_refused(push, exc, previous_state, store)
            counts["key_refused"] += 1
            return
        except WooError as exc:
            _record_failure(push, exc)
            waiting_orders.add(push.order_id)
            counts["retrying" if push.state == PushState.RETRYING else "failed"] += 1
            if exc.retryable and (exc.status is None or exc.status in (502, 503, 504)):
                # The shop is unreachable: the rest would only time out too. They wait for the next run.
                return
            continue
        _record_success(push, answer)
        _store_key_works(store)
        counts["sent"] += 1


def _record_success(push, answer):
    with transaction.atomic():
        push.state, push.sent_at, push.last_error = PushState.SENT, timezone.now(), ""
        push.response = answer if isinstance(answer, (dict, list)) else None
        push.save(update_fields=["state", "sent_at", "last_error", "response", "attempts", "auto_attempts",
                                 "maybe_sent"])
        events.push_sent_event(push).save()
        _after_success(push, answer)


def _gives_up(push):
    return push.auto_attempts >= GIVE_UP_ATTEMPTS and timezone.now() - push.queued_at >= GIVE_UP_AFTER


def _record_failure(push, exc):
    push.last_error = str(exc)
    if not exc.unsent:
        push.maybe_sent = True
    if exc.retryable and not _gives_up(push):
        push.state = PushState.RETRYING
        push.next_attempt_at = timezone.now() + timedelta(seconds=backoff(push.attempts))
        logger.info("push %s (%s, order %s) will be retried: %s", push.pk, push.kind, push.order_id, exc)
        push.save(update_fields=["state", "next_attempt_at", "last_error", "attempts", "auto_attempts",
                                 "maybe_sent"])
        return
    if exc.retryable:
        push.last_error = _("gave up after %(n)d attempts: %(error)s") % {"n": push.auto_attempts, "error": exc}
    with transaction.atomic():
        if push.kind in STATE_KINDS:
            # The order's lock first: a status change being written now (it holds the lock) is then seen here.
            Order.objects.select_for_update().filter(pk=push.order_id).first()
        later = superseding_push(push)
        # A value that failed while a newer one of the same field waits is replaced by it: nothing to retry.
        push.state = PushState.FAILED if later is None else PushState.SUPERSEDED
        push.superseded_by = later
        push.save(update_fields=["state", "last_error", "attempts", "auto_attempts", "maybe_sent", "superseded_by"])
        events.push_failed_event(push).save()
        if push.kind == PushKind.REFUND:
            from fulfillment.services.refunds import refund_mark_failed

            refund_mark_failed(push=push)
        elif push.kind in STATE_KINDS:
            from fulfillment.services.orders import order_push_refused

            order_push_refused(push=push)
    logger.warning("push %s (%s, order %s) failed for good: %s", push.pk, push.kind, push.order_id, push.last_error)


def _record_key_refused(push, exc, previous_state, store):
    # A refused key changed nothing in the shop: the push goes back to where it was, and the attempt does not count
    # towards giving up.
    push.state = PushState.RETRYING if previous_state == PushState.SENDING else previous_state
    push.auto_attempts -= 1
    push.last_error = str(exc)
    push.claimed_at = None
    push.save(update_fields=["state", "attempts", "auto_attempts", "last_error", "claimed_at", "maybe_sent"])
    now = timezone.now()
    since = store.push_auth_failing_since or now
    wait = min(max(now - since, KEY_RETRY_MIN), KEY_RETRY_MAX)
    store.push_auth_error, store.push_auth_failing_since, store.push_auth_retry_at = str(exc)[:2000], since, now + wait
    Store.objects.filter(pk=store.pk).update(push_auth_error=store.push_auth_error, push_auth_failing_since=since,
                                             push_auth_retry_at=store.push_auth_retry_at)
    logger.warning("store %s: WooCommerce refused our key; its pushes wait, tried again at %s: %s", store.slug,
                   store.push_auth_retry_at, exc)


def _store_key_works(store):
    if store.push_auth_error or store.push_auth_retry_at or store.push_auth_failing_since:
        store.push_auth_error, store.push_auth_failing_since, store.push_auth_retry_at = "", None, None
        Store.objects.filter(pk=store.pk).update(push_auth_error="", push_auth_failing_since=None,
                                                 push_auth_retry_at=None)
        logger.info("store %s: WooCommerce accepts our key again", store.slug)


def store_keys_changed(*, store):
    """Staff changed a store's URL or REST keys: pushes held by a refused key are tried at once."""
    with transaction.atomic():
        if Store.objects.filter(pk=store.pk, push_auth_retry_at__isnull=False).update(
                push_auth_retry_at=timezone.now()):
            enqueue("fulfillment.tasks.dispatch_pushes", store.pk)


def superseding_push(push):
    """The newest later push that sets the same field of the same order, or None (always None for additive kinds)."""
    if push.kind not in STATE_KINDS:
        return None
    return StorePush.objects.filter(order_id=push.order_id, kind=push.kind, pk__gt=push.pk).order_by("-pk").first()


def push_value_label(push):
    """What a state-setting push sets, in staff's words: a status label or a one-line address."""
    if push.kind == PushKind.STATUS:
        return status_label(push.payload.get("status", ""))
    if push.kind == PushKind.ADDRESS:
        return address_line(push.payload.get("shipping") or {})
    return ""


def address_line(shipping):
    """A shipping address on one line: street, postcode and city, country."""
    town = " ".join(str(p) for p in (shipping.get("postcode"), shipping.get("city")) if p)
    return ", ".join(str(p) for p in (shipping.get("address_1"), town, shipping.get("country")) if p)


def push_may_retry(push, user):
    """Whether this user may send this push again now (a failed push, and the permission of its kind)."""
    return push.state == PushState.FAILED and user.has_perm(RETRY_PERMISSIONS[push.kind])


def push_retry(*, push, user):
    """Staff send a failed push again (after fixing its cause), with the permission to make that change."""
    permission = RETRY_PERMISSIONS[push.kind]
    if not user.has_perm(permission):
        raise PushError(_("You may not send this %(kind)s push again: that needs the permission to make the "
                          "change (%(permission)s).") % {"kind": push.get_kind_display().lower(),
                                                         "permission": permission})
    with transaction.atomic():
        push = StorePush.objects.select_for_update().get(pk=push.pk)
        if push.state not in (PushState.FAILED, PushState.SUPERSEDED):
            raise PushError(_("Only a failed push can be retried; this one is %(state)s.") % {
                "state": push.get_state_display()
            })
        later = superseding_push(push)
        if later is not None:
            raise PushError(_("Push #%(id)s (%(kind)s: %(value)s) was replaced by a later one, push #%(later)s "
                              "(%(later_value)s, %(later_state)s): sending it again would set WooCommerce back to "
                              "older data. Make the change again on the order page if it is still wanted.") % {
                "id": push.pk, "kind": push.get_kind_display().lower(), "value": push_value_label(push),
                "later": later.pk, "later_value": push_value_label(later),
                "later_state": later.get_state_display().lower(),
            })
        now = timezone.now()
        # Staff looked before retrying an order-details mail whose answer was lost: it goes out this time.
        maybe_sent = push.maybe_sent and push.kind != PushKind.ORDER_DETAILS
        StorePush.objects.filter(pk=push.pk).update(state=PushState.PENDING, next_attempt_at=now, queued_at=now,
                                                    auto_attempts=0, last_error="", maybe_sent=maybe_sent)
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
        ).exclude(store__push_auth_retry_at__gt=now).values_list("store_id", flat=True).distinct()
    )
