"""django-q2 entry points: take ids, load, call a service. Each is safe to run twice."""

from django.conf import settings

from fulfillment.followers import followers_retry_due
from fulfillment.models import ImportRun, Store, Supplier
from fulfillment.selectors import status_counts_refresh
from fulfillment.services.countdown import orders_submit_due
from fulfillment.services.imports import ImportRunTaken, import_run_execute, import_runs_watch
from fulfillment.services.maintenance import task_results_prune
from fulfillment.services.provider_tracking import shipments_poll
from fulfillment.services.push_dispatch import pushes_dispatch, stores_with_due_pushes
from fulfillment.services.reconcile import store_sync, stores_sync_queue
from fulfillment.services.refund_lines import refund_lines_fetch_orders
from fulfillment.services.supplier_poll import supplier_refresh
from fulfillment.services.supplier_sync import supplier_sync
from fulfillment.services.submissions import (
    submission_execute,
    submissions_due,
    submissions_execute,
    submissions_requeued,
)
from fulfillment.services.webhooks import deliveries_requeue_lost, delivery_apply
from fulfillment.task_queue import enqueue


def apply_delivery(delivery_id):
    delivery = delivery_apply(delivery_id=delivery_id)
    return f"{delivery.state} {delivery.error}".strip()


def requeue_lost_deliveries():
    return f"{len(deliveries_requeue_lost())} deliveries queued again"


def run_import(run_id):
    run = ImportRun.objects.select_related("store").get(pk=run_id)
    try:
        run = import_run_execute(run=run)
    except ImportRunTaken as exc:
        return str(exc)  # a second delivery of this task, or a watchdog's copy of a late one
    return f"{run.state}: {run.created} created, {run.updated} updated, {run.unchanged} unchanged, {run.failed} failed"


def watch_imports():
    failed, queued = import_runs_watch()
    return f"{len(failed)} stalled imports failed, {len(queued)} queued again"


def sync_store(store_id):
    store = Store.objects.filter(pk=store_id).first()
    if store is None:
        return f"store {store_id} no longer exists"
    outcome = store_sync(store=store)
    return outcome.error or f"{outcome.requests} requests"


def sync_all_stores():
    return f"{len(stores_sync_queue())} store syncs queued"


def dispatch_pushes(store_id=None):
    return pushes_dispatch(store_ids=None if store_id is None else [store_id])


def dispatch_due_pushes():
    store_ids = stores_with_due_pushes()
    return pushes_dispatch(store_ids=store_ids) if store_ids else {}


def fetch_refund_lines(order_ids, source="system"):
    counts = refund_lines_fetch_orders(order_ids=order_ids, source=source)
    return ", ".join(f"{n} {what}" for what, n in counts.items())


def execute_submission(submission_id):
    submission = submission_execute(submission_id=submission_id)
    return f"{submission.state} {submission.failure_reason}".strip()


def execute_submissions(submission_ids):
    """A bulk submit's batch: each submission as execute_submission runs it, ending well within the task timeout."""
    done = submissions_execute(submission_ids=submission_ids, budget_seconds=settings.Q_CLUSTER["timeout"] / 2)
    counts = {}
    for submission in done:
        counts[submission.state] = counts.get(submission.state, 0) + 1
    return ", ".join(f"{n} {state}" for state, n in sorted(counts.items())) or "nothing to run"


def production_tick():
    """Every minute: countdowns that reached zero, submissions due for a retry or left by a dead worker."""
    submitted, refused = orders_submit_due()
    due = submissions_due()
    submissions_requeued(submission_ids=due)
    for submission_id in due:
        enqueue("fulfillment.tasks.execute_submission", submission_id)
    return f"{len(submitted)} submitted by countdown, {len(refused)} refused, {len(due)} submissions run"


def poll_provider_shipments():
    return f"{shipments_poll()} shipments recorded"


def refresh_status_counts():
    return f"{status_counts_refresh()} counts refreshed"


def prune_task_results():
    return f"{task_results_prune()} task results deleted"


def retry_followers():
    """Every few minutes: what followed an order's change and failed (fulfillment.followers, rule RETRY)."""
    succeeded, failed = followers_retry_due()
    return f"{succeeded} follower retries succeeded, {failed} failed again"


def sync_supplier(supplier_id):
    """Queued by the reservations follower after an order changed: align the growing order, place paid orders."""
    return supplier_sync(supplier_id=supplier_id).summary()


def refresh_suppliers():
    """Every 5 minutes: each active supplier's catalogue (when due), growing order, placing and statuses."""
    results = []
    for supplier in Supplier.objects.filter(active=True).select_related("store").order_by("pk"):
        report, changed = supplier_refresh(supplier=supplier)
        results.append(f"{report.summary()}; {changed} statuses changed")
    return " | ".join(results) or "no supplier"
