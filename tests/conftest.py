import os

import pytest
from django_q.conf import Conf

from tests.factories import StoreFactory


@pytest.fixture(autouse=True)
def run_tasks_inline(settings):
    """django-q2 tasks run in the test's process (tests of the real broker turn this off)."""
    previous = Conf.SYNC
    Conf.SYNC = True
    yield
    Conf.SYNC = previous


@pytest.fixture(autouse=True)
def private_cache(settings):
    """Each test gets an empty in-process cache, even where REDIS_URL would share one between test workers."""
    settings.CACHES = {"default": {"BACKEND": "django.core.cache.backends.locmem.LocMemCache",
                                   "LOCATION": "tests"}}
    from django.core.cache import cache

    cache.clear()
    yield
    cache.clear()


@pytest.fixture(autouse=True)
def default_language():
    """Each test starts in the default language: a page asked for in another one (Accept-Language, a staff
    member's choice) leaves it active in the thread, and the next test's messages came out in French."""
    from django.utils import translation

    translation.deactivate()
    yield
    translation.deactivate()


@pytest.fixture(autouse=True)
def fresh_webhook_stores():
    """Web processes keep the stores they received webhooks for a few seconds; a test starts with none kept."""
    from fulfillment.services.webhooks import forget_webhook_stores

    forget_webhook_stores()
    yield
    forget_webhook_stores()


@pytest.fixture(autouse=True)
def fast_retries(settings):
    settings.WOO_RETRY_BASE_SECONDS = 0.01
    settings.WOO_TIMEOUT_SECONDS = 2
    # A page of orders answered 429/503 is asked again as often as after any other failure (4), so that a test of a
    # shop that stays down reads the same whichever way it is down.
    settings.WOO_MAX_THROTTLE_RETRIES = settings.WOO_MAX_RETRIES


@pytest.fixture
def store(db):
    return StoreFactory()


def on_postgres():
    return os.environ.get("DATABASE_URL", "").startswith(("postgres://", "postgresql://"))


@pytest.fixture
def woo():
    """A running fake WooCommerce shop; point a store at it with `woo_store`."""
    from tests.fakes.woocommerce import FakeWooCommerce

    server = FakeWooCommerce().start()
    yield server
    server.stop()


@pytest.fixture
def printful(monkeypatch):
    """A running fake Printful; its API key is in the environment variable ProviderFactory names."""
    from tests.fakes.printful import FakePrintful

    server = FakePrintful().start()
    monkeypatch.setenv("PRINTFUL_TEST_TOKEN", server.token)
    yield server
    server.stop()


@pytest.fixture
def woo_store(db, woo):
    return StoreFactory(slug="woo", base_url=woo.url, consumer_key=woo.consumer_key,
                        consumer_secret=woo.consumer_secret)


@pytest.fixture
def rewix(monkeypatch):
    """A running fake Rewix supplier; its password is in the environment variable `supplier` names."""
    from tests.fakes.rewix import PASSWORD, FakeRewix

    server = FakeRewix().start()
    monkeypatch.setenv("REWIX_TEST_PASSWORD", PASSWORD)
    yield server
    server.stop()


@pytest.fixture
def supplier(db, rewix):
    """A dropshipping supplier of the store "fashion", on the fake Rewix, with its catalogue read."""
    from fulfillment.models import Supplier
    from fulfillment.services.supplier_poll import catalogue_sync
    from fulfillment.services.supplier_sync import supplier_client
    from tests.fakes.rewix import API_KEY

    store = StoreFactory(slug="fashion", name="Fashion NL")
    supplier = Supplier.objects.create(store=store, name="BDroppy", base_url=rewix.url, api_user=API_KEY,
                                       credentials_env="REWIX_TEST_PASSWORD")
    catalogue_sync(supplier=supplier, client=supplier_client(supplier))
    return Supplier.objects.get(pk=supplier.pk)


def pytest_collection_modifyitems(config, items):
    """Tests that need PostgreSQL (row locks) or the Redis broker run in CI's second pass, not on SQLite."""
    needs = {"postgres": on_postgres(), "redis": bool(os.environ.get("REDIS_URL")) and on_postgres()}
    keep, deselected = [], []
    for item in items:
        if any(item.get_closest_marker(name) and not available for name, available in needs.items()):
            deselected.append(item)
        else:
            keep.append(item)
    if deselected:
        config.hook.pytest_deselected(items=deselected)
        items[:] = keep


@pytest.fixture(autouse=True)
def media_root(settings, tmp_path_factory):
    """Files a test stores (the demo's renders and photos, uploads, the demo's print room) go to directories of its
    own, not var/media or var/demo."""
    settings.MEDIA_ROOT = tmp_path_factory.mktemp("media")
    settings.DEMO_DIR = tmp_path_factory.mktemp("demo")
