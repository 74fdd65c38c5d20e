"""The order list and the dashboard at a desktop's 1440 px and a phone's 390 px, in Debian's Chromium."""

from datetime import timedelta
from decimal import Decimal

import pytest
from django.urls import reverse
from django.utils import timezone

from fulfillment.choices import OrderType, SubmitStatus
from tests.browser.conftest import PASSWORD
from tests.factories import OrderFactory, StoreFactory

pytestmark = [pytest.mark.browser, pytest.mark.django_db(transaction=True)]

# How much wider than the window the page is, and how much wider than its box the list's table is.
WIDTHS = """() => {
  const page = document.documentElement, box = document.querySelector('#changelist .results');
  const cells = [...document.querySelectorAll('#result_list tbody tr:first-child > *')];
  return {page: page.scrollWidth - page.clientWidth, box: box ? box.scrollWidth - box.clientWidth : null,
          right: Math.max(...cells.map(c => c.getBoundingClientRect().right)), window: page.clientWidth,
          cells: cells.map(c => c.className), sizes: cells.map(c => Math.round(c.getBoundingClientRect().width))};
}"""


@pytest.fixture
def long_names(db):
    """Orders of two stores with long names, in the longest core statuses, submitted, failed and counting down."""
    stores = [StoreFactory(slug="nl", name="Fotocadeau Nederland & België (webshop)"),
              StoreFactory(slug="uk", name="Personalised Photo Gifts United Kingdom")]
    now = timezone.now()
    for n, status in enumerate(["pending", "ready-for-pickup", "processing", "on-hold", "completed", "refunded"]):
        OrderFactory(store=stores[n % 2], status=status, order_type=OrderType.IN_APP, created_at=now - timedelta(hours=n),
                     customer_name="Maximiliane Alexandra von Hohenzollern-Sigmaringen", city="Villingen-Schwenningen",
                     state="BW", country="DE", total=Decimal("12345.67"), payment_method_title="Direct bank transfer",
                     submit_status=[SubmitStatus.SUBMITTED, SubmitStatus.FAILED, SubmitStatus.NONE][n % 3],
                     submit_error="Printful: 503", countdown_due_at=now + timedelta(hours=3) if n == 2 else None)
    return stores


def logged_in_page(browser, live_server, width, height):
    context = browser.new_context(viewport={"width": width, "height": height}, locale="en-GB",
                                  is_mobile=width < 600, has_touch=width < 600)
    page = context.new_page()
    page.set_default_timeout(30_000)
    page.goto(f"{live_server.url}/admin/login/")
    page.fill("#id_username", "operations")
    page.fill("#id_password", PASSWORD)
    page.click("input[type=submit]")
    page.wait_for_url(f"{live_server.url}/admin/")
    return context, page


def test_at_1440_px_the_list_shows_every_column_with_the_menu_open(browser, live_server, staff, long_names):
    staff("operations")
    context, page = logged_in_page(browser, live_server, 1440, 900)
    page.goto(f"{live_server.url}{reverse('admin:fulfillment_order_changelist')}")
    page.wait_for_selector("#result_list")

    widths = page.evaluate(WIDTHS)

    assert page.is_visible("#nav-sidebar") and page.is_visible("#changelist-filter")
    assert widths["cells"][-1].startswith("field-store")
    assert widths["page"] <= 0 and widths["box"] <= 0, (widths["sizes"], widths)  # nothing scrolls: the store column is in view
    assert widths["right"] <= page.locator("#changelist-filter").bounding_box()["x"], widths
    context.close()


def test_at_390_px_the_list_is_cards_and_the_page_never_scrolls_sideways(browser, live_server, staff, long_names):
    staff("operations")
    context, page = logged_in_page(browser, live_server, 390, 844)
    page.goto(f"{live_server.url}{reverse('admin:fulfillment_order_changelist')}")
    page.wait_for_selector("#result_list")

    widths = page.evaluate(WIDTHS)

    assert widths["page"] <= 0 and widths["box"] <= 0, widths
    assert widths["right"] <= widths["window"], widths
    first = page.locator("#result_list tbody tr").first
    text = first.inner_text()
    assert "Maximiliane" in text and "12345.67 EUR" in text and "1 item" in text and "Fotocadeau" in text
    # the filters, after the rows, are one tap away
    page.click(".filters-jump a")
    page.wait_for_url("**#changelist-filter")
    assert page.locator("#changelist-filter").bounding_box()["y"] < 844
    context.close()


def test_dashboard_at_390_px_does_not_scroll_sideways(browser, live_server, staff, long_names):
    staff("operations")
    context, page = logged_in_page(browser, live_server, 390, 844)
    page.goto(f"{live_server.url}/admin/")
    page.wait_for_selector("#dashboard")

    assert page.evaluate("document.documentElement.scrollWidth - document.documentElement.clientWidth") <= 0
    assert page.locator(".dashboard-pipeline a").count() == 2 * 5  # four stages and the failed, per store
    context.close()
