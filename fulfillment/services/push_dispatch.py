"""The outbox's dispatch: due pushes are sent by a worker, oldest first, one order's pushes in order.

Order holds past a failure too: a push that failed for good holds the later pushes of its order that must not
overtake it (outbox.HOLDS: a status after a refund, a note after a status) until staff retry or discard it.

Each kind's request, its look-up after a lost answer and what follows its answer or refusal are its handler's,
found in one table (fulfillment.pushes.HANDLERS). A push is claimed before it is sent, so two workers never send
it twice; an attempt whose answer was lost marks it maybe-sent, and its handler looks before sending again.
"""

import logging
import random
from collections import defaultdict
from datetime import timedelta

from django.conf import settings
from django.db import transaction
from django.db.models import Count, Exists, F, OuterRef, Q
from django.utils import timezone
from django.utils.translation import gettext as _

from fulfillment import events
from fulfillment.choices import PushState
from fulfillment.integrations.woocommerce.client import WooAuthError, WooClient, WooError
from fulfillment.models import Order, Store, StorePush
from fulfillment.pushes import HANDLERS, PushError, handler_for
from fulfillment.services.outbox import HOLDS, STATE_KINDS, UNSENT, held_by_kinds, superseding_push
from fulfillment.task_queue import enqueue

logger = logging.getLogger("fulfillment.outbox")


# A push claimed longer ago than this belongs to a worker that died: it is tried again.
CLAIM_TIMEOUT = timedelta(seconds=settings.PUSH_CLAIM_SECONDS)
# Due pushes read at a time by a dispatch (it reads batch after batch until none is due). The first read is small
# and each next one four times larger, up to DISPATCH_BATCH: a shop found unreachable at its first push stops the
# dispatch after reading 50 rows, not 500 (with thousands waiting, each batch of invoices queued a dispatch that
# read 500 pushes with their orders to try one: more CPU than issuing the invoices).
DISPATCH_BATCH = 500
DISPATCH_FIRST_BATCH = 50
# PUSH_BACKOFF_FIRST_SECONDS and PUSH_BACKOFF_MAX_SECONDS in settings (30 s, 30 min): a fault bench compresses time.
# The dispatcher gives up on a push once both are reached: enough attempts for a passing fault to have passed, and
# long enough for a shop down over a weekend to lose nothing. With the 30-minute ceiling 20 attempts take about
# 7 hours, so a push is given up after 3 days unless it was seldom tried (its store kept failing before it).
GIVE_UP_ATTEMPTS = 20
GIVE_UP_AFTER = timedelta(days=3)
# After WooCommerce refused our key, the store's first push is tried again after as long as the key has been
# refused, within these bounds: a security plugin bans an address that keeps failing to log in.
KEY_RETRY_MIN = timedelta(seconds=30)
KEY_RETRY_MAX = timedelta(minutes=30)

def backoff(attempts):
    """Seconds to wait before attempt `attempts + 1`: 30 s doubling to 30 min (settings), with jitter."""
    delay = min(settings.PUSH_BACKOFF_FIRST_SECONDS * 2 ** max(attempts - 1, 0), settings.PUSH_BACKOFF_MAX_SECONDS)
    return delay * (1 + random.random() / 10)


def _send(client, push):
    handler = HANDLERS.get(push.kind)
    if handler is None:
        raise WooError(f"no sender for push kind {push.kind!r}")
    return handler.send(client, push)


def pushes_dispatch(*, store_ids=None, now=None, client_for=WooClient.for_store, batch=DISPATCH_BATCH):
    """Send every due push, oldest first; a push waits while an older one of the same order is unsent.

    Only due pushes are read (in batches, with their orders' mirrored JSON left in the database): a shop that was
    down leaves thousands of pushes waiting for their next attempt, and every dispatch would otherwise read them
    all. A push behind an older unsent one of its order that is not due yet is known from one EXISTS.
    """
    now = now or timezone.now()
    unsent = StorePush.objects.filter(state__in=UNSENT)
    if store_ids is not None:
        unsent = unsent.filter(store_id__in=store_ids)
    due = _due(now)
    behind_one_not_due = StorePush.objects.filter(
        order_id=OuterRef("order_id"), pk__lt=OuterRef("pk"), state__in=UNSENT).exclude(due)
    counts = defaultdict(int)
    held = _held()
    # One query for both figures: a dispatch that finds nothing due costs two, however many pushes wait.
    figures = unsent.aggregate(waiting=Count("pk", filter=~due), held=Count("pk", filter=due & held))
    counts["waiting"] += figures["waiting"]
    counts["held"] += figures["held"]
    stopped, clients, waiting_orders, after = set(), {}, defaultdict(set), 0
    size = min(batch, DISPATCH_FIRST_BATCH)
    while True:
        pushes = list(unsent.filter(due, pk__gt=after).exclude(held).exclude(store_id__in=stopped)
                      .annotate(behind=Exists(behind_one_not_due))
                      .select_related("order", "store").defer("order__raw").order_by("pk")[:size])
        by_store = defaultdict(list)
        for push in pushes:
            by_store[push.store_id].append(push)
        for store_id, store_pushes in by_store.items():
            if store_id not in clients:
                clients[store_id] = client_for(store_pushes[0].store)
            if not _dispatch_store(store_pushes, now, clients[store_id], counts, waiting_orders[store_id]):
                stopped.add(store_id)
        if len(pushes) < size:
            break
        after, size = pushes[-1].pk, min(batch, size * 4)
    for name in ("waiting", "held"):
        if not counts[name]:
            del counts[name]
    return dict(counts)


def _held():
    """Pushes behind a failed push of their order that they must not overtake (outbox.HOLDS): they wait for staff."""
    held = Q(pk__in=[])
    for kind in {later for kinds in HOLDS.values() for later in kinds}:
        failed_before = StorePush.objects.filter(order_id=OuterRef("order_id"), pk__lt=OuterRef("pk"),
                                                 state=PushState.FAILED, kind__in=held_by_kinds(kind))
        held |= Q(kind=kind) & Q(Exists(failed_before))
    return held


def _due(now):
    return (Q(state__in=(PushState.PENDING, PushState.RETRYING), next_attempt_at__lte=now)
            | Q(state=PushState.SENDING, claimed_at__lt=now - CLAIM_TIMEOUT))


def _is_due(push, now):
    if push.state == PushState.SENDING:
        return push.claimed_at is not None and push.claimed_at < now - CLAIM_TIMEOUT
    return push.next_attempt_at <= now


def _dispatch_store(pushes, now, client, counts, waiting_orders):
    """Send a store's due pushes in order; False when the store's other pushes must wait for the next run."""
    store = pushes[0].store
    if store.push_auth_retry_at is not None and store.push_auth_retry_at > now:
        # WooCommerce refused our key a moment ago: every push would be refused too. They wait; none fails.
        counts["waiting"] += len(pushes)
        return False
    for push in pushes:
        if push.order_id in waiting_orders or push.behind or not _is_due(push, now):
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
            return False
        except WooError as exc:
            _record_failure(push, exc)
            waiting_orders.add(push.order_id)
            counts["retrying" if push.state == PushState.RETRYING else "failed"] += 1
            if exc.retryable and (exc.status is None or exc.status in (502, 503, 504)):
                # The shop is unreachable: the rest would only time out too. They wait for the next run.
                return False
            continue
        _record_success(push, answer)
        _store_key_works(store)
        counts["sent"] += 1
    return True


def _record_success(push, answer):
    with transaction.atomic():
        push.state, push.sent_at, push.last_error = PushState.SENT, timezone.now(), ""
        push.response = answer if isinstance(answer, (dict, list)) else None
        push.save(update_fields=["state", "sent_at", "last_error", "response", "attempts", "auto_attempts",
                                 "maybe_sent"])
        events.push_sent_event(push).save()
        handler_for(push.kind).on_sent(push, answer)


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
        if push.kind in HANDLERS:
            handler_for(push.kind).on_refused(push)
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


def push_may_retry(push, user):
    """Whether this user may send this push again now (a failed push, and the permission of its kind)."""
    return push.state == PushState.FAILED and user.has_perm(handler_for(push.kind).retry_permission)


def retry_permissions():
    """Every permission that lets someone send a push of some kind again."""
    return {handler.retry_permission for handler in HANDLERS.values()}


def push_value_label(push):
    """What a state-setting push sets, in staff's words: a status label or a one-line address."""
    return handler_for(push.kind).value_label(push)


def push_retry(*, push, user):
    """Staff send a failed push again (after fixing its cause), with the permission to make that change."""
    handler = handler_for(push.kind)
    permission = handler.retry_permission
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
        maybe_sent = push.maybe_sent and not handler.retry_trusts_staff
        StorePush.objects.filter(pk=push.pk).update(state=PushState.PENDING, next_attempt_at=now, queued_at=now,
                                                    auto_attempts=0, last_error="", maybe_sent=maybe_sent)
        handler.on_retry(push, user)
        events.push_retried_event(push, user=user).save()
        enqueue("fulfillment.tasks.dispatch_pushes", push.store_id)
    push.refresh_from_db()
    return push


def push_discard(*, push, user):
    """Staff decide a failed push is not to be sent (after looking in WooCommerce): the later pushes it held go."""
    handler = handler_for(push.kind)
    if not user.has_perm(handler.retry_permission):
        raise PushError(_("You may not discard this %(kind)s push: that needs the permission to make the change "
                          "(%(permission)s).") % {"kind": push.get_kind_display().lower(),
                                                  "permission": handler.retry_permission})
    with transaction.atomic():
        push = StorePush.objects.select_for_update().get(pk=push.pk)
        if push.state != PushState.FAILED:
            raise PushError(_("Only a failed push can be discarded; this one is %(state)s.") % {
                "state": push.get_state_display()})
        push.state = PushState.DISCARDED
        push.save(update_fields=["state"])
        events.push_discarded_event(push, user=user).save()
        enqueue("fulfillment.tasks.dispatch_pushes", push.store_id)
    return push


def stores_with_due_pushes(now=None):
    now = now or timezone.now()
    return list(
        StorePush.objects.filter(_due(now)).exclude(_held()).exclude(store__push_auth_retry_at__gt=now)
        .values_list("store_id", flat=True).distinct()
    )
