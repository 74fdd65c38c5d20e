"""Refunds made in WooCommerce: their lines fetched after the mirror's commit, their events, and the refund form
meanwhile."""

import copy
from datetime import UTC, datetime, timedelta
from decimal import Decimal

import pytest
from django.core.cache import cache
from django.urls import reverse
from django.utils import timezone
from pytest_django.asserts import assertContains, assertNotContains
from werkzeug.wrappers import Response

from fulfillment.choices import EventSource, EventType, PushState, RefundState
from fulfillment.integrations.woocommerce.mapping import MappedRefundLine, map_refund_detail
from fulfillment.models import Order, OrderEvent, Refund, StorePush
from fulfillment.services.mirror import orders_upsert
from fulfillment.errors import OrderActionError
from fulfillment.services.push_dispatch import pushes_dispatch
from fulfillment.selectors import refundable_items, refunded_so_far
from fulfillment.services.refunds import order_refund
from tests.factories import UserFactory
from tests.woo_payloads import SAMPLE_REFUND, line_item, order_payload

MUG, CANVAS, SHIPPING = 171, 172, 173
REFUNDED_AT = datetime(2026, 11, 21, 22, 41, 52, tzinfo=UTC)
STILL_FETCHING = ("The quantities of a refund made in WooCommerce are still being fetched: refund an amount only, "
                  "or try again in a minute.")


@pytest.fixture(autouse=True)
def empty_cache(db):
    cache.clear()
    yield
    cache.clear()


@pytest.fixture
def finance(db):
    return UserFactory(username="fiona")


def payload(woo_id=17):
    """3 mugs (34.20 with VAT), a canvas (24.00) and flat-rate shipping (5.88): 64.08 EUR."""
    mug = line_item(MUG, name="Photo mug", quantity=3, total="28.50", total_tax="5.70")
    canvas = line_item(CANVAS, name="Canvas print", product_id=12, total="20.00", total_tax="4.00", sku="CANVAS-3040")
    for item, tax in ((mug, "5.70"), (canvas, "4.00")):
        item["taxes"] = [{"id": 2, "total": tax, "subtotal": tax}]
    return order_payload(
        woo_id, line_items=[mug, canvas], fee_lines=[], total="64.08", total_tax="10.68",
        shipping_lines=[{"id": SHIPPING, "method_title": "Flat rate", "method_id": "flat_rate", "instance_id": "1",
                         "total": "4.90", "total_tax": "0.98", "taxes": [{"id": 2, "total": "0.98", "subtotal": ""}],
                         "meta_data": []}],
    )


def mirrored(woo, store):
    woo.add_orders([payload()])
    orders_upsert(store=store, payloads=[payload()], source=EventSource.IMPORT)
    return Order.objects.get(store=store, woo_id=17)


def webhook(woo, store, **changes):
    """WooCommerce's order.updated delivery of the order as the shop has it now, applied by the mirror."""
    woo.touch(17, **changes)
    return orders_upsert(store=store, payloads=[copy.deepcopy(woo.orders[17])], source=EventSource.WEBHOOK)


def two_mugs_refunded_in_the_shop(woo):
    return woo.refund_in_shop(17, lines={MUG: (2, "19.00", "3.80")}, reason="2 mugs broken", when=REFUNDED_AT)


def refund(order, user, amounts=None, quantities=None, **kwargs):
    return order_refund(order=order, amounts=amounts or {}, quantities=quantities or {}, reason=kwargs.pop("reason", ""),
                        restock=kwargs.pop("restock", False), user=user, **kwargs)


def shop_requests(woo):
    return [(method, path) for method, path, _ in woo.requests]


def woo_refund_events(order):
    return list(OrderEvent.objects.filter(order=order, type=EventType.REFUNDED_IN_WOO).order_by("pk")
                .values_list("source", "message", "data"))


# -- the lines are fetched after the commit ---------------------------------------------------------------------


def test_refund_made_in_woocommerce_gets_its_lines_and_date_after_the_mirror_commits(
        woo, woo_store, django_capture_on_commit_callbacks):
    # Given an order of 3 mugs, 2 of which the shop's staff refund in WooCommerce
    order = mirrored(woo, woo_store)
    made_there = two_mugs_refunded_in_the_shop(woo)
    woo.requests.clear()

    # When WooCommerce's webhook (its JSON lists only the refund's id, reason and total) is mirrored
    with django_capture_on_commit_callbacks() as callbacks:
        webhook(woo, woo_store)

    # Then the refund is there, its money counted, its lines not known yet, and the shop not asked inside the
    # transaction
    mirrored_refund = Refund.objects.get(order=order)
    assert (mirrored_refund.woo_refund_id, mirrored_refund.amount, mirrored_refund.state) == (
        made_there["id"], Decimal("22.80"), RefundState.MIRRORED)
    assert (mirrored_refund.lines, mirrored_refund.lines_pending) == ([], True)
    assert refunded_so_far(order) == Decimal("22.80")
    assert woo.requests == []
    assert len(callbacks) == 1

    # When the transaction has committed and the queued task runs
    callbacks[0]()

    # Then the refund has the lines and the date WooCommerce gives
    assert shop_requests(woo) == [("GET", "orders/17/refunds")]
    mirrored_refund.refresh_from_db()
    assert mirrored_refund.lines == [{"line_id": MUG, "kind": "product", "name": "Photo mug", "quantity": 2,
                                      "amount": "22.80", "tax": "3.80", "tax_rate_id": 2}]
    assert (mirrored_refund.lines_pending, mirrored_refund.created_at) == (False, REFUNDED_AT)
    # and one mug is what is left on its line
    mug = refundable_items(order)[0]
    assert (mug.id, mug.remaining_quantity, mug.remaining_amount) == (MUG, 1, Decimal("11.40"))


def test_quantities_refunded_in_woocommerce_count_against_what_is_left(woo, woo_store, finance,
                                                                       django_capture_on_commit_callbacks):
    # Given 2 of the 3 mugs refunded in WooCommerce, its lines fetched
    order = mirrored(woo, woo_store)
    two_mugs_refunded_in_the_shop(woo)
    with django_capture_on_commit_callbacks(execute=True):
        webhook(woo, woo_store)

    # When finance asks to refund 3 mugs here
    with pytest.raises(OrderActionError) as raised:
        refund(order, finance, quantities={MUG: "3"})

    # Then only one is left, and that one can still be refunded, with the money left on its line
    assert raised.value.errors == {f"quantity_{MUG}": "Only 1 left to refund on this line."}
    assert Refund.objects.filter(order=order).count() == 1
    last = refund(order, finance, quantities={MUG: "1"})
    assert (last.amount, last.lines[0]["quantity"]) == (Decimal("11.40"), 1)


def test_until_the_lines_are_known_quantities_are_refused_and_the_money_counts(woo, woo_store, finance,
                                                                              django_capture_on_commit_callbacks):
    # Given a refund made in WooCommerce whose lines could not be fetched (the shop was down)
    order = mirrored(woo, woo_store)
    two_mugs_refunded_in_the_shop(woo)
    woo.fail_next(1, status=503)
    with django_capture_on_commit_callbacks(execute=True):
        webhook(woo, woo_store)
    assert Refund.objects.get(order=order).lines_pending is True

    # When finance refunds a quantity, or more money than is left
    with pytest.raises(OrderActionError) as by_quantity:
        refund(order, finance, quantities={MUG: "1"})
    with pytest.raises(OrderActionError) as too_much:
        refund(order, finance, amounts={MUG: "34.20", CANVAS: "24.00"})

    # Then the quantity waits for the lines, and the money refunded in WooCommerce counts
    assert by_quantity.value.errors == {f"quantity_{MUG}": STILL_FETCHING}
    assert too_much.value.errors == {"__all__": "58.20 is more than the 41.28 that remains to refund."}
    assert (Refund.objects.count(), StorePush.objects.count()) == (1, 0)
    # while an amount alone can be refunded now
    assert refund(order, finance, amounts={CANVAS: "24.00"}).amount == Decimal("24.00")


def test_lines_not_fetched_are_asked_again_at_the_next_change_of_the_order(woo, woo_store, finance,
                                                                           django_capture_on_commit_callbacks):
    # Given a refund made in WooCommerce whose lines could not be fetched
    order = mirrored(woo, woo_store)
    two_mugs_refunded_in_the_shop(woo)
    woo.fail_next(1, status=503)
    with django_capture_on_commit_callbacks(execute=True):
        webhook(woo, woo_store)

    # When the order's next webhook is mirrored
    with django_capture_on_commit_callbacks(execute=True):
        webhook(woo, woo_store, customer_note="Please ring twice")

    # Then the lines are fetched this time, and the refund is on the timeline once
    made = Refund.objects.get(order=order)
    assert (made.lines_pending, [p["quantity"] for p in made.lines]) == (False, [2])
    assert len(woo_refund_events(order)) == 1
    assert refundable_items(order)[0].remaining_quantity == 1


def test_the_order_page_says_the_quantities_are_being_fetched_and_asks_again(
        woo, woo_store, admin_client, django_capture_on_commit_callbacks):
    # Given a refund made in WooCommerce whose lines could not be fetched
    order = mirrored(woo, woo_store)
    two_mugs_refunded_in_the_shop(woo)
    woo.fail_next(1, status=503)
    with django_capture_on_commit_callbacks(execute=True):
        webhook(woo, woo_store)
    woo.requests.clear()
    page = reverse("admin:fulfillment_order_change", args=[order.pk])

    # When staff open the order page
    with django_capture_on_commit_callbacks() as callbacks:
        response = admin_client.get(page)

    # Then the refund form says so, its quantities cannot be typed, and a fetch is queued
    assertContains(response, '<p class="help" id="refund-lines-pending">The quantities of a refund made in '
                             'WooCommerce are still being fetched', )
    assertContains(response, f'data-item="{MUG}" value="" data-left="3" disabled')
    assertContains(response, "quantities still being fetched from WooCommerce")
    assert len(callbacks) == 1
    # and opening it again within the minute queues no second one
    with django_capture_on_commit_callbacks() as again:
        admin_client.get(page)
    assert again == []

    # When the queued fetch runs
    callbacks[0]()

    # Then the page shows what is left without the warning
    assert shop_requests(woo) == [("GET", "orders/17/refunds")]
    response = admin_client.get(page)
    assertNotContains(response, 'id="refund-lines-pending"')
    assertContains(response, f'data-item="{MUG}" value="" data-left="1" aria-label')


# -- refunds made here that the mirror sees first ------------------------------------------------------------


def lose_the_next_refund_answer(monkeypatch, woo):
    """The shop makes the next refund, but a proxy answers 504 instead of WooCommerce's answer."""
    original = woo.add_refund
    calls = []

    def made_then_lost(order, body):
        calls.append(body)
        answer = original(order, body)
        if len(calls) > 1:
            return answer
        return Response("<html><body><h1>504 Gateway Time-out</h1></body></html>", status=504,
                        content_type="text/html")

    monkeypatch.setattr(woo, "add_refund", made_then_lost)


def test_a_refund_of_ours_whose_answer_was_lost_is_recognised_by_the_fetch(woo, woo_store, finance, monkeypatch,
                                                                           django_capture_on_commit_callbacks):
    # Given a refund made here whose answer the shop lost
    order = mirrored(woo, woo_store)
    lose_the_next_refund_answer(monkeypatch, woo)
    with django_capture_on_commit_callbacks(execute=True):
        ours = refund(order, finance, quantities={MUG: "1"})
    assert StorePush.objects.get().state == PushState.RETRYING

    # When WooCommerce's webhook, carrying the refund, arrives before the retry
    with django_capture_on_commit_callbacks(execute=True):
        webhook(woo, woo_store)

    # Then the fetch reads our id on the shop's refund: ours takes the shop's id, no copy is left, and the timeline
    # does not call it a refund made in WooCommerce
    assert list(order.refunds.values_list("pk", "state", "woo_refund_id", "amount")) == [
        (ours.pk, RefundState.PUSHED, 5001, Decimal("11.40"))]
    assert refunded_so_far(order) == Decimal("11.40")
    assert woo_refund_events(order) == []
    # and the retry of the push finds the refund made, without making a second
    assert pushes_dispatch(store_ids=[woo_store.pk], now=timezone.now() + timedelta(hours=1)) == {"sent": 1}
    assert len(woo.refunds[17]) == 1
    assert order.refunds.count() == 1


def test_a_refund_made_in_woocommerce_that_looks_like_ours_gets_its_event_from_the_fetch(
        woo, woo_store, finance, django_capture_on_commit_callbacks):
    # Given a refund of one mug made here, not sent yet
    order = mirrored(woo, woo_store)
    ours = refund(order, finance, quantities={MUG: "1"})

    # When the shop's staff refund the same amount in WooCommerce meanwhile, and its webhook is mirrored
    made_there = woo.refund_in_shop(17, lines={CANVAS: (0, "9.50", "1.90")}, reason="goodwill", when=REFUNDED_AT)
    with django_capture_on_commit_callbacks(execute=True):
        webhook(woo, woo_store)

    # Then, once the fetch shows it is not ours, it is on the timeline as a refund made in WooCommerce
    assert woo_refund_events(order) == [(
        EventSource.WEBHOOK, f"11.40 EUR (WooCommerce refund {made_there['id']}) — goodwill",
        {"refund_id": Refund.objects.get(woo_refund_id=made_there["id"]).pk, "woo_refund_id": made_there["id"],
         "amount": "11.40", "currency": "EUR", "reason": "goodwill"})]
    assert sorted(order.refunds.values_list("state", "woo_refund_id")) == [
        (RefundState.MIRRORED, made_there["id"]), (RefundState.PENDING, None)]
    ours.refresh_from_db()
    assert ours.state == RefundState.PENDING


# -- what WooCommerce's list says ------------------------------------------------------------------------------


def test_a_refund_no_longer_in_woocommerce_stops_waiting_for_its_lines(woo, woo_store, finance,
                                                                       django_capture_on_commit_callbacks):
    # Given an order whose JSON lists a refund the shop's refunds list does not have (deleted there since)
    shop = payload()
    shop["refunds"] = [{"id": 900, "reason": "goodwill", "total": "-5.00"}]
    woo.add_orders([shop])

    # When it is mirrored and its refunds are fetched
    with django_capture_on_commit_callbacks(execute=True):
        orders_upsert(store=woo_store, payloads=[copy.deepcopy(shop)], source=EventSource.WEBHOOK)

    # Then its money still counts, its quantities are none, and quantities can be refunded again
    order = Order.objects.get(woo_id=17)
    assert list(order.refunds.values_list("amount", "lines", "lines_pending")) == [(Decimal("5.00"), [], False)]
    assert refund(order, finance, quantities={MUG: "3"}).amount == Decimal("34.20")


def test_refund_lines_without_the_refunded_item_are_matched_by_their_product(woo, woo_store,
                                                                             django_capture_on_commit_callbacks):
    # Given a shop whose refund lines do not say which order item they took back
    order = mirrored(woo, woo_store)
    made_there = woo.refund_in_shop(17, lines={CANVAS: (1, "20.00", "4.00"), SHIPPING: (0, "4.90", "0.98")})
    for group in ("line_items", "shipping_lines"):
        for item in made_there[group]:
            item["meta_data"] = []

    # When its webhook is mirrored and the lines fetched
    with django_capture_on_commit_callbacks(execute=True):
        webhook(woo, woo_store)

    # Then the canvas line (the only one of that product) and the only shipping line are the ones refunded
    assert Refund.objects.get(order=order).lines == [
        {"line_id": CANVAS, "kind": "product", "name": "Canvas print", "quantity": 1, "amount": "24.00",
         "tax": "4.00", "tax_rate_id": 2},
        {"line_id": SHIPPING, "kind": "shipping", "name": "Flat rate", "quantity": 0, "amount": "5.88", "tax": "0.98",
         "tax_rate_id": 2},
    ]
    assert [i.remaining_quantity for i in refundable_items(order)[:2]] == [3, 0]


def test_the_captured_refund_of_a_real_shop_maps_to_its_lines_and_date():
    # Given the answer of a real WooCommerce 9.9 shop for a refund of 3 items
    detail = map_refund_detail(SAMPLE_REFUND)

    # Then the refund's own date and the item it took back are read
    assert (detail.woo_refund_id, detail.created_at, detail.amount, detail.reason) == (
        41, REFUNDED_AT, Decimal("28.50"), "demo refund (api_refund=false)")
    assert detail.lines == [MappedRefundLine(refunded_item_id=6, kind="product", name="Demo product DEMO-001",
                                             product_id=11, variation_id=0, quantity=3, amount=Decimal("28.50"),
                                             tax=Decimal("0.00"), tax_rate_id=None)]


# -- the mirror's events and cost ----------------------------------------------------------------------------


def test_each_refund_made_in_woocommerce_is_on_the_timeline_once(woo, woo_store,
                                                                 django_capture_on_commit_callbacks):
    # Given an order refunded twice in WooCommerce
    order = mirrored(woo, woo_store)
    first = two_mugs_refunded_in_the_shop(woo)
    second = woo.refund_in_shop(17, lines={SHIPPING: (0, "4.90", "0.98")})

    # When its webhook is mirrored, then delivered again
    with django_capture_on_commit_callbacks(execute=True):
        webhook(woo, woo_store)
        webhook(woo, woo_store)

    # Then each refund has one event, from the webhook, with its amount, currency and reason
    refund_pk = dict(order.refunds.values_list("woo_refund_id", "pk"))
    assert sorted(woo_refund_events(order), key=lambda e: e[2]["woo_refund_id"]) == [
        (EventSource.WEBHOOK, f"22.80 EUR (WooCommerce refund {first['id']}) — 2 mugs broken",
         {"refund_id": refund_pk[first["id"]], "woo_refund_id": first["id"], "amount": "22.80", "currency": "EUR",
          "reason": "2 mugs broken"}),
        (EventSource.WEBHOOK, f"5.88 EUR (WooCommerce refund {second['id']})",
         {"refund_id": refund_pk[second["id"]], "woo_refund_id": second["id"], "amount": "5.88", "currency": "EUR",
          "reason": ""}),
    ]
    assert OrderEvent.objects.get(order=order, type=EventType.REFUNDED_IN_WOO, data__woo_refund_id=first["id"]) \
        .get_type_display() == "Refunded in WooCommerce"


@pytest.mark.parametrize("source, fetches", [(EventSource.RECONCILE, 5), (EventSource.IMPORT, 0)])
def test_a_page_of_100_orders_with_new_refunds_queues_a_few_fetches_in_a_bounded_number_of_queries(
        woo_store, django_assert_max_num_queries, django_capture_on_commit_callbacks, source, fetches):
    # Given 100 orders, each refunded once in WooCommerce
    page = [order_payload(i, refunds=[{"id": 9000 + i, "reason": "", "total": "-1.00"}]) for i in range(1, 101)]

    # When they are mirrored
    with django_capture_on_commit_callbacks() as callbacks:
        with django_assert_max_num_queries(16):  # the four followers one query each
            orders_upsert(store=woo_store, payloads=page, source=source)

    # Then each refund has its event; a reconcile has 5 tasks of 20 orders fetch the lines after the commit, an
    # import of the shop's history none (they are fetched when an order's page is opened or the order changes)
    assert OrderEvent.objects.filter(type=EventType.REFUNDED_IN_WOO, source=source).count() == 100
    assert Refund.objects.filter(lines_pending=True).count() == 100
    assert len(callbacks) == fetches
