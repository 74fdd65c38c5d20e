"""The order page's charges, totals, refund form and customer history on a phone (390 px), in Debian's Chromium."""

import copy

import pytest
from django.urls import reverse

from fulfillment.choices import EventSource
from fulfillment.models import Order
from fulfillment.services.mirror import orders_upsert
from tests.browser.conftest import log_in
from tests.fulfillment.test_order_charges import with_coupon_and_fee

pytestmark = [pytest.mark.browser, pytest.mark.django_db(transaction=True)]

OVERFLOW = "document.documentElement.scrollWidth - document.documentElement.clientWidth"


@pytest.fixture
def regular_customer(woo_store):
    """Customer 42's order with shipping, a fee and a coupon, and six earlier orders of theirs."""
    payloads = [{**with_coupon_and_fee(17), "customer_id": 42}]
    for n in range(6):
        earlier = copy.deepcopy(payloads[0])
        earlier.update(id=20 + n, number=str(20 + n), status="completed",
                       date_created_gmt=f"2026-10-0{n + 1}T10:00:00", date_modified_gmt=f"2026-10-0{n + 1}T10:05:00")
        payloads.append(earlier)
    orders_upsert(store=woo_store, payloads=payloads, source=EventSource.IMPORT)
    return Order.objects.get(store=woo_store, woo_id=17)


def test_order_page_with_charges_refund_form_and_history_fits_a_phone(phone, live_server, staff, regular_customer):
    staff("finance")
    log_in(phone, live_server, "finance")

    phone.goto(f"{live_server.url}{reverse('admin:fulfillment_order_change', args=[regular_customer.pk])}")
    phone.click("#refund-panel summary")
    # Typing the shipping's amount counts in the refund total, as a product line's does
    phone.fill("input[name=amount_7]", "5.88")
    phone.fill("input[name=amount_9]", "2.40")
    phone.wait_for_function("document.getElementById('refund-total').textContent === '8.28'")

    assert "Coupon: summer10" in phone.inner_text(".order-lines")
    assert "Net payment" in phone.inner_text("#order-totals")
    assert phone.inner_text("#customer-order-count") == "7"
    assert phone.locator(".customer-recent li").count() == 5
    # the page never scrolls sideways at 390 px
    assert phone.evaluate(OVERFLOW) == 0
