"""The reconcile: ask each store for what changed since the last good sync, so no missed webhook stays missed."""

import logging
from dataclasses import dataclass
from datetime import UTC, datetime, timedelta

from django.conf import settings
from django.db import DataError
from django.db.models import Max
from django.utils import timezone

from fulfillment.choices import EventSource
from fulfillment.integrations.woocommerce.client import WooClient, WooError
from fulfillment.integrations.woocommerce.paging import OrderPages
from fulfillment.models import Order, Store
from fulfillment.models.stores import MAX_SYNC_FAILURES_KEPT
from fulfillment.task_queue import enqueue
from fulfillment.services.mirror import UpsertResult, orders_upsert

logger = logging.getLogger("fulfillment.reconcile")

# A store that was never synced starts this far back; history before that is the import's job.
FIRST_SYNC_LOOKBACK = timedelta(days=1)
# WooCommerce's default `status=any` leaves out the trash: a missed order.deleted is only seen by asking for it.
STATUS_FILTERS = (None, "trash")


@dataclass
class SyncResult:
    store: Store
    since: object
    requests: int = 0
    result: UpsertResult = None
    error: str = ""
    watermark_moved: bool = False


def store_sync(*, store, client=None, now=None):
    """Mirror every order the store modified since its watermark (minus an overlap); move the watermark on success."""
    started = now or timezone.now()
    overlap = timedelta(seconds=settings.SYNC_OVERLAP_SECONDS)
    base = store.sync_watermark
    if base is None:
        base = Order.objects.filter(store=store).aggregate(m=Max("modified_at"))["m"] or started - FIRST_SYNC_LOOKBACK
    since = base - overlap
    outcome = SyncResult(store=store, since=since, result=UpsertResult())
    client = client or WooClient.for_store(store)
    params = {
        "modified_after": since.astimezone(UTC).strftime("%Y-%m-%dT%H:%M:%S"),
        "dates_are_gmt": "true",
        "orderby": "id",
        "order": "asc",
    }
    window_kept = False
    page = None
    try:
        for status in STATUS_FILTERS:
            counted = []
            # Pages fetched a few at once (the store's setting), written here one by one in page order.
            pages = OrderPages(client, params if status is None else {**params, "status": status},
                               concurrency=store.fetch_concurrency)
            with pages:
                for page in pages:
                    outcome.requests += 1
                    if page.total is not None:
                        counted.append(page)
                    # Every page is asked for after `started`: a live order read here that was marked trashed
                    # before was restored in the shop (see mirror._restored_after_trash).
                    outcome.result.add(orders_upsert(store=store, payloads=page.items,
                                                     source=EventSource.RECONCILE, read_at=started))
            # If an order left the window while we paged (trashed, or restored out of the trash), the next ones
            # slid back onto a page already read and were skipped: keep the watermark so that the next run reads
            # the same window again. Orders joining it (changed meanwhile) only push others to a later page and
            # are newer than `started`: they must not hold the watermark back, or a busy shop's window would grow
            # run after run.
            if _window_shrank(counted):
                window_kept = True
    except (WooError, DataError) as exc:
        outcome.error = str(exc)
        if isinstance(exc, DataError):
            # An order the database refuses (PostgreSQL: a NUL character, an amount too large) fails this store's
            # sync visibly instead of stopping every store's.
            outcome.error = f"The database refused an order of page {page.number if page else 1}: {exc}".strip()
        Store.objects.filter(pk=store.pk).update(last_sync_error=outcome.error,
                                                 last_sync_failures=_failures_kept(store, outcome.result, started))
        Store.objects.filter(pk=store.pk, sync_failing_since__isnull=True).update(sync_failing_since=started)
        store.refresh_from_db(fields=["last_sync_error", "sync_failing_since", "last_sync_failures"])
        logger.warning("sync of store %s failed: %s", store.slug, exc)
        return outcome

    fields = {"last_sync_at": timezone.now(), "last_sync_error": "", "sync_failing_since": None,
              "last_sync_failures": _failures_kept(store, outcome.result, started)}
    if not window_kept:
        fields["sync_watermark"] = started
        outcome.watermark_moved = True
    Store.objects.filter(pk=store.pk).update(**fields)
    for name, value in fields.items():
        setattr(store, name, value)
    return outcome


def _window_shrank(pages):
    """Whether the shop may have counted fewer orders in the window for one page than for another before it.

    Pages are asked for several at once: of two pages whose requests overlapped, either may have been counted
    first, so any difference between them counts as a shrink (the window is read again: safe, and rare).
    """
    return any(a.total > b.total and not b.answered < a.asked for a in pages for b in pages)


def _failures_kept(store, result, started):
    """The orders not mirrored: this sync's failures and the earlier ones no sync, webhook or import has mirrored since.

    The watermark moves past an order that failed, so it is kept here (and shown on the store) until a later
    version is mirrored. A failure without an order id cannot be followed and is kept for this sync only.
    """
    at = started.isoformat()
    now_failed = {woo_id: reason for woo_id, reason in result.failed}
    mirrored = set(result.created) | set(result.updated) | set(result.unchanged) | set(result.stale)
    earlier = [f for f in Store.objects.filter(pk=store.pk).values_list("last_sync_failures", flat=True).first() or []
               if f.get("woo_id") is not None and f["woo_id"] not in now_failed and f["woo_id"] not in mirrored]
    if earlier:
        # Mirrored since by a webhook or an import: every write of the mirror moves mirrored_at.
        written = dict(Order.objects.filter(store=store, woo_id__in=[f["woo_id"] for f in earlier])
                       .values_list("woo_id", "mirrored_at"))
        earlier = [f for f in earlier
                   if f["woo_id"] not in written or written[f["woo_id"]] <= datetime.fromisoformat(f["at"])]
    kept = earlier + [{"woo_id": woo_id, "reason": reason, "at": at} for woo_id, reason in result.failed]
    return kept[-MAX_SYNC_FAILURES_KEPT:]


def stores_sync_queue():
    """Queue one reconcile task per store, so that a slow or unreachable shop holds up no other; returns their ids."""
    store_ids = list(Store.objects.order_by("pk").values_list("pk", flat=True))
    for store_id in store_ids:
        enqueue("fulfillment.tasks.sync_store", store_id)
    return store_ids
