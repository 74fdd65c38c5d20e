"""The reconcile: ask each store for what changed since the last good sync, so no missed webhook stays missed."""

import logging
from dataclasses import dataclass
from datetime import UTC, timedelta

from django.conf import settings
from django.db import DataError
from django.db.models import Max
from django.utils import timezone

from fulfillment.choices import EventSource
from fulfillment.integrations.woocommerce.client import WooClient, WooError
from fulfillment.models import Order, Store
from fulfillment.services.mirror import UpsertResult, orders_upsert

logger = logging.getLogger("fulfillment.reconcile")

# A store that was never synced starts this far back; history before that is the import's job.
FIRST_SYNC_LOOKBACK = timedelta(days=1)


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
    totals = []
    try:
        for page in client.iter_order_pages(params):
            outcome.requests += 1
            totals.append(page.total)
            outcome.result.add(orders_upsert(store=store, payloads=page.items, source=EventSource.RECONCILE))
    except (WooError, DataError) as exc:
        outcome.error = str(exc)
        if isinstance(exc, DataError):
            # An order the database refuses (PostgreSQL: a NUL character, an amount too large) fails this store's
            # sync visibly instead of stopping every store's.
            outcome.error = f"The database refused an order of page {page.number}: {exc}".strip()
        Store.objects.filter(pk=store.pk).update(last_sync_error=outcome.error)
        Store.objects.filter(pk=store.pk, sync_failing_since__isnull=True).update(sync_failing_since=started)
        store.refresh_from_db(fields=["last_sync_error", "sync_failing_since"])
        logger.warning("sync of store %s failed: %s", store.slug, exc)
        return outcome

    fields = {"last_sync_at": timezone.now(), "last_sync_error": "", "sync_failing_since": None}
    # If an order left the window while we paged (trashed), the next ones slid back onto the page already read
    # and were skipped: keep the watermark so that the next run reads the same window again. Orders joining it
    # (changed meanwhile) only push others to a later page and are newer than `started`: they must not hold the
    # watermark back, or a busy shop's window would grow run after run.
    if all(later >= earlier for earlier, later in zip(totals, totals[1:])):
        fields["sync_watermark"] = started
        outcome.watermark_moved = True
    Store.objects.filter(pk=store.pk).update(**fields)
    for name, value in fields.items():
        setattr(store, name, value)
    return outcome


def stores_sync_all():
    """Reconcile every store in turn; one store failing does not stop the others."""
    return [store_sync(store=store) for store in Store.objects.order_by("pk")]
