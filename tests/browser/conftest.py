import importlib
import os

import pytest
from django.contrib.auth.models import Group

from tests.factories import UserFactory

CHROMIUM = "/usr/bin/chromium"
CHROMIUM_ARGS = ["--no-sandbox", "--disable-gpu", "--disable-background-networking", "--disable-component-update",
                 "--no-first-run"]
PASSWORD = "pass-1234-word"


# Playwright's sync API keeps an event loop running in the test thread for the whole session; Django's ORM
# refuses to run beside one unless told that these synchronous tests know what they do.
os.environ["DJANGO_ALLOW_ASYNC_UNSAFE"] = "true"


@pytest.fixture(scope="session", autouse=True)
def one_request_at_a_time_on_sqlite():
    """On SQLite the live server's threads share the test's one in-memory connection: a page whose images the
    browser fetches at once (a project's previews) then mixes their queries up ("bad parameter or other API misuse",
    a get() finding two rows). Served one request at a time there, each connection closed after its answer."""
    from django.core.servers.basehttp import WSGIServer
    from django.test import testcases

    from tests.conftest import on_postgres

    class SerialWSGIServer(WSGIServer):
        # The live server's own thread already uses the overriding connections (LiveServerThread.run).
        def __init__(self, *args, connections_override=None, **kwargs):
            super().__init__(*args, **kwargs)

    if on_postgres():
        yield
        return
    threaded = testcases.LiveServerThread.server_class
    testcases.LiveServerThread.server_class = SerialWSGIServer
    yield
    testcases.LiveServerThread.server_class = threaded


@pytest.fixture(scope="session")
def browser():
    from playwright.sync_api import sync_playwright

    assert os.path.exists(CHROMIUM), "Debian's chromium is needed: apt-get install -y chromium (.ci/run does it)"
    with sync_playwright() as playwright:
        browser = playwright.chromium.launch(executable_path=CHROMIUM, headless=True, args=CHROMIUM_ARGS)
        yield browser
        browser.close()


@pytest.fixture
def page(browser):
    context = browser.new_context(viewport={"width": 1400, "height": 1000}, locale="en-GB")
    page = context.new_page()
    page.set_default_timeout(30_000)
    yield page
    context.close()


@pytest.fixture
def phone(browser):
    """A phone's window (390 px), for the pages staff and customers use on the go."""
    context = browser.new_context(viewport={"width": 390, "height": 844}, locale="en-GB", is_mobile=True,
                                  has_touch=True)
    page = context.new_page()
    page.set_default_timeout(30_000)
    yield page
    context.close()


@pytest.fixture
def staff(db):
    # A transactional test empties the tables, migration-made groups included: make the roles again.
    from django.apps import apps

    importlib.import_module("fulfillment.migrations.0004_roles").create_roles(apps, None)
    importlib.import_module("fulfillment.migrations.0011_production_schedules_and_roles").forwards(apps, None)
    importlib.import_module("fulfillment.migrations.0022_supplier_reservations").forwards(apps, None)
    importlib.import_module("accounting.migrations.0002_finance_role_and_nightly_export").forwards(apps, None)
    importlib.import_module("accounting.migrations.0004_invoice_roles_and_schedule").forwards(apps, None)

    def make(role):
        user = UserFactory(username=role)
        user.groups.add(Group.objects.get(name=role))
        return user

    return make


def log_in(page, live_server, username):
    page.goto(f"{live_server.url}/admin/login/")
    page.fill("#id_username", username)
    page.fill("#id_password", PASSWORD)
    page.click("input[type=submit]")
    page.wait_for_url(f"{live_server.url}/admin/")


# An image's width once it has loaded (or failed: 0): a page that was just shown may still be fetching it.
LOADED_WIDTH = """img => img.complete ? img.naturalWidth : new Promise(resolve => {
    img.addEventListener("load", () => resolve(img.naturalWidth));
    img.addEventListener("error", () => resolve(0));
})"""


def loaded_width(locator):
    return locator.evaluate(LOADED_WIDTH)
