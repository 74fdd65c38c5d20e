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
