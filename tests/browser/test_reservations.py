"""Dropshipping as operations use it: the reservations screen and the growing-order page, in Chromium."""

import pytest
from django.urls import reverse

from fulfillment.models import Reservation
from fulfillment.services.supplier_sync import growing_order_refresh
from tests.browser.conftest import log_in
from tests.fulfillment.dropship import SCARF, SNEAKER_40, SNEAKER_41, arrive, sync
from tests.woo_payloads import line_item

pytestmark = [pytest.mark.browser, pytest.mark.django_db(transaction=True)]


@pytest.fixture
def reserved(supplier, rewix):
    """Three orders: two reserved in full, one short of stock (size 41: 3 left, 5 wanted)."""
    arrive(supplier, 301, lines=[line_item(3011, name="Leather sneakers", sku=SNEAKER_40, quantity=2),
                                 line_item(3012, name="Wool scarf", sku=SCARF)])
    arrive(supplier, 302, lines=[line_item(3021, name="Wool scarf", sku=SCARF)])
    arrive(supplier, 303, lines=[line_item(3031, name="Leather sneakers", sku=SNEAKER_41, quantity=5)])
    sync(supplier)
    return supplier


def test_operations_find_the_failed_reservation_and_its_reason_and_try_it_again(page, live_server, staff, reserved,
                                                                                rewix):
    staff("operations")
    log_in(page, live_server, "operations")
    page.goto(f"{live_server.url}{reverse('admin:fulfillment_reservation_changelist')}")
    assert page.locator("#result_list tbody tr").count() == 4

    page.click("#changelist-filter a:has-text('Failed')")
    page.wait_for_url("**sync__exact=failed**")
    rows = page.locator("#result_list tbody tr")
    assert rows.count() == 1
    reason = rows.first.locator(".sync-failed").get_attribute("title")
    assert reason.startswith("Out of stock at BDroppy: 5 needed of 234226")
    assert "#303" in rows.first.inner_text()

    # The supplier gets more stock; operations try the line again from the list
    rewix.set_stock("234226", 10)
    rows.first.locator("input.action-select").check()
    page.select_option("select[name=action]", "retry_selected")
    page.click("button[name=index]")
    page.wait_for_selector(".messagelist .success")
    assert "1 reservation will be tried again." in page.inner_text(".messagelist")
    # (the worker's sync ran at once: the line is held now)
    assert Reservation.objects.get(order__woo_id=303).sync == "in_sync" and rewix.locked("234226") == 5


def test_the_growing_order_page_shows_a_difference_and_align_fixes_it(page, live_server, staff, reserved, rewix):
    # Given the supplier restocked size 41 (the next sync holds it), then someone there reserved 2 jackets by hand
    # and took a scarf away
    rewix.set_stock("234226", 10)
    sync(reserved)
    assert Reservation.objects.filter(sync="in_sync").count() == 4
    rewix.locks["234231"], rewix.locks["234230"] = 2, 1
    growing_order_refresh(supplier=reserved)
    staff("operations")
    log_in(page, live_server, "operations")

    page.goto(f"{live_server.url}{reverse('admin:fulfillment_supplier_changelist')}")
    page.click("a:has-text('Compare with the shop')")
    page.wait_for_selector("#growing-order")
    assert "2 models differ from what the shop needs." in page.inner_text("#growing-verdict")
    assert page.locator("#growing-table tr.diff-extra").count() == 1
    assert page.locator("#growing-table tr.diff-quantity").count() == 1
    assert "reserved but no longer needed" in page.inner_text("#growing-table tr.diff-extra")

    page.click("#align")
    page.wait_for_selector("#align-report")
    assert "234231: 2 → 0 reserved" in page.inner_text("#align-report")
    assert "No difference" in page.inner_text("#growing-verdict")
    assert (rewix.locked("234230"), rewix.locked("234231")) == (2, 0)
