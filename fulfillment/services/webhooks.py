"""WooCommerce webhooks: verify, store raw, answer at once; apply later in a task."""

import base64
import hashlib
import hmac
import json
import logging
import re
import time
from collections import defaultdict
from dataclasses import dataclass
from datetime import timedelta

from django.conf import settings
from django.db import DataError, IntegrityError, transaction
from django.db.models import F, Q
from django.utils import timezone

from backoffice.request_limits import MAX_JSON_DEPTH, nested_deeper_than
from fulfillment import bulk
from fulfillment.choices import DeliveryState, EventSource
from fulfillment.models import Store, WebhookDelivery
from fulfillment.task_queue import enqueue, enqueue_or_log
from fulfillment.services.mirror import order_mark_trashed, orders_upsert

logger = logging.getLogger("fulfillment.webhooks")

PING_BODY = re.compile(rb"^webhook_id=\d+$")
ORDER_TOPICS = {"order.created", "order.updated", "order.restored"}
MAX_WOO_ID = 2**63  # the woo_id columns are bigint


@dataclass
class Receipt:
    status: int  # the HTTP status to answer
    message: str
    delivery_pk: int | None = None  # the delivery stored (its id), when this one was

    @property
    def delivery(self):
        """The delivery stored, as a row with only its id (none is built per request: nothing answering needs it)."""
        return None if self.delivery_pk is None else WebhookDelivery(pk=self.delivery_pk)


# Deliveries come in bursts (a bulk edit in the shop sends one per order): each web process keeps the stores it
# has just read for a few seconds instead of reading the store again for every delivery. A secret changed in
# the meantime costs nothing: a signature that does not match the kept store is checked again against the row.
STORE_CACHE_SECONDS = 10
# A repeat of a delivery still not applied after this long queues it again (its task was lost, or not queued).
REPEAT_REQUEUE_SECONDS = 60
_stores = {}  # slug -> (monotonic expiry, Store)


def webhook_store(slug, *, fresh=False):
    """The store a delivery is for (only what receiving needs), or None for an unknown slug."""
    now = time.monotonic()
    kept = None if fresh else _stores.get(slug)
    if kept and kept[0] > now:
        return kept[1]
    store = Store.objects.only("pk", "slug", "webhook_secret", "last_webhook_at").filter(slug=slug).first()
    if store is None:
        _stores.pop(slug, None)
    else:
        _stores[slug] = (now + STORE_CACHE_SECONDS, store)
    return store


def forget_webhook_stores():
    _stores.clear()


def delivery_receive_for(*, slug, headers, body, content_type=None):
    """Receive a delivery for the store `slug`; None when there is no such store."""
    store = webhook_store(slug)
    if store is None:
        return None
    try:
        receipt = delivery_receive(store=store, headers=headers, body=body, content_type=content_type)
    except IntegrityError:  # the kept store was deleted since: ask the database
        receipt = None
    if receipt is None or receipt.status == 401:
        fresh = webhook_store(slug, fresh=True)
        if fresh is None:
            return None
        if receipt is None or fresh.webhook_secret != store.webhook_secret:
            receipt = delivery_receive(store=fresh, headers=headers, body=body, content_type=content_type)
    return receipt


def signature_for(body, secret):
    """base64(HMAC-SHA256(raw body, secret)), as WooCommerce computes X-WC-Webhook-Signature."""
    return base64.b64encode(hmac.new(secret.encode(), body, hashlib.sha256).digest()).decode()


def delivery_receive(*, store, headers, body, content_type=None):
    """Check one delivery's signature and store it exactly once; its application is queued.

    `content_type` is the request's media type (the view gives it): WooCommerce sends its JSON deliveries as
    application/json (its ping as a form, without signature), so a signed body declared of another type is refused
    (one without a type is read as JSON).
    """
    signature = headers.get("X-WC-Webhook-Signature", "")
    if not signature:
        # WooCommerce pings a new webhook with a form body and no X-WC-Webhook-* headers.
        if PING_BODY.match(body.strip()) and not headers.get("X-WC-Webhook-Topic"):
            logger.info("store %s: webhook ping (%s)", store.slug, body.strip().decode())
            return Receipt(200, "pong")
        logger.warning("store %s: webhook without signature refused", store.slug)
        return Receipt(401, "missing X-WC-Webhook-Signature")
    if not hmac.compare_digest(signature.strip().encode(), signature_for(body, store.webhook_secret).encode()):
        logger.warning("store %s: webhook with a wrong signature refused (topic %s)", store.slug,
                       headers.get("X-WC-Webhook-Topic", "?"))
        return Receipt(401, "bad signature")
    if content_type and content_type != "application/json":
        logger.warning("store %s: signed webhook of content type %r refused (topic %s): WooCommerce sends JSON",
                       store.slug, content_type[:80], headers.get("X-WC-Webhook-Topic", "?"))
        return Receipt(415, "the body must be application/json")
    refused = {}
    try:
        text = body.decode("utf-8")
    except UnicodeDecodeError as exc:
        # JSON is UTF-8: read with replacement characters it would be another body than the one signed, and be
        # applied. It is acknowledged (a 4xx counts towards WooCommerce disabling the webhook) and kept failed.
        text = body.decode("utf-8", errors="replace")
        refused = {"state": DeliveryState.FAILED, "applied_at": timezone.now(),
                   "error": f"The body is not UTF-8 (byte {exc.start}): not applied."}

    now = timezone.now()
    topic = headers.get("X-WC-Webhook-Topic", "")[:64]
    delivery_id = headers.get("X-WC-Webhook-Delivery-ID", "")[:64]
    digest = hashlib.sha256(body).hexdigest()
    if topic == "order.deleted":
        # A deletion's body is only {"id": N}, the same every time: without its delivery id, deleting an order
        # again after a restore would be taken for a repeat of the first deletion and the order would stay live.
        digest = hashlib.sha256(body + b"\n" + delivery_id.encode()).hexdigest()
    # One statement, no transaction: the row is there (and committed) before the task that applies it is queued.
    delivery_pk = bulk.insert_unless_exists(WebhookDelivery, {
        "store_id": store.pk,
        "topic": topic,
        "webhook_id": headers.get("X-WC-Webhook-ID", "")[:32],
        "delivery_id": delivery_id,
        # PostgreSQL text cannot hold NUL: the hash above still identifies the bytes received.
        "body": text.replace("\x00", "\ufffd"),
        "body_sha256": digest,
        "received_at": now,
        **refused,
    }, unique_fields=["store", "topic", "body_sha256"])
    if delivery_pk is None:
        # The very same body for the same topic: WooCommerce sent it again. Acknowledge, apply nothing, unless the
        # first copy has waited too long to be applied (its task was lost, or could not be queued): then this is
        # the moment to queue it again, applying twice is harmless. A repeat within the minute finds its task
        # simply not run yet: queueing a second one would only cost a worker a task.
        stored = WebhookDelivery.objects.filter(store=store, topic=topic, body_sha256=digest)
        stored.update(repeats=F("repeats") + 1)
        waiting = stored.filter(state=DeliveryState.RECEIVED,
                                received_at__lt=now - timedelta(seconds=REPEAT_REQUEUE_SECONDS)
                                ).values_list("pk", "received_at").first()
        if waiting is None or _queue_behind(waiting[1]):
            return Receipt(200, "duplicate")
        waiting = waiting[0]
        enqueue_or_log("fulfillment.tasks.apply_delivery", waiting)
        logger.info("store %s: delivery %s sent again before it was applied: queued again", store.slug, waiting)
        return Receipt(200, "duplicate: queued again")
    if refused:
        logger.warning("store %s: delivery %s (%s) not applied: %s", store.slug, delivery_pk, topic, refused["error"])
        return Receipt(200, "stored")
    # Stored is what counts: when the broker cannot take the task, the delivery is answered 200 all the same and
    # the schedule of deliveries_requeue_lost queues it later. A 500 would make WooCommerce send it again, which
    # then finds it stored, and count a failure towards disabling the webhook.
    enqueue_or_log("fulfillment.tasks.apply_delivery", delivery_pk)
    # At most one write a minute on the store's row: a busy shop must not queue on that row lock, nor pay a
    # query per delivery when the store as read for this request already says so.
    if not _heard_within(store, now - timedelta(minutes=1)):
        Store.objects.filter(pk=store.pk).exclude(last_webhook_at__gt=now - timedelta(minutes=1)).update(
            last_webhook_at=now
        )
        store.last_webhook_at = now
    return Receipt(200, "stored", delivery_pk)


def _queue_behind(received_at):
    """Whether a delivery's task is late in a backlog rather than lost: deliveries received after it wait too, and
    none of them has been applied yet (the broker hands tasks out in order).

    Queueing it again then only adds a task per repeat to the backlog (bench/faults/shop_away.py: a burst of
    deliveries sent twice queued as many redundant tasks as deliveries); the watchdog still catches a lost one.
    """
    later = WebhookDelivery.objects.filter(received_at__gt=received_at)
    return (later.filter(state=DeliveryState.RECEIVED).exists()
            and not later.exclude(state=DeliveryState.RECEIVED).exists())


def _heard_within(store, since):
    if "last_webhook_at" in store.get_deferred_fields():
        return False  # not loaded: the UPDATE's own condition decides
    return store.last_webhook_at is not None and store.last_webhook_at > since


def deliveries_requeue_lost(*, now=None, older_than_minutes=None, limit=1000):
    """Queue again the deliveries still not applied long after they were received (their task was lost).

    A task is lost when the broker could not take it, when Redis was flushed, or with the worker that ran it
    (Redis has no receipts). Applying is safe to run twice, so a delivery whose task is only late is no harm.
    The oldest first, at most `limit` a run. Returns the ids queued.
    """
    now = now or timezone.now()
    minutes = settings.WEBHOOK_REQUEUE_MINUTES if older_than_minutes is None else older_than_minutes
    rows = list(
        WebhookDelivery.objects.filter(state=DeliveryState.RECEIVED, received_at__lt=now - timedelta(minutes=minutes))
        .filter(Q(requeue_after__isnull=True) | Q(requeue_after__lte=now))
        .order_by("received_at", "pk").values_list("pk", "requeues")[:limit]
    )
    ids = [pk for pk, _requeues in rows]
    # A delivery not applied may only be late: its task still waits behind a backlog (a burst of webhooks, workers
    # that were down). Queued again in full at every run, a backlog longer than `minutes` grew by up to `limit`
    # copies every 5 minutes and took longer still to apply (bench/faults/workers_die.py). Each copy now waits
    # twice as long as the one before it (at most a day): a lost task is queued again after `minutes`, a late one
    # gets a few copies at most.
    by_requeues = defaultdict(list)
    for pk, requeues in rows:
        by_requeues[requeues].append(pk)
    for requeues, pks in by_requeues.items():
        wait = min(timedelta(minutes=minutes) * 2 ** (requeues + 1), timedelta(days=1))
        WebhookDelivery.objects.filter(pk__in=pks).update(requeues=requeues + 1, requeue_after=now + wait)
    for delivery_id in ids:
        enqueue("fulfillment.tasks.apply_delivery", delivery_id)
    if ids:
        logger.warning("%d webhook deliveries not applied after %g minutes: queued again", len(ids), minutes)
    return ids


def delivery_apply(*, delivery_id):
    """Apply a stored delivery to the mirror; safe to run twice (an applied delivery is left alone).

    The delivery's row is not locked while the order is written, only marked at the end: WooCommerce's repeat of
    it (the web request counting the repeat) and a second task applying it must not wait for the whole upsert and
    its followers. Two tasks applying it at once are serialised by the order's row lock; the second finds the order
    unchanged, and its mark (state still received) matches nothing.
    """
    with transaction.atomic():
        delivery = WebhookDelivery.objects.select_related("store").get(pk=delivery_id)
        if delivery.state != DeliveryState.RECEIVED:
            return delivery
        try:
            with transaction.atomic():
                state, error = _apply(delivery)
        except DataError as exc:
            # The database refuses a value in the order (PostgreSQL: a NUL character, an amount too large):
            # applying it again would fail the same way, so it is kept failed, with the reason, for staff.
            state, error = DeliveryState.FAILED, f"The database refused the order: {exc}".strip()
        delivery.state, delivery.error, delivery.applied_at = state, error, timezone.now()
        marked = WebhookDelivery.objects.filter(pk=delivery.pk, state=DeliveryState.RECEIVED).update(
            state=state, error=error, applied_at=delivery.applied_at, woo_id=delivery.woo_id)
        if not marked:  # another task applied it meanwhile: its mark stands
            delivery.refresh_from_db()
            return delivery
    if error:
        logger.warning("store %s: delivery %s (%s) not applied: %s", delivery.store.slug, delivery.pk,
                       delivery.topic, error)
    return delivery


def _apply(delivery):
    try:
        payload = json.loads(delivery.body)
    except ValueError as exc:
        return DeliveryState.FAILED, f"The body is not JSON ({exc.msg} at character {exc.pos})."
    except RecursionError:
        payload = None
    if payload is None or nested_deeper_than(payload):
        return DeliveryState.FAILED, f"The body nests deeper than {MAX_JSON_DEPTH} levels: not an order."
    if not isinstance(payload, dict) or not isinstance(payload.get("id"), int):
        return DeliveryState.FAILED, "The body is JSON but not an order: it has no numeric id."
    if not 0 < payload["id"] < MAX_WOO_ID:
        # Kept out of woo_id too: the delivery's own row could not be marked with it (PostgreSQL's bigint).
        return DeliveryState.FAILED, f"The body's id {str(payload['id'])[:30]} is no WooCommerce order id."
    if delivery.topic != "order.deleted" and delivery.topic not in ORDER_TOPICS:
        # Not an order id: kept out of woo_id, which finds an order's deliveries.
        return DeliveryState.FAILED, f"Topic {delivery.topic or '(none)'} is not handled: only order topics are."
    delivery.woo_id = payload["id"]
    if delivery.topic == "order.deleted":
        order = order_mark_trashed(store=delivery.store, woo_id=payload["id"], source=EventSource.WEBHOOK)
        if order is None:
            return DeliveryState.APPLIED, "Order not in the mirror: nothing to mark as trashed."
        return DeliveryState.APPLIED, ""
    # A restore can only follow the deletion we hold: it counts as read after it (see mirror._restored_after_trash).
    read_at = timezone.now() if delivery.topic == "order.restored" else None
    result = orders_upsert(store=delivery.store, payloads=[payload], source=EventSource.WEBHOOK, read_at=read_at)
    if result.failed:
        return DeliveryState.FAILED, f"Not an order we can mirror: {result.failed[0][1]}"
    if result.stale:
        return DeliveryState.STALE, ""
    return DeliveryState.APPLIED, ""
