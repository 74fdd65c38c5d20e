"""Invoices as finance handles them on the order page, in Debian's Chromium driven by Playwright."""

from datetime import UTC, datetime

import pytest
from django.urls import reverse

from accounting.choices import DocumentKind
from accounting.models import Invoice, InvoiceRule, InvoiceSeries
from fulfillment.choices import EventSource
from fulfillment.models import Order
from fulfillment.services.mirror import orders_upsert
from tests.accounting.test_invoices import two_rate_order
from tests.browser.conftest import log_in

pytestmark = [pytest.mark.browser, pytest.mark.django_db(transaction=True)]
YEAR = datetime.now(UTC).year


@pytest.fixture
def on_hold_order(woo, woo_store):
    """A Dutch order of 41.15 on hold: the store invoices processing and completed orders, so none is issued yet."""
    invoices = InvoiceSeries.objects.create(store=woo_store, name="Invoices", prefix="{year}-")
    credit_notes = InvoiceSeries.objects.create(store=woo_store, name="Credit notes", prefix="CN{year}-")
    InvoiceRule.objects.create(
        store=woo_store, invoice_series=invoices, credit_note_series=credit_notes, seller_name="Fotocadeau B.V.",
        seller_street="Keizersgracht 123", seller_postcode="1015 CJ", seller_city="Amsterdam", seller_country="NL",
        seller_vat_id="NL854091798B01")
    payload = two_rate_order(501, status="on-hold")
    woo.add_orders([payload])
    orders_upsert(store=woo_store, payloads=[payload], source=EventSource.IMPORT)
    return Order.objects.get(woo_id=501)


def test_finance_issues_an_invoice_by_hand_downloads_it_and_a_refund_credits_it(page, live_server, staff,
                                                                                on_hold_order, woo):
    staff("finance")
    log_in(page, live_server, "finance")
    order_page = f"{live_server.url}{reverse('admin:fulfillment_order_change', args=[on_hold_order.pk])}"

    # an order on hold has no invoice; finance issues it by hand
    page.goto(order_page)
    assert page.inner_text("#no-invoices") == "No invoice yet."
    page.click("#invoice-issue-form button[type=submit]")
    page.wait_for_selector(".messagelist .success")
    number = f"{YEAR}-000001"
    row = page.locator(f"#invoice-documents tr[data-number='{number}']")
    assert "41.15" in row.inner_text()
    assert "in force" in row.inner_text()

    # its PDF downloads under its number
    with page.expect_download() as download_info:
        row.locator("a.invoice-pdf").click()
    download = download_info.value
    assert download.suggested_filename.endswith(".pdf") and number in download.suggested_filename
    assert open(download.path(), "rb").read(5) == b"%PDF-"

    # refunding the photo book from the order page issues a credit note for it
    page.click("#refund-panel summary")
    page.fill("input[name=quantity_5011]", "1")
    page.wait_for_function("document.getElementById('refund-total').textContent === '24.20'")
    page.fill("#refund-form input[name=reason]", "Pages printed upside down")
    page.click("#refund-form button[type=submit]")
    page.wait_for_selector(".messagelist .success")

    credit_number = f"CN{YEAR}-000001"
    credit_row = page.locator(f"#invoice-documents tr[data-number='{credit_number}']")
    assert "−24.20" in credit_row.inner_text()
    assert f"for {number}" in credit_row.inner_text()
    credit_note = Invoice.objects.get(number=credit_number)
    assert (credit_note.kind, credit_note.corrects.number) == (DocumentKind.CREDIT_NOTE, number)
    assert woo.refunds[501][0]["amount"] == "24.20"
