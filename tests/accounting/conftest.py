import pytest

from accounting.models import ExportRule
from tests.factories import StoreFactory


@pytest.fixture
def export_dir(settings, tmp_path):
    """ACCOUNTING_EXPORT_DIR in the test's temporary directory (the connector makes it and the store's folder)."""
    settings.ACCOUNTING_EXPORT_DIR = tmp_path / "exports"
    return settings.ACCOUNTING_EXPORT_DIR


@pytest.fixture
def shop(db, export_dir):
    """A store exporting its completed orders through the file connector."""
    store = StoreFactory(slug="nl", name="Fotocadeau NL", currency="EUR")
    ExportRule.objects.create(store=store, statuses=["completed"])
    return store


@pytest.fixture
def invoice_shop(db, export_dir):
    """A Dutch store invoicing its processing and completed orders: invoices 2026-000001…, credit notes CN2026-…"""
    from accounting.models import InvoiceRule, InvoiceSeries

    store = StoreFactory(slug="inv", name="Fotocadeau NL", currency="EUR", timezone="Europe/Amsterdam")
    invoices = InvoiceSeries.objects.create(store=store, name="Invoices", prefix="{year}-")
    credit_notes = InvoiceSeries.objects.create(store=store, name="Credit notes", prefix="CN{year}-")
    InvoiceRule.objects.create(
        store=store, invoice_series=invoices, credit_note_series=credit_notes, seller_name="Fotocadeau B.V.",
        seller_street="Keizersgracht 123", seller_postcode="1015 CJ", seller_city="Amsterdam", seller_country="NL",
        seller_vat_id="NL854091798B01", seller_email="finance@fotocadeau.example", note="KvK 12345678")
    return store


@pytest.fixture
def vies(settings):
    """A running fake VIES; invoices ask it about customers' VAT numbers."""
    from tests.fakes.vies import FakeVies

    server = FakeVies().start()
    settings.VIES_URL = server.url
    yield server
    server.stop()
