"""The outbox's write side: a change for WooCommerce is recorded with the local change, in its transaction.

A worker sends it (fulfillment.services.push_dispatch), in order per order, with retries; what each kind sends and
how it is found again after a lost answer is its handler's (fulfillment.pushes).
"""

from collections import defaultdict

from django.db import transaction
from django.utils import timezone

from fulfillment import bulk
from fulfillment.choices import PushKind, PushState
from fulfillment.models import Store, StorePush
from fulfillment.task_queue import enqueue

UNSENT = (PushState.PENDING, PushState.RETRYING, PushState.SENDING)
# Kinds that set a field of the order to a value: a later push of the same kind replaces an earlier one. The others
# (notes, refunds, tracking) add something, and each one counts.
STATE_KINDS = (PushKind.STATUS, PushKind.ADDRESS)
# Order within one order holds past a failure: a push that failed for good holds the order's later pushes of the
# kinds it names here until staff retry or discard it. A status must not overtake the refund before it (WooCommerce
# would show it refunded, or completed, without the money), nor the address correction (its mails print the
# address) or the tracking item (its completed mail lists the parcels); a note, the order-details mail or a refund
# must not overtake the status or address it speaks of. A note holds nothing (it tells, nothing depends on it; the
# tracking note carries its number and link, so it goes when the extension refused the item), a refund holds no
# later refund (each was checked against what remained when it was made), a value is superseded by a later value of
# the same field, and meta data of another app (an invoice number) neither holds nor is held. A kind another app
# registers is in no rule until it is added here.
HOLDS = {
    PushKind.STATUS: (PushKind.NOTE, PushKind.ORDER_DETAILS, PushKind.REFUND),
    PushKind.ADDRESS: (PushKind.STATUS, PushKind.NOTE, PushKind.ORDER_DETAILS),
    PushKind.REFUND: (PushKind.STATUS, PushKind.NOTE, PushKind.ORDER_DETAILS),
    PushKind.TRACKING: (PushKind.STATUS,),
}


def held_by_kinds(kind):
    """The kinds whose failed push holds a later push of `kind` of the same order."""
    return [earlier for earlier, later in HOLDS.items() if kind in later]


def push_create(*, order, kind, payload, user=None, dispatch=True):
    """Write a change for WooCommerce to the outbox; call inside the transaction of the local change.

    dispatch=False: the caller queues one `fulfillment.tasks.dispatch_pushes` for many pushes (a batch of orders)
    instead of one per push; the every-minute dispatch of due pushes sends them if it never does.
    """
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
    if dispatch:
        enqueue("fulfillment.tasks.dispatch_pushes", order.store_id)
    return push


def held_behind(pushes):
    """{push id: the failed push holding it} among the given pushes, with their orders' failed ones (see HOLDS)."""
    failed, held = defaultdict(list), {}
    for push in sorted(pushes, key=lambda p: p.pk):
        if push.state == PushState.FAILED:
            failed[push.order_id].append(push)
        elif push.state in UNSENT:
            holder = next((f for f in failed[push.order_id] if push.kind in HOLDS.get(f.kind, ())), None)
            if holder is not None:
                held[push.pk] = holder
    return held


def pushes_create(*, pushes, user=None, dispatch=True):
    """push_create for a batch of orders: `pushes` are (order, kind, payload), written in one insert.

    For kinds that add something (a meta value, a note), not STATE_KINDS: those replace earlier pushes one by one
    (push_create). dispatch: one `dispatch_pushes` per store after commit. Returns the pushes' ids.
    """
    if any(kind in STATE_KINDS for _order, kind, _payload in pushes):
        raise ValueError("pushes_create is for additive kinds; a state push goes through push_create")
    now = timezone.now()
    rows = [{"store_id": order.store_id, "order_id": order.pk, "kind": kind, "payload": payload,
             "created_by_id": user.pk if user else None, "next_attempt_at": now, "queued_at": now}
            for order, kind, payload in pushes]
    # One statement, the payloads as one JSON document (fulfillment.bulk).
    ids = [pk for (pk,) in bulk.upsert(StorePush, rows, returning=("pk",))]
    if dispatch:
        for store_id in sorted({row["store_id"] for row in rows}):
            enqueue("fulfillment.tasks.dispatch_pushes", store_id)
    return ids


def superseding_push(push):
    """The newest later push that sets the same field of the same order, or None (always None for additive kinds)."""
    if push.kind not in STATE_KINDS:
        return None
    return StorePush.objects.filter(order_id=push.order_id, kind=push.kind, pk__gt=push.pk).order_by("-pk").first()


def store_keys_changed(*, store):
    """Staff changed a store's URL or REST keys: pushes held by a refused key are tried at once."""
    with transaction.atomic():
        if Store.objects.filter(pk=store.pk, push_auth_retry_at__isnull=False).update(
                push_auth_retry_at=timezone.now()):
            enqueue("fulfillment.tasks.dispatch_pushes", store.pk)
