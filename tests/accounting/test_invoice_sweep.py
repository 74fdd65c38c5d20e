"""Orders whose issuing task was lost with a killed worker get their documents from the sweep (issue 15)."""

from datetime import timedelta

from django.utils import timezone

from accounting import tasks
from accounting.models import Invoice, InvoiceProblem
from accounting.services import invoice_sweep, invoices as invoice_service
from accounting.services.invoices import invoices_issue_due_batch
from fulfillment.choices import EventSource
from fulfillment.models import Order
from fulfillment.services import outbox
from fulfillment.services.mirror import orders_upsert
from tests.accounting.test_invoices import two_rate_order


def lost_tasks(monkeypatch):
    """Every issuing task the follower queues is lost (its worker was killed); the sweep's are kept."""
    queued = []
    monkeypatch.setattr(invoice_service, "enqueue", lambda *args, **kwargs: None)
    monkeypatch.setattr(outbox, "enqueue", lambda *args, **kwargs: None)
    monkeypatch.setattr(invoice_sweep, "enqueue", lambda func, *args: queued.append((func, *args)))
    return queued


def mirrored(store, woo_ids, *, ago):
    orders_upsert(store=store, payloads=[two_rate_order(woo_id) for woo_id in woo_ids], source=EventSource.WEBHOOK)
    orders = Order.objects.filter(store=store, woo_id__in=woo_ids)
    orders.update(mirrored_at=timezone.now() - ago)
    return sorted(orders.values_list("pk", flat=True))


def test_orders_whose_issuing_task_was_lost_are_queued_again_and_then_issued(invoice_shop, settings, monkeypatch):
    # Given orders matching the invoice rule whose issuing tasks were lost 11 minutes ago, one 2 minutes ago
    settings.INVOICE_LOST_TASK_SECONDS = 600
    queued = lost_tasks(monkeypatch)
    lost = mirrored(invoice_shop, range(7000, 7025), ago=timedelta(minutes=11))
    recent = mirrored(invoice_shop, [7100], ago=timedelta(minutes=2))

    # When the sweep runs
    result = tasks.issue_lost_invoices()

    # Then the lost ones are queued in batches of 20, as the follower does; the recent one is left to its own task
    assert result == "25 orders queued for issuing"
    assert queued == [("accounting.tasks.issue_invoices", lost[:20]), ("accounting.tasks.issue_invoices", lost[20:])]
    assert recent[0] not in lost
    # And once they ran, every lost order has its invoice and the next sweep queues nothing for them
    for _func, order_ids in queued:
        invoices_issue_due_batch(order_ids=order_ids)
    assert Invoice.objects.filter(order_id__in=lost).count() == 25
    queued.clear()
    assert invoice_sweep.invoices_issue_lost() == 0
    assert queued == []


def test_the_sweep_leaves_invoiced_orders_and_those_with_a_known_problem_alone(invoice_shop, settings, monkeypatch):
    # Given an invoiced order, an order whose invoice could not be issued (its reason kept), both old enough
    settings.INVOICE_LOST_TASK_SECONDS = 600
    queued = lost_tasks(monkeypatch)
    invoiced, problem = mirrored(invoice_shop, [7200, 7201], ago=timedelta(minutes=30))
    invoices_issue_due_batch(order_ids=[invoiced])
    InvoiceProblem.objects.create(order_id=problem, key="invoice", reason="The totals differ by 0.01")
    Order.objects.filter(pk__in=[invoiced, problem]).update(mirrored_at=timezone.now() - timedelta(minutes=30))

    # When the sweep runs, then it queues nothing: a problem is tried again at the order's next change
    assert invoice_sweep.invoices_issue_lost() == 0
    assert queued == []
    assert Invoice.objects.filter(order_id=problem).count() == 0


def test_a_cancelled_invoiced_order_whose_credit_note_task_was_lost_is_queued(invoice_shop, settings, monkeypatch):
    # Given an invoiced order cancelled 20 minutes ago, the credit note's task lost
    settings.INVOICE_LOST_TASK_SECONDS = 600
    queued = lost_tasks(monkeypatch)
    (order_id,) = mirrored(invoice_shop, [7300], ago=timedelta(minutes=30))
    invoices_issue_due_batch(order_ids=[order_id])
    Order.objects.filter(pk=order_id).update(status="cancelled", mirrored_at=timezone.now() - timedelta(minutes=20))

    # When the sweep runs, then the order is queued, and its run credits the invoice in full
    assert invoice_sweep.invoices_issue_lost() == 1
    assert queued == [("accounting.tasks.issue_invoices", [order_id])]
    invoices_issue_due_batch(order_ids=[order_id])
    assert Invoice.objects.filter(order_id=order_id, kind="credit_note").count() == 1
    assert invoice_sweep.invoices_issue_lost() == 0
