"""Read queries of the order desk: the list's status tabs and stores, and the dashboard."""

from datetime import UTC, timedelta

from django.conf import settings
from django.core.cache import cache
from django.db import connection
from django.db.models import Count
from django.db.models.functions import TruncDate
from django.utils import timezone

from fulfillment import extensions
from fulfillment.selectors.pipeline import pipeline_counts, waiting_condition
from fulfillment.selectors.revenue import orders_per_day_annotations, refunds_per_day, revenue_rows
from fulfillment.choices import PushState
from fulfillment.models import Order, Store, StorePush
from fulfillment.models.orders import SUBMISSION_FAILED, WAITING_FOR_SUBMISSION
from fulfillment.task_queue import enqueue

# Seconds: the tabs may lag a minute; a COUNT over a million rows per view may not. The refresh task runs every
# minute, so with a shared cache (Redis) the entries never expire under staff's feet.
STATUS_COUNTS_TTL = 150
# The pipeline's stages the dashboard counts apart (waiting is counted with the failed submissions, in one query).
AFTER_WAITING = ("submitted", "in_production", "shipped")


def _count_statuses(store_id):
    queryset = Order.objects.all()
    if store_id:
        queryset = queryset.filter(store_id=store_id)
    return dict(queryset.values_list("status").annotate(n=Count("id")).order_by())


class EstimatedCounts(dict):
    """Status counts from PostgreSQL's statistics, shown with "≈" until the exact ones are in the cache."""

    estimated = True


def status_counts(store_id=None):
    """{status: count} for the list's tabs, from the cache (kept warm by a task every minute).

    When the cache has none (emptied, no worker for a while) a large table is not counted in the request: the
    tabs show PostgreSQL's estimate and the exact counts are queued. A small one is counted at once.
    """
    key = f"order-status-counts:{store_id or 'all'}"
    counts = cache.get(key)
    if counts is None:
        counts = _estimated_counts(store_id, _planner_statistics())
        if counts is not None:
            cache.set(key, counts, 60)
            _queue_exact_counts()
            return counts
        counts = _count_statuses(store_id)
        cache.set(key, counts, STATUS_COUNTS_TTL)
    return counts


def status_counts_of_stores(store_ids):
    """{store id: {status: count}} of several stores (the dashboard): the list's tab counts, from the same cache.

    Those missing are estimated or counted as status_counts does, with one query for all of them, so the dashboard
    costs the same queries for one store or twenty.
    """
    keys = {f"order-status-counts:{pk}": pk for pk in store_ids}
    counts = {keys[key]: value for key, value in cache.get_many(list(keys)).items()}
    missing = [pk for pk in store_ids if pk not in counts]
    if not missing:
        return counts
    statistics = _planner_statistics()
    estimated = {pk: _estimated_counts(pk, statistics) for pk in missing}
    estimated = {pk: value for pk, value in estimated.items() if value is not None}
    if estimated:
        cache.set_many({f"order-status-counts:{pk}": value for pk, value in estimated.items()}, 60)
        _queue_exact_counts()
    counted = {pk: {} for pk in missing if pk not in estimated}
    if counted:
        for store_id, status, n in (Order.objects.filter(store_id__in=list(counted)).values_list("store_id", "status")
                                    .annotate(n=Count("id")).order_by()):
            counted[store_id][status] = n
        cache.set_many({f"order-status-counts:{pk}": value for pk, value in counted.items()}, STATUS_COUNTS_TTL)
    return {**counts, **estimated, **counted}


def _queue_exact_counts():
    if cache.add("order-status-counts:queued", True, 60):
        enqueue("fulfillment.tasks.refresh_status_counts")


def _planner_statistics():
    """(rows in the table, {"status"|"store_id": {value: frequency}}) from PostgreSQL's statistics (pg_class.reltuples,
    pg_stats' most common values), for a table of at least STATUS_COUNTS_ESTIMATE_FROM rows; None elsewhere."""
    if connection.vendor != "postgresql":
        return None
    table = Order._meta.db_table
    with connection.cursor() as cursor:
        cursor.execute(
            "SELECT c.reltuples, s.attname, s.most_common_vals::text::text[], s.most_common_freqs "
            "FROM pg_class c LEFT JOIN pg_stats s ON s.schemaname = current_schema() AND s.tablename = c.relname "
            "AND s.attname IN ('status', 'store_id') WHERE c.oid = %s::regclass",
            [table],
        )
        rows = cursor.fetchall()
    total = rows[0][0] if rows else -1
    stats = {attname: dict(zip(values or [], freqs or [])) for _, attname, values, freqs in rows if attname}
    if total < settings.STATUS_COUNTS_ESTIMATE_FROM or not stats.get("status"):
        return None  # small, or never analysed: count it
    return total, stats


def _estimated_counts(store_id, statistics):
    """Counts per status estimated from _planner_statistics, or None: a store's share is its own frequency."""
    if statistics is None:
        return None
    total, stats = statistics
    share = 1.0
    if store_id:
        share = stats.get("store_id", {}).get(str(store_id))
        if share is None:
            return None  # a store too small to be among the most common values: counting it is cheap
    return EstimatedCounts({status: max(1, round(total * share * freq)) for status, freq in stats["status"].items()})


def status_counts_refresh():
    """Recount the tabs of every store and of all stores, so that no staff request pays for a count."""
    store_ids = [None, *Store.objects.values_list("pk", flat=True)]
    for store_id in store_ids:
        cache.set(f"order-status-counts:{store_id or 'all'}", _count_statuses(store_id), STATUS_COUNTS_TTL)
    return len(store_ids)


def dashboard(now=None, days=30):
    """Per store: orders per status, the production pipeline (waiting, submitted, in production, shipped) and failed
    submissions, failing pushes, orders per day, revenue per currency (in all and per day, less refunds), and the
    figures other apps register (fulfillment.extensions), such as exports to do.

    Numbers only, the same in every language (the template tag caches them once and adds the words), and no GROUP
    BY over the whole table: the statuses are the list's tab counts (kept in the cache by a task), each stage of the
    pipeline is read from its own index (fulfillment.selectors.pipeline), the orders per day and their revenue from
    the created index over the last `days` days. The same number of queries for one store or twenty.
    """
    now = now or timezone.now()
    since = (now - timedelta(days=days - 1)).replace(hour=0, minute=0, second=0, microsecond=0)
    stores = list(Store.objects.order_by("name"))
    by_status = status_counts_of_stores([store.pk for store in stores])
    flags = {row["store_id"]: row for row in submission_flags()}
    stages = pipeline_counts(AFTER_WAITING, today=now.date())
    pushes = dict(
        StorePush.objects.filter(state__in=[PushState.FAILED, PushState.RETRYING])
        .values_list("store_id").annotate(n=Count("id")).order_by()
    )
    per_day, paid_per_day = {}, {}
    for store_id, day, currency, n, paid_orders, gross in (
        Order.objects.filter(created_at__gte=since)
        .annotate(day=TruncDate("created_at", tzinfo=UTC))
        .values_list("store_id", "day", "currency")
        .annotate(n=Count("id"), **orders_per_day_annotations()).order_by()
    ):
        per_day.setdefault(store_id, {})[day] = per_day.get(store_id, {}).get(day, 0) + n
        if paid_orders:
            paid_per_day[(store_id, currency, day)] = (paid_orders, gross)
    days_list = [(since + timedelta(days=i)).date() for i in range(days)]
    money = revenue_rows(paid_per_day, refunds_per_day(since, UTC), days_list)
    # What other apps count per store (accounting's open exports...): one call each for every store.
    extra = {figures.name: figures.numbers(stores) for figures in extensions.dashboard_figures()}
    return [
        {
            "store": store,
            "by_status": sorted(by_status.get(store.pk, {}).items(), key=lambda kv: -kv[1]),
            "statuses_estimated": getattr(by_status.get(store.pk), "estimated", False),
            "pipeline": {"waiting": flags.get(store.pk, {}).get("waiting", 0),
                         **stages.get(store.pk, dict.fromkeys(AFTER_WAITING, 0))},
            "failed_submissions": flags.get(store.pk, {}).get("failed", 0),
            "failing_pushes": pushes.get(store.pk, 0),
            "per_day": [(day, per_day.get(store.pk, {}).get(day, 0)) for day in days_list],
            "revenue": money.get(store.pk, {}).get("currencies", []),
            "revenue_per_day": money.get(store.pk, {}).get("per_day", {}),
            "extra": {name: numbers[store.pk] for name, numbers in extra.items() if store.pk in numbers},
        }
        for store in stores
    ]


def submission_flags():
    """[{"store_id", "waiting", "failed"}]: orders waiting for their first submission (the pipeline's "waiting") and
    failed ones, per store."""
    # The WHERE lets PostgreSQL read only those orders, as a BitmapOr of order_waiting_submission_idx (partial) and
    # order_submit_created_idx; the FILTERs then count each kind (a waiting order's NOT EXISTS of a live submission
    # is one probe of submission_one_live_per_order_provider).
    return Order.objects.filter(WAITING_FOR_SUBMISSION | SUBMISSION_FAILED).values("store_id").annotate(
        waiting=Count("id", filter=waiting_condition()), failed=Count("id", filter=SUBMISSION_FAILED),
    ).order_by()


def store_list():
    """[(id, name, timezone)] of the stores, cached a minute: the order list's store filter, store column and
    times all need it."""
    stores = cache.get("store-list")
    if stores is None:
        stores = list(Store.objects.order_by("name", "pk").values_list("pk", "name", "timezone"))
        cache.set("store-list", stores, 60)
    return stores


def store_choices():
    """[(id, name)] of the stores, for the order list's store filter."""
    return [(pk, name) for pk, name, _zone in store_list()]


def store_count():
    return len(store_list())


def list_timezone(store_id=None):
    """The zone the order list shows and filters its times in: the store's when the list holds one store's orders
    (filtered by store, or there is only one), else UTC: several shops' local times side by side would not sort."""
    stores = store_list()
    if len(stores) == 1:
        return stores[0][2]
    return next((zone for pk, _name, zone in stores if str(pk) == str(store_id or "")), "UTC")


