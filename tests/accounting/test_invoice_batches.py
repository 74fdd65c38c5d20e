"""The follower's task: a batch of orders issued in one transaction, numbered together, written in one insert each."""

from datetime import UTC, datetime
from decimal import Decimal

import pytest
from django.db import connection
from django.test.utils import CaptureQueriesContext

from accounting.choices import DocumentKind, InvoiceCause
from accounting.documents.serial import document_from_json
from accounting.models import Invoice, InvoiceCounter, InvoiceProblem
from accounting.services import invoice_building, invoices as invoice_service
from accounting.services.invoices import INVOICE_META_KEY, invoices_issue_due_batch
from fulfillment.choices import EventSource, EventType, PushKind, RefundState
from fulfillment.models import Order, OrderEvent, Refund, StorePush
from fulfillment.services import outbox
from fulfillment.services.mirror import orders_upsert
from tests.accounting.test_invoices import YEAR, business_order, two_rate_order


@pytest.fixture
def held_back(monkeypatch):
    """The follower's tasks are not run (the test issues), and the dispatches queued are counted."""
    dispatches = []
    monkeypatch.setattr(invoice_service, "enqueue", lambda *args, **kwargs: None)
    monkeypatch.setattr(outbox, "enqueue", lambda func, *args, **kwargs: dispatches.append((func, *args)))
    return dispatches


def waiting(store, payloads):
    orders_upsert(store=store, payloads=payloads, source=EventSource.WEBHOOK)
    return list(Order.objects.filter(store=store, woo_id__in=[p["id"] for p in payloads]).order_by("pk")
                .values_list("pk", flat=True))


def test_a_batch_is_numbered_in_order_and_written_with_a_constant_number_of_queries(invoice_shop, held_back):
    # Given the series' counter of the year made (by a first invoice), and 4 and then 20 orders waiting
    invoices_issue_due_batch(order_ids=waiting(invoice_shop, [two_rate_order(2999)]))
    few = waiting(invoice_shop, [two_rate_order(3000 + i) for i in range(4)])
    many = waiting(invoice_shop, [two_rate_order(3100 + i) for i in range(20)])

    # When each group is issued as one batch
    with CaptureQueriesContext(connection) as of_few:
        invoices_issue_due_batch(order_ids=few)
    held_back.clear()
    with CaptureQueriesContext(connection) as of_many:
        outcomes = invoices_issue_due_batch(order_ids=many)

    # Then twenty orders cost what four do: the orders locked and read, one counter lock and update, one insert each
    # of invoices, events and pushes
    assert len(of_many.captured_queries) == len(of_few.captured_queries) <= 14
    # And the numbers follow the orders, 6..25 after the first five, without a gap
    issued = [outcomes[pk].issued[0] for pk in many]
    assert [invoice.number for invoice in issued] == [f"{YEAR}-{n:06d}" for n in range(6, 26)]
    assert [invoice.pk for invoice in issued] == sorted(invoice.pk for invoice in issued)
    assert InvoiceCounter.objects.get(series__name="Invoices").last == 25
    # And each one is as issued: its document, its event, its meta push for the shop; one dispatch for all of them
    first = Invoice.objects.get(pk=issued[0].pk)
    assert document_from_json(first.document).number == first.number == f"{YEAR}-000006"
    assert first.gross_total == Decimal("41.15")
    assert OrderEvent.objects.filter(type=EventType.INVOICE, order_id__in=many).count() == 20
    assert OrderEvent.objects.get(order_id=many[0], type=EventType.INVOICE).message == (
        f"Invoice {YEAR}-000006 issued: 41.15 EUR")
    pushes = StorePush.objects.filter(order_id__in=many, kind=PushKind.META).order_by("pk")
    assert [p.payload for p in pushes] == [{"meta": {INVOICE_META_KEY: i.number}, "invoice_id": i.pk} for i in issued]
    assert held_back == [("fulfillment.tasks.dispatch_pushes", invoice_shop.pk)]


def test_an_order_that_does_not_add_up_is_left_out_of_its_batch_without_burning_a_number(invoice_shop, held_back):
    ids = waiting(invoice_shop, [two_rate_order(3200), two_rate_order(3201, total="99.00"), two_rate_order(3202)])

    outcomes = invoices_issue_due_batch(order_ids=ids)

    assert [len(outcomes[pk].issued) for pk in ids] == [1, 0, 1]
    assert sorted(Invoice.objects.values_list("sequence", flat=True)) == [1, 2]
    assert InvoiceCounter.objects.get(series__name="Invoices").last == 2
    assert "99.00" in InvoiceProblem.objects.get(order_id=ids[1], key="invoice").reason
    assert "99.00" in outcomes[ids[1]].problems[0]


def test_an_order_the_code_cannot_handle_does_not_hold_back_the_others(invoice_shop, held_back, monkeypatch):
    ids = waiting(invoice_shop, [two_rate_order(3300 + i) for i in range(4)])
    build = invoice_building.invoice_document

    def fails_for_one(order, **kwargs):
        if order.pk == ids[2]:
            raise KeyError("an amount the code does not know")
        return build(order, **kwargs)

    monkeypatch.setattr(invoice_building, "invoice_document", fails_for_one)

    with pytest.raises(KeyError):
        invoices_issue_due_batch(order_ids=ids)

    # Issued one by one after the batch failed: the others have their invoices, numbered without a gap
    assert list(Invoice.objects.order_by("sequence").values_list("order_id", "sequence")) == [
        (ids[0], 1), (ids[1], 2), (ids[3], 3)]


def test_an_order_refunded_before_its_invoice_gets_the_invoice_and_then_its_credit_note(
        invoice_shop, held_back):
    # Given an order on hold refunded in part in WooCommerce (no invoice yet, so no credit note)
    [order_id] = waiting(invoice_shop, [two_rate_order(3400, status="on-hold")])
    Refund.objects.create(order_id=order_id, woo_refund_id=341, amount=Decimal("10.90"), state=RefundState.MIRRORED,
                          created_at=datetime(2026, 11, 5, tzinfo=UTC), lines=[
                              {"line_id": 34002, "kind": "product", "name": "Printed novel", "quantity": 1,
                               "amount": "10.90", "tax": "0.90", "tax_rate_id": 9}])
    waiting(invoice_shop, [two_rate_order(3400, status="processing", date_modified_gmt="2026-11-06T10:00:00")])

    # When its batch is issued
    [other] = waiting(invoice_shop, [two_rate_order(3401)])
    outcomes = invoices_issue_due_batch(order_ids=[order_id, other])

    # Then the invoice, and after it (once numbered) the credit note that corrects it
    invoice, note = Invoice.objects.filter(order_id=order_id).order_by("pk")
    assert [d.pk for d in outcomes[order_id].issued] == [invoice.pk, note.pk]
    assert (invoice.kind, note.kind, note.cause, note.corrects_id) == (
        DocumentKind.INVOICE, DocumentKind.CREDIT_NOTE, InvoiceCause.REFUND, invoice.pk)
    assert document_from_json(note.document).corrects_number == invoice.number == f"{YEAR}-000001"
    assert note.number == f"CN{YEAR}-000001"
    assert OrderEvent.objects.get(order_id=order_id, data__invoice_id=note.pk).message == (
        f"Credit note CN{YEAR}-000001 issued for invoice {YEAR}-000001: 10.90 EUR")
    assert not StorePush.objects.filter(payload__invoice_id=note.pk).exists()  # the shop shows the invoice's number
    assert Invoice.objects.get(order_id=other).number == f"{YEAR}-000002"


def test_an_order_asked_of_vies_is_issued_after_its_answer_with_the_others_first(invoice_shop, vies, held_back):
    ids = waiting(invoice_shop, [two_rate_order(3500), business_order(3501, "BE0403170701"), two_rate_order(3502)])

    outcomes = invoices_issue_due_batch(order_ids=ids)

    assert [len(outcomes[pk].issued) for pk in ids] == [1, 1, 1]
    numbers = dict(Invoice.objects.values_list("order_id", "sequence"))
    assert (numbers[ids[0]], numbers[ids[2]], numbers[ids[1]]) == (1, 2, 3)
    assert Invoice.objects.get(order_id=ids[1]).reverse_charge


def test_a_batch_issues_nothing_twice(invoice_shop, held_back):
    ids = waiting(invoice_shop, [two_rate_order(3600 + i) for i in range(3)])
    invoices_issue_due_batch(order_ids=ids)
    again = invoices_issue_due_batch(order_ids=ids)
    assert all(outcome.issued == [] for outcome in again.values())
    assert Invoice.objects.count() == 3


def test_staff_invoicing_a_refunded_order_by_hand_get_the_invoice_and_its_credit_note(invoice_shop, held_back):
    from accounting.services.invoices import invoice_issue
    from tests.factories import UserFactory

    [order_id] = waiting(invoice_shop, [two_rate_order(3700, status="on-hold")])
    Refund.objects.create(order_id=order_id, woo_refund_id=371, amount=Decimal("5.00"), state=RefundState.MIRRORED,
                          created_at=datetime(2026, 11, 5, tzinfo=UTC), lines=[])
    finance = UserFactory()

    outcome = invoice_issue(order=Order.objects.get(pk=order_id), user=finance)

    invoice, note = outcome.issued
    assert (invoice.cause, note.cause, note.corrects_id, note.gross_total) == (
        InvoiceCause.MANUAL, InvoiceCause.REFUND, invoice.pk, Decimal("5.00"))
    assert {d.created_by for d in Invoice.objects.all()} == {finance}
