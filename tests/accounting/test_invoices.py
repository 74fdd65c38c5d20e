"""Invoices and credit notes: issued from every path that changes an order, numbered without a gap, never changed."""

from datetime import UTC, date, datetime
from decimal import Decimal

import pytest
from django.db import transaction

from accounting.choices import DocumentKind, InvoiceCause
from accounting.documents import check
from accounting.documents.serial import document_from_json
from accounting.documents.ubl import to_ubl
from accounting.documents.validation import validate_ubl
from accounting.models import Invoice, InvoiceCounter, InvoiceProblem, InvoiceRule, InvoiceSeries
from accounting.services.invoices import (
    INVOICE_META_KEY,
    InvoiceError,
    invoice_correct,
    invoice_issue,
    invoices_issue_due,
    take_number,
)
from fulfillment.choices import EventSource, EventType, PushKind, RefundState
from fulfillment.followers import Changed, OrderChange, orders_changed
from fulfillment.models import Order, OrderEvent, Refund, StorePush
from fulfillment.services.mirror import orders_upsert
from fulfillment.services.orders import order_change_status
from tests.factories import UserFactory
from tests.woo_payloads import line_item, order_payload

YEAR = datetime.now(UTC).year


def mirror(store, *payloads, capture):
    with capture(execute=True):
        orders_upsert(store=store, payloads=list(payloads), source=EventSource.WEBHOOK)
    return [Order.objects.get(store=store, woo_id=p["id"]) for p in payloads]


def documents(order):
    return list(Invoice.objects.filter(order=order).order_by("pk"))


def two_rate_order(woo_id, status="processing", **extra):
    """A Dutch order: a 21 % photo book, a 9 % printed book, shipping at 21 %: 24.20 + 10.90 + 6.05 = 41.15."""
    payload = order_payload(woo_id, status=status, country="NL", city="Utrecht", line_items=[
        {**line_item(woo_id * 10 + 1, name="Photo book A4", total="20.00", total_tax="4.20", sku="BOOK-A4"),
         "taxes": [{"id": 21, "total": "4.2", "subtotal": "4.2"}]},
        {**line_item(woo_id * 10 + 2, name="Printed novel", total="10.00", total_tax="0.90", sku="NOVEL"),
         "taxes": [{"id": 9, "total": "0.9", "subtotal": "0.9"}]},
    ])
    payload["tax_lines"] = [
        {"id": 1, "rate_code": "NL-BTW-1", "rate_id": 21, "label": "BTW", "compound": False, "tax_total": "4.20",
         "shipping_tax_total": "1.05", "rate_percent": 21, "meta_data": []},
        {"id": 2, "rate_code": "NL-BTW LAAG-2", "rate_id": 9, "label": "BTW laag", "compound": False,
         "tax_total": "0.90", "shipping_tax_total": "0.00", "rate_percent": 9, "meta_data": []},
    ]
    payload["shipping_lines"] = [{"id": woo_id * 10 + 9, "method_title": "PostNL", "method_id": "flat_rate",
                                  "total": "5.00", "total_tax": "1.05",
                                  "taxes": [{"id": 21, "total": "1.05", "subtotal": ""}], "meta_data": []}]
    payload.update(total="41.15", total_tax="6.15", shipping_total="5.00", shipping_tax="1.05", cart_tax="5.10")
    payload.update(extra)
    return payload


# -- issuing ---------------------------------------------------------------------------------------------------

def test_an_order_reaching_an_invoicing_status_gets_one_invoice_with_the_shops_amounts(
        invoice_shop, django_capture_on_commit_callbacks):
    # Given an order that arrives on hold (not an invoicing status)
    [order] = mirror(invoice_shop, two_rate_order(301, status="on-hold"), capture=django_capture_on_commit_callbacks)
    assert documents(order) == []

    # When it is paid, and later completed
    with django_capture_on_commit_callbacks(execute=True):
        with transaction.atomic():
            order_change_status(order=order, status="processing", user=UserFactory(is_superuser=True))
    mirror(invoice_shop, two_rate_order(301, status="completed"), capture=django_capture_on_commit_callbacks)

    # Then it has one invoice, numbered first in the series, whose totals are the order's to the cent
    [invoice] = documents(order)
    assert (invoice.number, invoice.kind, invoice.cause) == (f"{YEAR}-000001", DocumentKind.INVOICE,
                                                            InvoiceCause.ORDER)
    assert (invoice.net_total, invoice.vat_total, invoice.gross_total) == (
        Decimal("35.00"), Decimal("6.15"), Decimal("41.15"))
    document = document_from_json(invoice.document)
    assert [(line.description, line.kind, line.vat_category, line.vat_rate, line.net_amount, line.vat_amount)
            for line in document.lines] == [
        ("Photo book A4", "item", "S", Decimal("21"), Decimal("20.00"), Decimal("4.20")),
        ("Printed novel", "item", "S", Decimal("9"), Decimal("10.00"), Decimal("0.90")),
        ("PostNL", "shipping", "S", Decimal("21"), Decimal("5.00"), Decimal("1.05")),
    ]
    assert [(s.rate, s.taxable_amount, s.vat_amount) for s in document.vat_subtotals] == [
        (Decimal("21"), Decimal("25.00"), Decimal("5.25")), (Decimal("9"), Decimal("10.00"), Decimal("0.90"))]
    assert (document.seller.vat_id, document.buyer.name, document.buyer.country) == (
        "NL854091798B01", "Ben Schmidt", "NL")
    assert check(document) == [] and validate_ubl(to_ubl(document)) == []
    # And the number goes to the shop's order through the outbox, and is on the timeline
    push = StorePush.objects.get(order=order, kind=PushKind.META)
    assert push.payload["meta"] == {INVOICE_META_KEY: invoice.number}
    assert OrderEvent.objects.filter(order=order, type=EventType.INVOICE,
                                     message__contains=f"Invoice {invoice.number} issued").count() == 1


def test_orders_are_numbered_one_after_the_other_per_series(invoice_shop, django_capture_on_commit_callbacks):
    orders = mirror(invoice_shop, *[two_rate_order(400 + i, status="processing") for i in range(5)],
                    capture=django_capture_on_commit_callbacks)

    numbers = [documents(order)[0].number for order in orders]
    assert sorted(numbers) == [f"{YEAR}-{n:06d}" for n in range(1, 6)]
    assert InvoiceCounter.objects.get(series__name="Invoices").last == 5


def test_an_invoice_that_does_not_add_up_is_not_issued_and_burns_no_number(
        invoice_shop, django_capture_on_commit_callbacks):
    # Given an order whose total holds 1.00 the lines do not (a fee WooCommerce left out of its lines)
    broken = two_rate_order(501, status="processing", total="42.15")
    [order] = mirror(invoice_shop, broken, capture=django_capture_on_commit_callbacks)

    # Then no invoice: the reason is kept for staff and written once on the timeline
    assert documents(order) == []
    problem = InvoiceProblem.objects.get(order=order, key="invoice")
    assert "41.15" in problem.reason and "42.15" in problem.reason
    mirror(invoice_shop, {**broken, "date_modified_gmt": "2026-11-02T10:00:00"},
           capture=django_capture_on_commit_callbacks)
    assert OrderEvent.objects.filter(order=order, type=EventType.INVOICE).count() == 1

    # When another order is invoiced it takes the first number; when the order is fixed in the shop, the next
    [other] = mirror(invoice_shop, two_rate_order(502, status="processing"),
                     capture=django_capture_on_commit_callbacks)
    mirror(invoice_shop, two_rate_order(501, status="processing", date_modified_gmt="2026-11-03T10:00:00"),
           capture=django_capture_on_commit_callbacks)
    assert documents(other)[0].number == f"{YEAR}-000001"
    assert documents(order)[0].number == f"{YEAR}-000002"
    assert not InvoiceProblem.objects.filter(order=order).exists()


def test_a_rolled_back_issue_gives_its_number_back(invoice_shop):
    series = InvoiceSeries.objects.get(name="Invoices")
    with pytest.raises(RuntimeError):
        with transaction.atomic():
            assert take_number(series, date(2026, 5, 1))[2] == "2026-000001"
            raise RuntimeError("the PDF could not be made")
    with transaction.atomic():
        assert take_number(series, date(2026, 5, 1))[2] == "2026-000001"


def test_a_counter_restored_behind_never_hands_out_a_number_that_exists(
        invoice_shop, django_capture_on_commit_callbacks):
    mirror(invoice_shop, *[two_rate_order(600 + i, status="processing") for i in range(3)],
           capture=django_capture_on_commit_callbacks)
    # A restore of an older backup of the counters
    InvoiceCounter.objects.filter(series__name="Invoices").update(last=1)

    [order] = mirror(invoice_shop, two_rate_order(610, status="processing"),
                     capture=django_capture_on_commit_callbacks)
    assert documents(order)[0].number == f"{YEAR}-000004"


def test_a_yearly_series_starts_again_and_a_running_one_does_not(invoice_shop):
    yearly = InvoiceSeries.objects.get(name="Invoices")
    running = InvoiceSeries.objects.create(store=invoice_shop, name="Running", prefix="F", digits=5,
                                           yearly_reset=False)
    with transaction.atomic():
        taken = [take_number(yearly, date(2026, 12, 31)), take_number(yearly, date(2027, 1, 1)),
                 take_number(running, date(2026, 12, 31)), take_number(running, date(2027, 1, 1))]
    assert [number for _year, _sequence, number in taken] == ["2026-000001", "2027-000001", "F00001", "F00002"]


def test_a_series_that_starts_again_yearly_needs_the_year_in_its_prefix(invoice_shop):
    from django.core.exceptions import ValidationError

    with pytest.raises(ValidationError) as refused:
        InvoiceSeries(store=invoice_shop, name="Plain", prefix="INV", yearly_reset=True).clean()
    assert "{year}" in str(refused.value)


def test_missing_seller_details_are_named_and_nothing_is_issued(invoice_shop, django_capture_on_commit_callbacks):
    InvoiceRule.objects.filter(store=invoice_shop).update(seller_vat_id="")
    [order] = mirror(invoice_shop, two_rate_order(700, status="processing"),
                     capture=django_capture_on_commit_callbacks)
    assert documents(order) == []
    assert "VAT number missing" in InvoiceProblem.objects.get(order=order).reason
    assert not InvoiceCounter.objects.filter(last__gt=0).exists()


# -- by hand -----------------------------------------------------------------------------------------------------

def test_staff_issue_an_invoice_by_hand_once(invoice_shop, django_capture_on_commit_callbacks):
    [order] = mirror(invoice_shop, two_rate_order(800, status="on-hold"), capture=django_capture_on_commit_callbacks)
    finance = UserFactory()

    outcome = invoice_issue(order=order, user=finance)

    [invoice] = outcome.issued
    assert (invoice.cause, invoice.created_by) == (InvoiceCause.MANUAL, finance)
    with pytest.raises(InvoiceError, match=f"already has invoice {invoice.number}"):
        invoice_issue(order=order, user=finance)
    assert len(documents(order)) == 1


def test_a_correction_is_a_full_credit_note_and_a_new_invoice(invoice_shop, django_capture_on_commit_callbacks):
    [order] = mirror(invoice_shop, two_rate_order(810, status="processing"),
                     capture=django_capture_on_commit_callbacks)
    [first] = documents(order)

    credit, new = invoice_correct(invoice=first, user=UserFactory())

    first.refresh_from_db()
    assert first.credited and first.document == Invoice.objects.get(pk=first.pk).document
    assert (credit.kind, credit.cause, credit.corrects, credit.number) == (
        DocumentKind.CREDIT_NOTE, InvoiceCause.CORRECTION, first, f"CN{YEAR}-000001")
    assert credit.gross_total == first.gross_total
    assert (new.kind, new.number, new.credited) == (DocumentKind.INVOICE, f"{YEAR}-000002", False)
    credit_document = document_from_json(credit.document)
    assert credit_document.corrects_number == first.number and check(credit_document) == []
    assert validate_ubl(to_ubl(credit_document)) == []
    with pytest.raises(InvoiceError, match="credited in full"):
        invoice_correct(invoice=first, user=None)


# -- credit notes -------------------------------------------------------------------------------------------------

def _refund(order, woo_refund_id, amount, lines=(), state=RefundState.MIRRORED, reason=""):
    refund = Refund.objects.create(order=order, woo_refund_id=woo_refund_id, amount=Decimal(amount), state=state,
                                   created_at=datetime(2026, 11, 5, tzinfo=UTC), lines=list(lines), reason=reason)
    with transaction.atomic():
        orders_changed([OrderChange(order.pk, frozenset({Changed.REFUND}), order.status, order.status,
                                    (refund.pk,))], source=EventSource.WEBHOOK)
    return refund


def test_a_refund_of_a_line_gets_a_credit_note_with_its_vat(invoice_shop, django_capture_on_commit_callbacks):
    [order] = mirror(invoice_shop, two_rate_order(900, status="processing"),
                     capture=django_capture_on_commit_callbacks)
    [invoice] = documents(order)

    with django_capture_on_commit_callbacks(execute=True):
        _refund(order, 91, "10.90", lines=[{"line_id": 9002, "kind": "product", "name": "Printed novel",
                                            "quantity": 1, "amount": "10.90", "tax": "0.90", "tax_rate_id": 9}])

    [_, note] = documents(order)
    document = document_from_json(note.document)
    assert (note.kind, note.cause, note.corrects, note.woo_refund_id, note.number) == (
        DocumentKind.CREDIT_NOTE, InvoiceCause.REFUND, invoice, 91, f"CN{YEAR}-000001")
    assert [(line.description, line.vat_rate, line.net_amount, line.vat_amount) for line in document.lines] == [
        ("Printed novel", Decimal("9"), Decimal("10.00"), Decimal("0.90"))]
    assert validate_ubl(to_ubl(document)) == []
    invoice.refresh_from_db()
    assert not invoice.credited

    # The same refund seen again (a webhook delivered twice) credits nothing more
    with django_capture_on_commit_callbacks(execute=True):
        with transaction.atomic():
            orders_changed([OrderChange(order.pk, frozenset({Changed.REFUND}), "processing", "processing", ())],
                           source=EventSource.WEBHOOK)
    assert len(documents(order)) == 2


def test_a_refund_typed_as_one_amount_is_spread_over_the_invoices_vat_rates(
        invoice_shop, django_capture_on_commit_callbacks):
    [order] = mirror(invoice_shop, two_rate_order(910, status="processing"),
                     capture=django_capture_on_commit_callbacks)

    with django_capture_on_commit_callbacks(execute=True):
        _refund(order, 92, "20.00", reason="late delivery")

    note = documents(order)[1]
    document = document_from_json(note.document)
    assert note.gross_total == Decimal("20.00")
    assert [(line.vat_rate, line.net_amount + line.vat_amount) for line in document.lines] == [
        (Decimal("21"), Decimal("14.70")), (Decimal("9"), Decimal("5.30"))]
    assert all("late delivery" in line.description for line in document.lines)
    assert check(document) == []


def test_refunds_wait_for_woocommerce_and_for_their_lines(invoice_shop, django_capture_on_commit_callbacks):
    [order] = mirror(invoice_shop, two_rate_order(920, status="processing"),
                     capture=django_capture_on_commit_callbacks)
    with django_capture_on_commit_callbacks(execute=True):
        # Ours, not yet confirmed by WooCommerce (it may refuse it): no credit note
        _refund(order, None, "5.00", state=RefundState.PENDING)
        # One made in WooCommerce whose lines are still being fetched: it waits, and says so
        waiting = _refund(order, 93, "10.90")
        Refund.objects.filter(pk=waiting.pk).update(lines_pending=True)
        invoices_issue_due(order_id=order.pk)
    assert len(documents(order)) == 1
    assert "Waiting for the lines" in InvoiceProblem.objects.get(order=order, key="refund:93").reason

    Refund.objects.filter(pk=waiting.pk).update(lines_pending=False)
    invoices_issue_due(order_id=order.pk)
    assert [d.woo_refund_id for d in documents(order)] == [None, 93]
    assert not InvoiceProblem.objects.filter(order=order).exists()


def test_a_cancelled_order_gets_a_credit_note_for_what_is_left(invoice_shop, django_capture_on_commit_callbacks):
    [order] = mirror(invoice_shop, two_rate_order(930, status="processing"),
                     capture=django_capture_on_commit_callbacks)
    with django_capture_on_commit_callbacks(execute=True):
        _refund(order, 94, "10.90", lines=[{"line_id": 9302, "kind": "product", "name": "Printed novel",
                                            "quantity": 1, "amount": "10.90", "tax": "0.90", "tax_rate_id": 9}])

    mirror(invoice_shop, two_rate_order(930, status="cancelled", date_modified_gmt="2026-11-09T10:00:00"),
           capture=django_capture_on_commit_callbacks)

    invoice, by_refund, by_cancel = documents(order)
    assert by_cancel.cause == InvoiceCause.CANCEL and by_cancel.corrects == invoice
    assert by_refund.gross_total + by_cancel.gross_total == invoice.gross_total
    assert by_cancel.vat_total == Decimal("5.25")  # the 21 % part: the 9 % line was refunded already
    invoice.refresh_from_db()
    assert invoice.credited
    # Mirrored again, cancelled stays credited once
    mirror(invoice_shop, two_rate_order(930, status="cancelled", date_modified_gmt="2026-11-10T10:00:00"),
           capture=django_capture_on_commit_callbacks)
    assert len(documents(order)) == 3


def test_an_amount_refund_after_a_line_refund_credits_only_what_each_rate_still_holds(
        invoice_shop, django_capture_on_commit_callbacks):
    # Given the 9 % line refunded in full (10.90), then 5.00 refunded as one amount, then the order cancelled
    [order] = mirror(invoice_shop, two_rate_order(935, status="processing"),
                     capture=django_capture_on_commit_callbacks)
    with django_capture_on_commit_callbacks(execute=True):
        _refund(order, 95, "10.90", lines=[{"line_id": 9352, "kind": "product", "name": "Printed novel",
                                            "quantity": 1, "amount": "10.90", "tax": "0.90", "tax_rate_id": 9}])
        _refund(order, 96, "5.00", reason="goodwill")
    mirror(invoice_shop, two_rate_order(935, status="cancelled", date_modified_gmt="2026-11-09T10:00:00"),
           capture=django_capture_on_commit_callbacks)

    # Then the 5.00 is all at 21 % (nothing is left at 9 %), and the three credit notes add up to the invoice
    invoice, by_line, by_amount, by_cancel = documents(order)
    assert [(line.vat_rate, line.net_amount + line.vat_amount)
            for line in document_from_json(by_amount.document).lines] == [(Decimal("21"), Decimal("5.00"))]
    assert by_line.gross_total + by_amount.gross_total + by_cancel.gross_total == invoice.gross_total
    for rate in (Decimal("21"), Decimal("9")):
        invoiced = sum(g.taxable_amount + g.vat_amount
                       for g in document_from_json(invoice.document).vat_subtotals if g.rate == rate)
        credited = sum(g.taxable_amount + g.vat_amount for note in (by_line, by_amount, by_cancel)
                       for g in document_from_json(note.document).vat_subtotals if g.rate == rate)
        assert credited == invoiced


def test_a_refund_typed_without_its_vat_is_split_at_the_lines_rate(invoice_shop, django_capture_on_commit_callbacks):
    # The captured refund of the real shop: 28.50 back on a 20 % line, with a tax of 0.00 typed
    [order] = mirror(invoice_shop, order_payload(940, status="processing"), capture=django_capture_on_commit_callbacks)
    with django_capture_on_commit_callbacks(execute=True):
        _refund(order, 41, "28.50", lines=[{"line_id": 9401, "kind": "product", "name": "Demo product DEMO-001",
                                            "quantity": 3, "amount": "28.50", "tax": "0.00", "tax_rate_id": None}])
    note = documents(order)[1]
    [line] = document_from_json(note.document).lines
    assert (line.vat_rate, line.net_amount, line.vat_amount, line.quantity) == (
        Decimal("20"), Decimal("23.75"), Decimal("4.75"), Decimal("3"))


# -- reverse charge ---------------------------------------------------------------------------------------------

def business_order(woo_id, vat_id):
    payload = order_payload(woo_id, status="processing", country="BE", city="Gent", line_items=[
        {**line_item(woo_id * 10 + 1, name="Canvas 40x60", total="50.00", total_tax="0.00", sku="CANVAS"),
         "taxes": []}])
    payload["billing"]["company"] = "NV Atelier Gent"
    payload.update(total="50.00", total_tax="0.00", shipping_total="0.00", shipping_tax="0.00", cart_tax="0.00",
                   tax_lines=[], shipping_lines=[],
                   meta_data=[{"id": 1, "key": "_billing_vat_number", "value": vat_id}])
    return payload


def test_a_business_with_a_valid_vat_number_in_another_member_state_is_reverse_charged(
        invoice_shop, vies, django_capture_on_commit_callbacks):
    [order] = mirror(invoice_shop, business_order(950, "BE 0403.170.701"), capture=django_capture_on_commit_callbacks)

    [invoice] = documents(order)
    document = document_from_json(invoice.document)
    assert (invoice.reverse_charge, invoice.buyer_vat_id, invoice.vat_total) == (True, "BE0403170701", Decimal("0"))
    assert [(line.vat_category, line.vat_rate) for line in document.lines] == [("AE", Decimal("0"))]
    assert document.buyer.company == "NV Atelier Gent"
    assert validate_ubl(to_ubl(document)) == []


def test_no_vat_charged_to_an_invalid_vat_number_is_not_invoiced(invoice_shop, vies,
                                                                  django_capture_on_commit_callbacks):
    [order] = mirror(invoice_shop, business_order(960, "BE0999999999"), capture=django_capture_on_commit_callbacks)

    assert documents(order) == []
    assert "not valid" in InvoiceProblem.objects.get(order=order).reason


# -- the command ------------------------------------------------------------------------------------------------

def test_the_command_issues_what_is_due_and_names_what_is_not(invoice_shop, monkeypatch,
                                                              django_capture_on_commit_callbacks):
    from io import StringIO

    from django.core.management import call_command

    from accounting.services import invoices as invoice_service

    # Given orders mirrored while no worker issued their invoices, one of them not adding up
    monkeypatch.setattr(invoice_service, "enqueue", lambda *args, **kwargs: None)
    mirror(invoice_shop, two_rate_order(1201), two_rate_order(1202, total="50.00"),
           two_rate_order(1203, status="on-hold"), capture=django_capture_on_commit_callbacks)
    out, err = StringIO(), StringIO()

    call_command("issue_invoices", "--store", "inv", stdout=out, stderr=err)

    assert f"{YEAR}-000001" in out.getvalue() and out.getvalue().endswith("issued: 1, not issued: 1\n")
    assert "50.00" in err.getvalue()
    assert Invoice.objects.count() == 1
