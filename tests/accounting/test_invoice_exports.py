"""Issued documents exported to the accounting system — files or a local Moneybird over HTTP — once, and checked back."""

from datetime import timedelta
from decimal import Decimal

import pytest

import accounting.invoice_connectors as invoice_connectors
from accounting import connectors
from accounting.choices import Connector, ExportState
from accounting.documents.validation import validate_ubl
from accounting.models import ExportRule, Invoice
from accounting.services.invoice_exports import invoice_export, invoices_check_back, invoices_export_due
from fulfillment.choices import EventType
from fulfillment.models import OrderEvent
from tests.accounting.test_invoices import mirror, two_rate_order
from tests.fakes.moneybird import FakeMoneybird

TOKEN_ENV = "MONEYBIRD_TEST_TOKEN"


@pytest.fixture
def moneybird(monkeypatch):
    server = FakeMoneybird().start()
    monkeypatch.setenv(TOKEN_ENV, server.token)
    yield server
    server.stop()


@pytest.fixture
def to_moneybird(invoice_shop, moneybird):
    ExportRule.objects.create(store=invoice_shop, connector=Connector.MONEYBIRD, moneybird_url=moneybird.base_url,
                              moneybird_administration=moneybird.administration_id, moneybird_token_env=TOKEN_ENV)
    return invoice_shop


@pytest.fixture
def to_files(invoice_shop):
    return ExportRule.objects.create(store=invoice_shop, connector=Connector.FILE)


def issued(store, woo_id, capture, **extra):
    [order] = mirror(store, two_rate_order(woo_id, **extra), capture=capture)
    return Invoice.objects.get(order=order)


def test_an_issued_invoice_is_written_as_ubl_and_pdf_and_checked_back(to_files, export_dir,
                                                                       django_capture_on_commit_callbacks):
    invoice = issued(to_files.store, 301, django_capture_on_commit_callbacks)

    invoice.refresh_from_db()
    folder = export_dir / "inv" / "invoices"
    assert (invoice.export_state, invoice.external_id) == (ExportState.EXPORTED, f"invoices/{invoice.number}.xml")
    assert validate_ubl((folder / f"{invoice.number}.xml").read_bytes()) == []
    assert (folder / f"{invoice.number}.pdf").read_bytes().startswith(b"%PDF")
    assert invoices_check_back() == {"checked": 1, "differ": 0, "unchecked": 0}

    (folder / f"{invoice.number}.xml").unlink()
    invoices_check_back(now=invoice.exported_at + timedelta(days=8))
    invoice.refresh_from_db()
    assert "no longer in the export directory" in invoice.check_error


def test_moneybird_books_each_document_once_with_its_pdf(to_moneybird, moneybird, django_capture_on_commit_callbacks):
    # When an order is invoiced, the export task books the invoice in Moneybird
    invoice = issued(to_moneybird, 401, django_capture_on_commit_callbacks)

    invoice.refresh_from_db()
    booked = moneybird.invoice(invoice.number)
    assert (invoice.export_state, invoice.external_id) == (ExportState.EXPORTED, booked["id"])
    assert Decimal(booked["total_price_incl_tax"]) == invoice.gross_total == Decimal("41.15")
    assert moneybird.attachments[booked["id"]][0][0] == f"{invoice.number}.pdf"
    assert OrderEvent.objects.filter(order=invoice.order, type=EventType.ACCOUNTING_EXPORTED).count() == 1

    # Exporting again does nothing: it is exported
    before = len(moneybird.requests)
    invoice_export(invoice_id=invoice.pk, retry=True)
    assert len(moneybird.requests) == before
    # The nightly check finds it with the same total
    assert invoices_check_back() == {"checked": 1, "differ": 0, "unchecked": 0}


def test_a_difference_at_moneybird_is_found_by_the_check(to_moneybird, moneybird, django_capture_on_commit_callbacks):
    invoice = issued(to_moneybird, 402, django_capture_on_commit_callbacks)
    invoice.refresh_from_db()
    moneybird.invoices[invoice.external_id]["total_price_incl_tax"] = "40.15"

    assert invoices_check_back()["differ"] == 1
    invoice.refresh_from_db()
    assert "40.15" in invoice.check_error and "41.15" in invoice.check_error


def test_an_answer_lost_after_the_create_is_found_by_its_number_not_booked_twice(
        to_moneybird, moneybird, django_capture_on_commit_callbacks):
    # Given Moneybird that takes the invoice but whose answer never reaches us (the read times out)
    moneybird.hold_after_create = 3
    connectors._invoice_connectors.clear()
    original = invoice_connectors.moneybird_connector

    def short_timeout(**kwargs):
        connector = original(**kwargs)
        connector.client.timeout = (2, 1)
        return connector

    invoice_connectors.moneybird_connector = short_timeout
    try:
        invoice = issued(to_moneybird, 403, django_capture_on_commit_callbacks)
        invoice.refresh_from_db()
        assert (invoice.export_state, invoice.export_may_exist) == (ExportState.OPEN, True)
        assert "did not answer in time" in invoice.export_error
        moneybird.hold_after_create = 0
        moneybird.released.set()

        # When it is exported again
        invoice_export(invoice_id=invoice.pk, retry=True)
    finally:
        invoice_connectors.moneybird_connector = original
        connectors._invoice_connectors.clear()

    # Then it was looked up and found: Moneybird holds it once
    invoice.refresh_from_db()
    assert invoice.export_state == ExportState.EXPORTED
    assert [i["reference"] for i in moneybird.invoices.values()] == [invoice.number]


def test_a_refused_token_fails_with_the_variable_named_and_a_server_error_waits(
        to_moneybird, moneybird, django_capture_on_commit_callbacks):
    moneybird.refuse_token_next(count=10)
    invoice = issued(to_moneybird, 404, django_capture_on_commit_callbacks)
    invoice.refresh_from_db()
    assert invoice.export_state == ExportState.FAILED and TOKEN_ENV in invoice.export_error
    assert invoices_export_due() == 0  # a refusal is not retried automatically before staff act

    moneybird.refuse_token_next(count=0)
    moneybird.failures.clear()
    moneybird.fail_next(status=500)
    invoice_export(invoice_id=invoice.pk, retry=True)
    invoice.refresh_from_db()
    assert invoice.export_state == ExportState.OPEN and invoice.export_retry_at is not None
    invoice_export(invoice_id=invoice.pk, retry=True)
    invoice.refresh_from_db()
    assert invoice.export_state == ExportState.EXPORTED


def test_credit_notes_are_booked_negative(to_moneybird, moneybird, django_capture_on_commit_callbacks):
    invoice = issued(to_moneybird, 405, django_capture_on_commit_callbacks)
    mirror(to_moneybird, two_rate_order(405, status="cancelled", date_modified_gmt="2026-11-09T10:00:00"),
           capture=django_capture_on_commit_callbacks)

    credit = Invoice.objects.get(corrects=invoice)
    assert credit.export_state == ExportState.EXPORTED
    assert Decimal(moneybird.invoice(credit.number)["total_price_incl_tax"]) == -invoice.gross_total


def test_a_document_waiting_behind_a_backlog_is_not_queued_again_at_every_run(to_files, monkeypatch,
                                                                              django_capture_on_commit_callbacks):
    # Given an issued invoice whose export task waits behind a long queue (not lost, only late)
    from django.utils import timezone

    from accounting.services import invoice_exports, invoice_issuing

    monkeypatch.setattr(invoice_issuing, "enqueue", lambda *args, **kwargs: None)
    invoice = issued(to_files.store, 402, django_capture_on_commit_callbacks)
    queued = []
    monkeypatch.setattr(invoice_exports, "enqueue", lambda func, *args: queued.append((func, *args)))
    now = timezone.now()

    # When the 5-minute job runs for an hour, no worker taking the task meanwhile
    runs = [invoices_export_due(now=now + timedelta(minutes=5 * n)) for n in range(13)]

    # Then it is queued at once, then 5, 10 and 20 minutes after each copy: 4 copies, not 13
    assert [5 * n for n, count in enumerate(runs) if count] == [0, 5, 15, 35]
    assert queued == [("accounting.tasks.export_invoice", invoice.pk)] * 4
    # And when a worker takes it at last, it is exported once and the count starts again
    invoice_export(invoice_id=invoice.pk, now=now + timedelta(minutes=61))
    invoice.refresh_from_db()
    assert (invoice.export_state, invoice.export_requeues, invoice.export_requeue_after) == (
        ExportState.EXPORTED, 0, None)
