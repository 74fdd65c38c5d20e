"""The order desk as staff use it, in Debian's Chromium driven by Playwright."""

from decimal import Decimal

import pytest
from django.urls import reverse

from fulfillment.choices import EventSource, PushState
from fulfillment.models import Order, Refund, StorePush
from fulfillment.services.mirror import orders_upsert
from tests.browser.conftest import log_in
from tests.woo_payloads import line_item, order_payload

pytestmark = [pytest.mark.browser, pytest.mark.django_db(transaction=True)]


@pytest.fixture
def shop_orders(woo, woo_store):
    payloads = [
        order_payload(101, status="processing", email="ana.lopez@example.com", first_name="Ana", last_name="López",
                      line_items=[line_item(1011, name="Photo book A4", sku="BOOK-A4", total="30.00",
                                            total_tax="6.00"),
                                  line_item(1012, name="Photo mug", sku="MUG-11", quantity=2, total="19.00",
                                            total_tax="3.80")]),
        order_payload(102, status="on-hold", email="bruno.rossi@example.com", first_name="Bruno", last_name="Rossi"),
        order_payload(103, status="processing", email="chloe.martin@example.com", first_name="Chloé",
                      last_name="Martin"),
    ]
    for payload in payloads:
        payload["total"] = "58.80" if payload["id"] == 101 else payload["total"]
    woo.add_orders(payloads)
    orders_upsert(store=woo_store, payloads=payloads, source=EventSource.IMPORT)
    return {o.woo_id: o for o in Order.objects.all()}


def test_operations_filters_searches_and_adds_a_customer_note(page, live_server, staff, shop_orders, woo):
    staff("operations")
    log_in(page, live_server, "operations")

    page.goto(f"{live_server.url}{reverse('admin:fulfillment_order_changelist')}")
    page.click(".status-tabs a:has-text('On hold')")
    page.wait_for_url("**status=on-hold**")
    assert page.locator("#result_list tbody tr").count() == 1
    assert "#102" in page.locator("#result_list").inner_text()

    page.goto(f"{live_server.url}{reverse('admin:fulfillment_order_changelist')}")
    page.fill("#searchbar", "chloe.martin@")
    page.press("#searchbar", "Enter")
    page.wait_for_url("**q=chloe.martin**")
    rows = page.locator("#result_list tbody tr")
    assert rows.count() == 1
    rows.first.locator("a").first.click()

    page.wait_for_selector("#note-form")
    assert "Order #103" in page.inner_text("h1")
    page.fill("#note-form textarea[name=note]", "Your photo book is being printed.")
    page.check("#note-form input[name=customer_note]")
    page.click("#note-form button[type=submit]")

    page.wait_for_selector(".messagelist .success")
    assert "Your photo book is being printed." in page.inner_text("#timeline")
    assert woo.notes[103][0]["note"] == "Your photo book is being printed."
    assert woo.notes[103][0]["customer_note"] is True


def test_finance_refunds_one_line_with_restock(page, live_server, staff, shop_orders, woo):
    staff("finance")
    log_in(page, live_server, "finance")
    order = shop_orders[101]

    page.goto(f"{live_server.url}{reverse('admin:fulfillment_order_change', args=[order.pk])}")
    page.click("#refund-panel summary")
    page.fill("input[name=quantity_1012]", "1")
    page.wait_for_function("document.getElementById('refund-total').textContent === '11.40'")
    page.check("#refund-form input[name=restock]")
    page.fill("#refund-form input[name=reason]", "Mug arrived broken")
    page.click("#refund-form button[type=submit]")

    page.wait_for_selector(".messagelist .success")
    timeline = page.inner_text("#timeline")
    assert "11.40 EUR (1 × Photo mug) — Mug arrived broken · restocked" in timeline
    assert "→ WooCommerce: Refund" in timeline
    refund = Refund.objects.get(order=order, created_by__username="finance")
    assert refund.woo_refund_id is not None
    push = StorePush.objects.get(order=order, kind="refund")
    assert push.state == PushState.SENT
    sent = woo.refunds[101][0]
    assert (sent["amount"], sent["refunded_payment"]) == ("11.40", False)


def test_support_is_refused_the_refund(page, live_server, staff, shop_orders):
    staff("support")
    log_in(page, live_server, "support")
    order = shop_orders[101]

    page.goto(f"{live_server.url}{reverse('admin:fulfillment_order_change', args=[order.pk])}")
    page.wait_for_selector("#note-form")
    assert page.locator("#refund-panel").count() == 0

    # Not only hidden: the server refuses the action itself.
    # The CSRF token by its cookie's name: the session cookie may come first in the browser's list.
    csrf_token = next(c["value"] for c in page.context.cookies() if c["name"] == "csrftoken")
    response = page.request.post(
        f"{live_server.url}{reverse('admin:fulfillment_order_action', args=[order.pk, 'refund'])}",
        form={"quantity_1012": "1", "csrfmiddlewaretoken": csrf_token},
        headers={"X-CSRFToken": csrf_token, "Referer": page.url},
    )
    assert response.status == 403
    assert not Refund.objects.filter(order=order).exists()


def test_refund_total_follows_blank_and_typed_amounts_and_a_double_click_refunds_once(page, live_server, staff,
                                                                                      shop_orders, woo):
    staff("finance")
    log_in(page, live_server, "finance")
    order = shop_orders[101]
    total = "document.getElementById('refund-total').textContent"

    page.goto(f"{live_server.url}{reverse('admin:fulfillment_order_change', args=[order.pk])}")
    page.click("#refund-panel summary")
    # both mugs by quantity: the amount is filled in with what is left of the line
    page.fill("input[name=quantity_1012]", "2")
    page.wait_for_function(f"{total} === '22.80'")
    assert page.input_value("input[name=amount_1012]") == "22.80"
    # an amount of 0 typed beside them restocks only: no money in the total
    page.fill("input[name=amount_1012]", "0")
    page.wait_for_function(f"{total} === '0.00'")
    page.fill("input[name=amount_1011]", "5,00")
    page.wait_for_function(f"{total} === '5.00'")
    # a blank amount refunds the items at their price, as the server does
    page.fill("input[name=amount_1012]", "")
    page.wait_for_function(f"{total} === '27.80'")
    page.fill("input[name=amount_1012]", "0")
    page.check("#refund-form input[name=restock]")

    page.dblclick("#refund-form button[type=submit]")

    page.wait_for_selector(".messagelist .success")
    refund = Refund.objects.get(order=order)
    assert (refund.amount, refund.restock) == (Decimal("5.00"), True)
    assert [(p["line_id"], p["quantity"], p["amount"]) for p in refund.lines] == [(1011, 0, "5.00"),
                                                                                 (1012, 2, "0.00")]
    assert len(woo.refunds[101]) == 1
