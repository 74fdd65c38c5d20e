"""The orders whose documents a lost task left unissued, queued again.

The invoices follower queues `accounting.tasks.issue_invoices` after an order's change commits. With Redis as the
broker a task taken by a worker that is then killed (an OOM kill, a deploy's SIGKILL, a machine lost) is gone:
Redis keeps no receipt, and django-q2's `retry` applies to the ORM broker only. Nothing else would issue that
order's invoice until the order changes again, which for a completed order may be never. A schedule (every 5
minutes) asks for the orders that should have a document by now and do not, and queues them as the follower does;
issuing is safe to run twice (the order's row is the lock, the constraints are the last guard).
"""

from datetime import timedelta

from django.conf import settings
from django.db.models import Exists, OuterRef, Q
from django.utils import timezone

from accounting.choices import DocumentKind, InvoiceCause
from accounting.models import Invoice, InvoiceProblem, InvoiceRule
from fulfillment.choices import OrderStatus, RefundState
from fulfillment.models import Order, Refund
from fulfillment.task_queue import enqueue

BATCH = 20  # as the follower's tasks
LIMIT = 5000  # orders queued per run at most; the next run takes the rest


def invoices_issue_lost(*, now=None, limit=LIMIT):
    """Queue the issuing of orders that have waited longer than INVOICE_LOST_TASK_SECONDS for a document."""
    now = now or timezone.now()
    cutoff = now - timedelta(seconds=settings.INVOICE_LOST_TASK_SECONDS)
    due = set()
    for store_id, statuses in InvoiceRule.objects.filter(enabled=True).values_list("store_id", "statuses"):
        orders = Order.objects.filter(store_id=store_id, trashed=False, mirrored_at__lt=cutoff)
        ever = Invoice.objects.filter(order=OuterRef("pk"))
        in_force = Invoice.objects.filter(order=OuterRef("pk"), kind=DocumentKind.INVOICE, credited=False)
        # A document that could not be issued keeps its reason as an InvoiceProblem and is tried at the order's
        # next change: the sweep leaves it to that, or it would try it every 5 minutes for ever.
        problem = InvoiceProblem.objects.filter(order=OuterRef("pk"))
        refund_uncredited = Refund.objects.filter(
            order=OuterRef("pk"), state__in=(RefundState.MIRRORED, RefundState.PUSHED), woo_refund_id__isnull=False,
            lines_pending=False, created_at__lt=cutoff).exclude(
            Exists(Invoice.objects.filter(order=OuterRef("order"), cause=InvoiceCause.REFUND,
                                          woo_refund_id=OuterRef("woo_refund_id"))))
        wanted = (Q(status__in=statuses or []) & ~Exists(ever)) | (
            Exists(in_force) & (Q(status=OrderStatus.CANCELLED) | Exists(refund_uncredited)))
        due.update(orders.filter(wanted).exclude(Exists(problem)).order_by("pk")
                   .values_list("pk", flat=True)[:limit - len(due)])
        if len(due) >= limit:
            break
    ordered = sorted(due)
    for start in range(0, len(ordered), BATCH):
        enqueue("accounting.tasks.issue_invoices", ordered[start:start + BATCH])
    return len(ordered)
