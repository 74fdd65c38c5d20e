"""An order's refunds are read past WooCommerce's first page of 100: a refund of ours on a later page is found
after a lost answer (never made twice), whether or not the host keeps the X-WP-* paging headers."""

import time
from datetime import UTC, datetime, timedelta

import pytest

from fulfillment.choices import PushKind, PushState
from fulfillment.integrations.woocommerce.client import WooClient
from fulfillment.models import Refund, StorePush
from fulfillment.services.push_dispatch import pushes_dispatch
from fulfillment.services.refunds import order_refund
from tests.fakes.woocommerce import wc_date
from tests.fulfillment.pushes import later, mirrored, staff
from tests.woo_payloads import order_payload


def shop_refunds(woo, woo_id, count, *, since):
    """Refunds made in the shop's admin, newer than `since`, one a second."""
    if woo_id not in woo.orders:
        woo.add_orders([order_payload(woo_id)])
    for i in range(count):
        when = since + timedelta(seconds=i + 1)
        woo.refunds.setdefault(woo_id, []).append({
            "id": 5000 + i, "date_created": wc_date(when), "date_created_gmt": wc_date(when), "amount": "0.01",
            "reason": "", "refunded_by": 1, "refunded_payment": False, "meta_data": [], "line_items": [],
            "shipping_lines": [], "tax_lines": [], "fee_lines": []})


def refund_pages_asked(woo, woo_id):
    return [params.get("page") for method, route, params in woo.requests
            if method == "GET" and route == f"orders/{woo_id}/refunds"]


@pytest.mark.parametrize("headers", [True, False], ids=["paging-headers", "no-paging-headers"])
def test_every_refund_of_an_order_is_read_page_by_page(woo, headers):
    # Given an order with 230 refunds in the shop (a host may drop the paging headers)
    woo.hide_paging_headers = not headers
    shop_refunds(woo, 17, 230, since=datetime(2026, 1, 1, tzinfo=UTC))
    client = WooClient(base_url=woo.url, consumer_key=woo.consumer_key, consumer_secret=woo.consumer_secret)

    # When they are listed
    refunds = client.list_refunds(17)

    # Then all come, newest first, three pages asked for
    assert len(refunds) == 230
    assert [r["id"] for r in refunds[:2]] == [5229, 5228]
    assert refunds[-1]["id"] == 5000
    assert refund_pages_asked(woo, 17) == ["1", "2", "3"]


def test_a_page_of_exactly_one_hundred_without_headers_stops_at_the_empty_page_after(woo):
    woo.hide_paging_headers = True
    shop_refunds(woo, 17, 100, since=datetime(2026, 1, 1, tzinfo=UTC))
    client = WooClient(base_url=woo.url, consumer_key=woo.consumer_key, consumer_secret=woo.consumer_secret)

    assert len(client.list_refunds(17)) == 100
    assert refund_pages_asked(woo, 17) == ["1", "2"]


def test_our_refund_whose_answer_was_lost_is_found_on_a_later_page_not_made_twice(woo, woo_store, monkeypatch,
                                                                                    settings):
    # Given a refund whose first attempt timed out after the shop had made it
    order = mirrored(woo, woo_store, 17, status="processing")
    line = order.lines.get()
    order_refund(order=order, amounts={}, quantities={line.woo_line_id: "1"}, reason="broken", restock=False,
                 user=staff("finance"))
    settings.WOO_TIMEOUT_SECONDS = 0.3
    original, calls = woo.add_refund, []

    def made_then_slow(order_, body):
        calls.append(body)
        answer = original(order_, body)
        time.sleep(0.8)
        return answer

    monkeypatch.setattr(woo, "add_refund", made_then_slow)
    assert pushes_dispatch() == {"retrying": 1}
    ours = woo.refunds[17][0]
    # and 150 refunds made in the shop since, so that ours is on the second page
    shop_refunds(woo, 17, 150, since=datetime.fromisoformat(ours["date_created_gmt"]).replace(tzinfo=UTC))

    # When it is retried
    assert pushes_dispatch(now=later()) == {"sent": 1}

    # Then ours was found on page 2 and not made again
    assert len(calls) == 1
    assert refund_pages_asked(woo, 17)[:2] == ["1", "2"]
    push = StorePush.objects.get(kind=PushKind.REFUND)
    assert (push.state, push.response["id"]) == (PushState.SENT, ours["id"])
    assert Refund.objects.get(pk=push.payload["refund_id"]).woo_refund_id == ours["id"]
