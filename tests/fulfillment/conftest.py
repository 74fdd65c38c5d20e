"""Staff in their roles (groups made by the roles migration), and a dropshipping supplier served by the fake Rewix."""

import pytest

from fulfillment.models import Supplier
from fulfillment.services.supplier_poll import catalogue_sync
from fulfillment.services.supplier_sync import supplier_client
from tests.factories import StoreFactory
from tests.fakes.rewix import API_KEY, PASSWORD, FakeRewix
from tests.fulfillment.production import staff


@pytest.fixture
def ops(db):
    return staff("operations")


@pytest.fixture
def support(db):
    return staff("support")


@pytest.fixture
def finance(db):
    return staff("finance")


@pytest.fixture
def rewix(monkeypatch):
    server = FakeRewix().start()
    monkeypatch.setenv("REWIX_TEST_PASSWORD", PASSWORD)
    yield server
    server.stop()


@pytest.fixture
def supplier(db, rewix):
    store = StoreFactory(slug="fashion", name="Fashion NL")
    supplier = Supplier.objects.create(store=store, name="BDroppy", base_url=rewix.url, api_user=API_KEY,
                                       credentials_env="REWIX_TEST_PASSWORD")
    catalogue_sync(supplier=supplier, client=supplier_client(supplier))
    return Supplier.objects.get(pk=supplier.pk)
