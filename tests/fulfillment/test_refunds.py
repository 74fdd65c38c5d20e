import copy
import re
import time
from datetime import timedelta
from decimal import Decimal

import pytest
from django.urls import reverse
from django.utils import timezone
from pytest_django.asserts import assertContains
from werkzeug.wrappers import Response

from accounting.choices import ExportState
from accounting.models import AccountingExport, ExportRule
from fulfillment.choices import EventSource, EventType, PushKind, PushState, RefundState
from fulfillment.models import Order, OrderEvent, Refund, StorePush
from fulfillment.services.countdown import orders_submit_due
from fulfillment.services.mirror import orders_upsert
from fulfillment.errors import OrderActionError
from fulfillment.pushes import PushError
from fulfillment.services.push_dispatch import push_retry, pushes_dispatch
from fulfillment.pushes.refunds import refund_request_body
from fulfillment.selectors import refundable_items, refunded_so_far
from fulfillment.services.refunds import REFUND_META_KEY, order_refund
from tests.factories import UserFactory
from tests.woo_payloads import line_item, order_payload

MUG, CANVAS, SHIPPING, GIFT_WRAP = 171, 172, 173, 174
REFUSED = {"code": "woocommerce_rest_cannot_create_order_refund", "message": "Invalid refund amount.", "data": 400}


@pytest.fixture
def finance(db):
    from django.contrib.auth.models import Group

    user = UserFactory(username="fiona")
    user.groups.add(Group.objects.get(name="finance"))
    return user


def taxed(item, tax, rate_id=2):
    item["taxes"] = [{"id": rate_id, "total": tax, "subtotal": tax}]
    return item


def eur_payload(woo_id=17, refunds=None, status="processing"):
    """3 mugs (34.20 with VAT), a canvas (24.00), flat-rate shipping (5.88) and gift wrap (2.40): 66.48 EUR."""
    return order_payload(
        woo_id, status=status, country="AT", refunds=refunds,
        line_items=[
            taxed(line_item(MUG, name="Photo mug", quantity=3, total="28.50", total_tax="5.70", sku="MUG-11"), "5.70"),
            taxed(line_item(CANVAS, name="Canvas print", product_id=12, variation_id=31, total="20.00",
                            total_tax="4.00", sku="CANVAS-3040",
                            meta=[{"id": 1, "key": "pa_size", "value": "30x40", "display_key": "Size",
                                   "display_value": "30 × 40 cm"}]), "4.00"),
        ],
        shipping_lines=[{"id": SHIPPING, "method_title": "Flat rate", "method_id": "flat_rate", "instance_id": "1",
                         "total": "4.90", "total_tax": "0.98", "taxes": [{"id": 2, "total": "0.98", "subtotal": ""}],
                         "meta_data": []}],
        fee_lines=[{"id": GIFT_WRAP, "name": "Gift wrap", "tax_class": "", "tax_status": "taxable", "amount": "2",
                    "total": "2.00", "total_tax": "0.40", "taxes": [{"id": 2, "total": "0.4", "subtotal": ""}],
                    "meta_data": []}],
        total="66.48", total_tax="11.08", shipping_total="4.90", shipping_tax="0.98",
    )


def jpy_payload(woo_id=18):
    """Two prints of 1,650 JPY each (150 of it tax): 3,300 JPY, no decimals."""
    return order_payload(
        woo_id, currency="JPY", country="JP", city="Osaka",
        line_items=[taxed(line_item(181, name="A4 print", quantity=2, total="3000", total_tax="300", sku="PRINT-A4"),
                          "300", rate_id=5)],
        shipping_lines=[], fee_lines=[], total="3300", total_tax="300", shipping_total="0", shipping_tax="0",
    )


def mirrored(woo, store, payload):
    """The order in the fake shop and, identical, in our mirror."""
    woo.add_orders([payload])
    orders_upsert(store=store, payloads=[copy.deepcopy(payload)], source=EventSource.IMPORT)
    return Order.objects.get(store=store, woo_id=payload["id"])


def refund(order, user, amounts=None, quantities=None, reason="", restock=False, api_refund=False):
    return order_refund(order=order, amounts=amounts or {}, quantities=quantities or {}, reason=reason,
                        restock=restock, user=user, api_refund=api_refund)


def event_types(order):
    return sorted(OrderEvent.objects.filter(order=order).values_list("type", flat=True))


def shop_requests(woo):
    return [(method, path) for method, path, _ in woo.requests]


def record_bodies(monkeypatch, woo):
    """The JSON bodies of refunds POSTed to the fake shop, as it received them."""
    bodies = []
    original = woo.add_refund

    def recording(order, body):
        bodies.append(copy.deepcopy(body))
        return original(order, body)

    monkeypatch.setattr(woo, "add_refund", recording)
    return bodies


def later(minutes=60):
    return timezone.now() + timedelta(minutes=minutes)


# -- what is refundable ------------------------------------------------------------------------------


def test_refundable_items_are_the_lines_shipping_and_fees_with_tax(woo, woo_store):
    # Given an order with two product lines, shipping and a fee
    order = mirrored(woo, woo_store, eur_payload())

    # When its refundable items are listed
    items = refundable_items(order)

    # Then each carries its gross total, tax and tax rate
    assert [(i.id, i.kind, i.name, i.quantity, i.total, i.tax, i.tax_rate_id) for i in items] == [
        (MUG, "product", "Photo mug", 3, Decimal("34.20"), Decimal("5.70"), 2),
        (CANVAS, "product", "Canvas print", 1, Decimal("24.00"), Decimal("4.00"), 2),
        (SHIPPING, "shipping", "Flat rate", 0, Decimal("5.88"), Decimal("0.98"), 2),
        (GIFT_WRAP, "fee", "Gift wrap", 0, Decimal("2.40"), Decimal("0.40"), 2),
    ]
    assert [(i.remaining_quantity, i.remaining_amount) for i in items] == [
        (3, Decimal("34.20")), (1, Decimal("24.00")), (0, Decimal("5.88")), (0, Decimal("2.40")),
    ]
    assert refunded_so_far(order) == Decimal("0")


# -- a refund is recorded ------------------------------------------------------------------------------


def test_refund_of_a_quantity_and_an_amount_on_a_line_is_recorded_with_its_event_and_push(
        woo, woo_store, finance, django_capture_on_commit_callbacks):
    # Given a processing order
    order = mirrored(woo, woo_store, eur_payload())

    # When finance refunds one mug at its price, restocked, with a reason
    with django_capture_on_commit_callbacks() as callbacks:
        made = refund(order, finance, amounts={MUG: "11.40"}, quantities={MUG: "1"}, reason="  Arrived broken ",
                      restock=True)

    # Then the refund is recorded with its breakdown, waiting to be sent
    made.refresh_from_db()
    assert (made.order, made.amount, made.reason, made.restock, made.api_refund) == (
        order, Decimal("11.40"), "Arrived broken", True, False)
    assert (made.state, made.woo_refund_id, made.created_by) == (RefundState.PENDING, None, finance)
    assert made.lines == [{"line_id": MUG, "kind": "product", "name": "Photo mug", "quantity": 1, "amount": "11.40",
                           "tax": "1.90", "tax_rate_id": 2}]
    # with an event saying who did what
    event = OrderEvent.objects.get(type=EventType.REFUNDED)
    assert (event.user, event.source, event.data) == (
        finance, EventSource.STAFF, {"refund_id": made.pk, "amount": "11.40", "restock": True})
    assert event.message == "11.40 EUR (1 × Photo mug) — Arrived broken · restocked"
    # and an outbox push sent after the commit
    push = StorePush.objects.get()
    assert (push.kind, push.payload, push.state, push.created_by) == (
        PushKind.REFUND, {"refund_id": made.pk}, PushState.PENDING, finance)
    assert len(callbacks) == 1
    # a partial refund leaves the status alone
    order.refresh_from_db()
    assert order.status == "processing"
    assert refunded_so_far(order) == Decimal("11.40")
    assert woo.requests == []


def test_amount_is_filled_in_from_the_quantity(woo, woo_store, finance):
    # Given an order with 3 mugs at 11.40 each (VAT included)
    order = mirrored(woo, woo_store, eur_payload())

    # When finance refunds 2 mugs without typing an amount
    made = refund(order, finance, quantities={MUG: "2"})

    # Then the amount is 2 × 11.40, its tax in proportion
    assert made.amount == Decimal("22.80")
    assert made.lines == [{"line_id": MUG, "kind": "product", "name": "Photo mug", "quantity": 2, "amount": "22.80",
                           "tax": "3.80", "tax_rate_id": 2}]


def test_shipping_and_fee_lines_are_refunded_by_amount(woo, woo_store, finance):
    # Given an order with shipping and a gift-wrap fee
    order = mirrored(woo, woo_store, eur_payload())

    # When finance refunds the shipping and the fee, amounts typed with a decimal comma
    made = refund(order, finance, amounts={SHIPPING: "5,88", GIFT_WRAP: "1.20"}, reason="late delivery")

    # Then both are in the refund, without quantities
    assert made.amount == Decimal("7.08")
    assert made.lines == [
        {"line_id": SHIPPING, "kind": "shipping", "name": "Flat rate", "quantity": 0, "amount": "5.88",
         "tax": "0.98", "tax_rate_id": 2},
        {"line_id": GIFT_WRAP, "kind": "fee", "name": "Gift wrap", "quantity": 0, "amount": "1.20",
         "tax": "0.20", "tax_rate_id": 2},
    ]
    assert OrderEvent.objects.get(type=EventType.REFUNDED).message == \
        "7.08 EUR (Flat rate, Gift wrap) — late delivery"


def test_last_units_of_a_line_take_what_is_left_of_it(woo, woo_store, finance):
    # Given a line of 3 pens for 10.00 (3.333… each)
    payload = eur_payload()
    payload["line_items"] = [taxed(line_item(MUG, name="Pen", quantity=3, total="10.00", total_tax="0.00"), "0.00")]
    payload.update(shipping_lines=[], fee_lines=[], total="10.00", total_tax="0.00")
    order = mirrored(woo, woo_store, payload)

    # When finance refunds them one by one, by quantity only
    amounts = [refund(order, finance, quantities={MUG: "1"}).amount for _ in range(3)]

    # Then no cent is lost to rounding: the last one takes the rest and the order is refunded in full
    assert amounts == [Decimal("3.33"), Decimal("3.33"), Decimal("3.34")]
    order.refresh_from_db()
    assert order.status == "refunded"
    assert refunded_so_far(order) == Decimal("10.00")


def test_jpy_refund_has_no_decimals(woo, woo_store, finance, monkeypatch, django_capture_on_commit_callbacks):
    # Given an order in yen
    order = mirrored(woo, woo_store, jpy_payload())
    bodies = record_bodies(monkeypatch, woo)

    # When finance refunds one of the two prints by quantity
    with django_capture_on_commit_callbacks(execute=True):
        made = refund(order, finance, quantities={181: "1"})

    # Then amount and tax are whole yen, here and in what the shop receives
    assert made.lines == [{"line_id": 181, "kind": "product", "name": "A4 print", "quantity": 1, "amount": "1650",
                           "tax": "150", "tax_rate_id": 5}]
    assert bodies[0]["amount"] == "1650"
    assert bodies[0]["line_items"] == [{"id": 181, "quantity": 1, "refund_total": "1500",
                                        "refund_tax": [{"id": 5, "refund_total": "150"}]}]


def test_full_refund_makes_the_order_refunded_here_at_once(woo, woo_store, finance,
                                                            django_capture_on_commit_callbacks):
    # Given a processing order of 66.48
    order = mirrored(woo, woo_store, eur_payload())

    # When finance refunds every line, the shipping and the fee
    with django_capture_on_commit_callbacks(execute=True):
        made = refund(order, finance, quantities={MUG: "3", CANVAS: "1"}, amounts={SHIPPING: "5.88", GIFT_WRAP: "2.40"},
                      reason="order lost")

    # Then the order is refunded here, with a status event by the same user
    assert made.amount == Decimal("66.48")
    order.refresh_from_db()
    assert order.status == "refunded"
    status_event = OrderEvent.objects.get(type=EventType.STATUS_CHANGED)
    assert (status_event.user, status_event.message, status_event.data) == (
        finance, "Processing → Refunded: fully refunded", {"before": "processing", "after": "refunded"})
    # and in the shop, by WooCommerce itself (no status push is sent)
    assert list(StorePush.objects.values_list("kind", flat=True)) == [PushKind.REFUND]
    assert woo.orders[17]["status"] == "refunded"
    assert woo.orders[17]["refunds"] == [{"id": 5001, "reason": "order lost", "total": "-66.48"}]


def test_nothing_remains_to_refund_after_a_full_refund(woo, woo_store, finance):
    # Given a fully refunded order
    order = mirrored(woo, woo_store, eur_payload())
    refund(order, finance, quantities={MUG: "3", CANVAS: "1"}, amounts={SHIPPING: "5.88", GIFT_WRAP: "2.40"})

    # When finance tries to refund the shipping again
    with pytest.raises(OrderActionError) as raised:
        refund(order, finance, amounts={SHIPPING: "1.00"})

    # Then it is refused on the line
    assert raised.value.errors == {f"amount_{SHIPPING}": "At most 0.00 is left to refund on this line."}
    assert Refund.objects.count() == 1


# -- refused refunds write nothing ------------------------------------------------------------------------


@pytest.mark.parametrize(("amounts", "quantities", "errors"), [
    ({MUG: "34.21"}, {}, {f"amount_{MUG}": "At most 34.20 is left to refund on this line."}),
    ({}, {MUG: "4"}, {f"quantity_{MUG}": "Only 3 left to refund on this line."}),
    ({}, {SHIPPING: "1"}, {f"quantity_{SHIPPING}": "Only 0 left to refund on this line."}),
    ({CANVAS: "-5.00"}, {}, {f"amount_{CANVAS}": "An amount cannot be negative."}),
    ({}, {MUG: "-1"}, {f"quantity_{MUG}": "Enter a whole number of items, 0 or more."}),
    ({}, {MUG: "1.5"}, {f"quantity_{MUG}": "Enter a whole number of items, 0 or more."}),
    ({}, {MUG: "two"}, {f"quantity_{MUG}": "Enter a whole number of items, 0 or more."}),
    ({CANVAS: "ten"}, {}, {f"amount_{CANVAS}": "Enter an amount such as 12.50."}),
    ({CANVAS: "NaN"}, {}, {f"amount_{CANVAS}": "Enter an amount such as 12.50."}),
    ({CANVAS: "Infinity"}, {}, {f"amount_{CANVAS}": "Enter an amount such as 12.50."}),
    ({CANVAS: "1.005"}, {}, {f"amount_{CANVAS}": "EUR amounts have at most 2 decimals."}),
    ({}, {}, {"__all__": "Nothing to refund: enter a quantity or an amount on at least one line."}),
    ({MUG: "0", CANVAS: "0.00"}, {MUG: "0"}, {"__all__": "Nothing to refund: enter a quantity or an amount on at "
                                                        "least one line."}),
    ({MUG: "  "}, {MUG: ""}, {"__all__": "Nothing to refund: enter a quantity or an amount on at least one line."}),
    ({MUG: "-1", CANVAS: "x"}, {MUG: "9"}, {f"amount_{MUG}": "An amount cannot be negative.",
                                          f"quantity_{MUG}": "Only 3 left to refund on this line.",
                                          f"amount_{CANVAS}": "Enter an amount such as 12.50."}),
])
def test_wrong_refund_is_refused_per_field_and_writes_nothing(woo, woo_store, finance, amounts, quantities, errors,
                                                              django_capture_on_commit_callbacks):
    # Given an order
    order = mirrored(woo, woo_store, eur_payload())

    # When finance asks for a refund that is not possible
    with django_capture_on_commit_callbacks(execute=True) as callbacks:
        with pytest.raises(OrderActionError) as raised:
            refund(order, finance, amounts=amounts, quantities=quantities, reason="broken", restock=True)

    # Then each wrong field has its message, and nothing is written or sent
    assert str(raised.value) == "The refund was not made."
    assert raised.value.errors == errors
    assert Refund.objects.count() == 0
    assert StorePush.objects.count() == 0
    assert event_types(order) == [EventType.CREATED]
    assert callbacks == []
    assert woo.requests == []
    order.refresh_from_db()
    assert order.status == "processing"


@pytest.mark.parametrize(("amount", "error"), [
    ("100.5", "JPY amounts have at most 0 decimals."),
    ("0.01", "JPY amounts have at most 0 decimals."),
    ("3301", "At most 3300 is left to refund on this line."),
    ("-1", "An amount cannot be negative."),
])
def test_yen_amounts_are_whole(woo, woo_store, finance, amount, error):
    # Given an order in yen
    order = mirrored(woo, woo_store, jpy_payload())

    # When finance types an amount
    with pytest.raises(OrderActionError) as raised:
        refund(order, finance, amounts={181: amount})

    # Then it is refused on the amount field
    assert raised.value.errors == {"amount_181": error}
    assert (Refund.objects.count(), StorePush.objects.count()) == (0, 0)


def test_quantity_left_counts_earlier_refunds(woo, woo_store, finance):
    # Given 2 of the 3 mugs already refunded
    order = mirrored(woo, woo_store, eur_payload())
    refund(order, finance, quantities={MUG: "2"})

    # When finance asks for 2 more
    with pytest.raises(OrderActionError) as raised:
        refund(order, finance, quantities={MUG: "2"})

    # Then only one is left; the last one can still be refunded
    assert raised.value.errors == {f"quantity_{MUG}": "Only 1 left to refund on this line."}
    assert Refund.objects.count() == 1
    assert refund(order, finance, quantities={MUG: "1"}).amount == Decimal("11.40")


def test_money_left_on_a_line_counts_earlier_refunds(woo, woo_store, finance):
    # Given 30.00 of the mugs' 34.20 refunded as a goodwill amount
    order = mirrored(woo, woo_store, eur_payload())
    refund(order, finance, amounts={MUG: "30.00"})

    # When finance then refunds a mug by quantity (11.40 each)
    with pytest.raises(OrderActionError) as raised:
        refund(order, finance, quantities={MUG: "1"})

    # Then the line cannot give more than the 4.20 left on it
    assert raised.value.errors == {f"amount_{MUG}": "At most 4.20 is left to refund on this line."}
    assert Refund.objects.count() == 1


def test_money_left_on_the_order_counts_refunds_mirrored_from_the_shop(woo, woo_store, finance):
    # Given 60.00 refunded in WooCommerce itself (no breakdown per line)
    order = mirrored(woo, woo_store, eur_payload(refunds=[{"id": 900, "reason": "goodwill", "total": "-60.00"}]))
    assert list(order.refunds.values_list("state", "amount")) == [(RefundState.MIRRORED, Decimal("60.00"))]

    # When finance refunds the canvas (24.00)
    with pytest.raises(OrderActionError) as raised:
        refund(order, finance, amounts={CANVAS: "24.00"})

    # Then only 6.48 is left on the order
    assert raised.value.errors == {"__all__": "24.00 is more than the 6.48 that remains to refund."}
    assert order.refunds.count() == 1
    assert StorePush.objects.count() == 0
    # and the 6.48 left is a full refund
    refund(order, finance, amounts={CANVAS: "6.48"})
    order.refresh_from_db()
    assert order.status == "refunded"


def test_gateway_refund_is_refused_when_the_store_does_not_allow_it(woo, woo_store, finance):
    # Given a store that returns money by hand only
    order = mirrored(woo, woo_store, eur_payload())
    assert woo_store.allow_gateway_refunds is False

    # When finance asks for a refund through the payment gateway
    with pytest.raises(OrderActionError) as raised:
        refund(order, finance, quantities={MUG: "1"}, api_refund=True)

    # Then it is refused and nothing is written
    assert raised.value.errors == {"api_refund": "This store does not allow refunds through the payment gateway."}
    assert (Refund.objects.count(), StorePush.objects.count()) == (0, 0)
    assert event_types(order) == [EventType.CREATED]


# -- the push to WooCommerce ---------------------------------------------------------------------------


def test_refund_is_pushed_without_the_gateway_with_lines_taxes_and_our_id(woo, woo_store, finance, monkeypatch,
                                                                           django_capture_on_commit_callbacks):
    # Given an order
    order = mirrored(woo, woo_store, eur_payload())
    bodies = record_bodies(monkeypatch, woo)

    # When finance refunds a mug (restocked) and the shipping, and the transaction commits
    with django_capture_on_commit_callbacks(execute=True):
        made = refund(order, finance, quantities={MUG: "1"}, amounts={SHIPPING: "5.88"}, reason="broken mug",
                      restock=True)

    # Then the shop received the refund: no gateway, restock, each line with its net and tax
    assert shop_requests(woo) == [("POST", "orders/17/refunds")]
    assert bodies == [{
        "amount": "17.28", "reason": "broken mug", "api_refund": False, "api_restock": True,
        "line_items": [
            {"id": MUG, "quantity": 1, "refund_total": "9.50", "refund_tax": [{"id": 2, "refund_total": "1.90"}]},
            {"id": SHIPPING, "quantity": 0, "refund_total": "4.90",
             "refund_tax": [{"id": 2, "refund_total": "0.98"}]},
        ],
        "meta_data": [{"key": REFUND_META_KEY, "value": str(made.pk)}],
    }]
    shop_refund = woo.refunds[17][0]
    assert (shop_refund["id"], shop_refund["amount"], shop_refund["refunded_payment"]) == (5001, "17.28", False)
    # and the refund here knows its WooCommerce id
    made.refresh_from_db()
    assert (made.woo_refund_id, made.state) == (5001, RefundState.PUSHED)
    push = StorePush.objects.get()
    assert (push.state, push.attempts, push.last_error) == (PushState.SENT, 1, "")
    assert push.response["id"] == 5001
    assert OrderEvent.objects.get(type=EventType.PUSH_SENT).message == "Refund sent to WooCommerce (attempt 1)"


def test_refund_body_without_restock_or_tax_omits_refund_tax(woo, woo_store, finance):
    # Given a refund of a fee line without tax rate and without restock
    payload = eur_payload()
    payload["fee_lines"][0].update(total_tax="0.00", taxes=[])
    payload["total"] = "66.08"
    order = mirrored(woo, woo_store, payload)
    made = refund(order, finance, amounts={GIFT_WRAP: "2.00"})

    # When its request body is built
    body = refund_request_body(Refund.objects.select_related("order").get(pk=made.pk))

    # Then the line has no refund_tax and nothing is restocked
    assert body == {"amount": "2.00", "reason": "", "api_refund": False, "api_restock": False,
                    "line_items": [{"id": GIFT_WRAP, "quantity": 0, "refund_total": "2.00"}],
                    "meta_data": [{"key": REFUND_META_KEY, "value": str(made.pk)}]}


@pytest.mark.parametrize("staff_ask", [True, False])
def test_gateway_refund_only_when_the_store_allows_it_and_staff_ask(woo, woo_store, finance, monkeypatch,
                                                                    django_capture_on_commit_callbacks, staff_ask):
    # Given a store that allows gateway refunds
    woo_store.allow_gateway_refunds = True
    woo_store.save(update_fields=["allow_gateway_refunds"])
    order = mirrored(woo, woo_store, eur_payload())
    bodies = record_bodies(monkeypatch, woo)

    # When finance refunds, asking for the gateway or not
    with django_capture_on_commit_callbacks(execute=True):
        made = refund(order, finance, quantities={CANVAS: "1"}, api_refund=staff_ask)

    # Then api_refund is what staff asked
    assert made.api_refund is staff_ask
    assert bodies[0]["api_refund"] is staff_ask
    assert woo.refunds[17][0]["refunded_payment"] is staff_ask


def test_refund_refused_by_woocommerce_fails_the_push_and_no_longer_counts(woo, woo_store, finance,
                                                                           django_capture_on_commit_callbacks):
    # Given a shop that refuses the next refund (HTTP 500 carrying "data": 400)
    order = mirrored(woo, woo_store, eur_payload())
    woo.fail_next(1, status=500, body=REFUSED)

    # When finance refunds the canvas
    with django_capture_on_commit_callbacks(execute=True):
        made = refund(order, finance, quantities={CANVAS: "1"})

    # Then the push failed for good, with WooCommerce's reason, and is shown on the timeline
    push = StorePush.objects.get()
    reason = ("POST orders/17/refunds: HTTP 500 woocommerce_rest_cannot_create_order_refund: "
              "Invalid refund amount.")
    assert (push.state, push.attempts, push.last_error) == (PushState.FAILED, 1, reason)
    failed = OrderEvent.objects.get(type=EventType.PUSH_FAILED)
    assert failed.message == f"Refund not accepted by WooCommerce: {reason}"
    # the refund is marked failed and what it asked is refundable again
    made.refresh_from_db()
    assert (made.state, made.woo_refund_id) == (RefundState.FAILED, None)
    assert refunded_so_far(order) == Decimal("0")
    assert [i.remaining_quantity for i in refundable_items(order)][:2] == [3, 1]
    assert woo.refunds == {}


def test_failed_refund_retried_by_staff_is_sent_once(woo, woo_store, finance, django_capture_on_commit_callbacks):
    # Given a refund WooCommerce refused
    order = mirrored(woo, woo_store, eur_payload())
    woo.fail_next(1, status=500, body=REFUSED)
    with django_capture_on_commit_callbacks(execute=True):
        made = refund(order, finance, quantities={CANVAS: "1"}, reason="wrong size")
    push = StorePush.objects.get()
    assert push.state == PushState.FAILED

    # When finance retries it once the cause is fixed
    with django_capture_on_commit_callbacks(execute=True):
        push_retry(push=push, user=finance)

    # Then the shop is asked first whether it made it, then it is made, once
    assert shop_requests(woo) == [("GET", "orders/17/refunds"), ("POST", "orders/17/refunds")]
    assert [(r["id"], r["amount"], r["reason"]) for r in woo.refunds[17]] == [(5001, "24.00", "wrong size")]
    push.refresh_from_db()
    assert (push.state, push.attempts, push.last_error) == (PushState.SENT, 2, "")
    made.refresh_from_db()
    assert (made.state, made.woo_refund_id) == (RefundState.PUSHED, 5001)
    assert refunded_so_far(order) == Decimal("24.00")
    assert Refund.objects.count() == 1
    assert OrderEvent.objects.filter(type=EventType.PUSH_SENT).count() == 1


def lose_the_answer(monkeypatch, woo, settings, how):
    """The shop makes the next refund, but its answer never reaches us (timeout or a proxy's error page)."""
    original = woo.add_refund
    calls = []
    if how == "timeout":
        settings.WOO_TIMEOUT_SECONDS = 0.5

    def made_then_lost(order, body):
        calls.append(body)
        answer = original(order, body)
        if len(calls) > 1:
            return answer
        if how == "timeout":
            time.sleep(1.0)
            return answer
        return Response("<html><body><h1>504 Gateway Time-out</h1></body></html>", status=504,
                        content_type="text/html")

    monkeypatch.setattr(woo, "add_refund", made_then_lost)
    return calls


@pytest.mark.parametrize("how", ["timeout", "gateway_error_page"])
def test_refund_made_by_the_shop_before_a_lost_answer_is_not_made_twice(woo, woo_store, finance, monkeypatch,
                                                                        settings, how,
                                                                        django_capture_on_commit_callbacks):
    # Given a shop that makes the refund but whose answer is lost
    order = mirrored(woo, woo_store, eur_payload())
    calls = lose_the_answer(monkeypatch, woo, settings, how)

    # When finance refunds a mug
    with django_capture_on_commit_callbacks(execute=True):
        made = refund(order, finance, quantities={MUG: "1"})

    # Then the push waits to be retried, while the shop already has the refund
    push = StorePush.objects.get()
    assert (push.state, push.attempts) == (PushState.RETRYING, 1)
    assert len(woo.refunds[17]) == 1

    # When the retry comes
    assert pushes_dispatch(store_ids=[woo_store.pk], now=later()) == {"sent": 1}

    # Then it finds the shop's refund by our id instead of making a second one
    assert len(calls) == 1
    assert len(woo.refunds[17]) == 1
    assert shop_requests(woo) == [("POST", "orders/17/refunds"), ("GET", "orders/17/refunds")]
    made.refresh_from_db()
    assert (made.state, made.woo_refund_id) == (RefundState.PUSHED, 5001)
    push.refresh_from_db()
    assert (push.state, push.attempts) == (PushState.SENT, 2)


def test_refund_pushed_by_a_worker_that_died_is_found_not_resent(woo, woo_store, finance, monkeypatch):
    # Given a refund whose push was claimed by a worker that died after WooCommerce made the refund
    order = mirrored(woo, woo_store, eur_payload())
    made = refund(order, finance, quantities={CANVAS: "1"})
    woo.add_refund(woo.orders[17], refund_request_body(Refund.objects.select_related("order").get(pk=made.pk)))
    StorePush.objects.update(state=PushState.SENDING, attempts=1, claimed_at=timezone.now() - timedelta(minutes=20))
    bodies = record_bodies(monkeypatch, woo)

    # When the pushes are dispatched again
    assert pushes_dispatch(store_ids=[woo_store.pk]) == {"sent": 1}

    # Then the shop is only asked, and the refund here takes the shop's id
    assert shop_requests(woo) == [("GET", "orders/17/refunds")]
    assert bodies == []
    assert len(woo.refunds[17]) == 1
    made.refresh_from_db()
    assert (made.state, made.woo_refund_id) == (RefundState.PUSHED, 5001)


def test_webhook_with_the_refund_before_the_push_result_leaves_one_refund(woo, woo_store, finance, monkeypatch,
                                                                          settings,
                                                                          django_capture_on_commit_callbacks):
    # Given a refund made in the shop whose answer was lost
    order = mirrored(woo, woo_store, eur_payload())
    lose_the_answer(monkeypatch, woo, settings, "gateway_error_page")
    with django_capture_on_commit_callbacks(execute=True):
        made = refund(order, finance, quantities={MUG: "1"})

    # When WooCommerce's order.updated webhook (carrying the refund) is applied before the retry
    orders_upsert(store=woo_store, payloads=[copy.deepcopy(woo.orders[17])], source=EventSource.WEBHOOK)
    assert sorted(order.refunds.values_list("state", "woo_refund_id")) == [
        (RefundState.MIRRORED, 5001), (RefundState.PENDING, None)]

    # and the retry then learns the shop made it
    pushes_dispatch(store_ids=[woo_store.pk], now=later())

    # Then a single refund is left: ours, with the shop's id
    assert list(order.refunds.values_list("pk", "state", "woo_refund_id", "amount")) == [
        (made.pk, RefundState.PUSHED, 5001, Decimal("11.40"))]
    assert refunded_so_far(order) == Decimal("11.40")
    # and later deliveries of the same order add no copy
    woo.touch(17)
    orders_upsert(store=woo_store, payloads=[copy.deepcopy(woo.orders[17])], source=EventSource.WEBHOOK)
    assert order.refunds.count() == 1


def test_webhook_after_the_push_result_adds_no_copy(woo, woo_store, finance, django_capture_on_commit_callbacks):
    # Given a refund pushed normally
    order = mirrored(woo, woo_store, eur_payload())
    with django_capture_on_commit_callbacks(execute=True):
        made = refund(order, finance, amounts={GIFT_WRAP: "2.40"})

    # When the shop's webhook with the refund arrives
    orders_upsert(store=woo_store, payloads=[copy.deepcopy(woo.orders[17])], source=EventSource.WEBHOOK)

    # Then the refund is not counted twice
    assert list(order.refunds.values_list("pk", "state", "woo_refund_id")) == [(made.pk, RefundState.PUSHED, 5001)]
    assert refunded_so_far(order) == Decimal("2.40")


def test_full_refund_refused_by_woocommerce_gives_the_order_its_status_back(woo, woo_store, finance,
                                                                           django_capture_on_commit_callbacks):
    # Given a processing order whose full refund the shop refuses
    order = mirrored(woo, woo_store, eur_payload())
    woo.fail_next(1, status=500, body=REFUSED)

    # When finance refunds everything
    with django_capture_on_commit_callbacks(execute=True):
        refund(order, finance, amounts={MUG: "34.20", CANVAS: "24.00", SHIPPING: "5.88", GIFT_WRAP: "2.40"})

    # Then the order is processing again here, as in the shop, and the timeline says why
    order.refresh_from_db()
    assert order.status == "processing"
    last = OrderEvent.objects.filter(type=EventType.STATUS_CHANGED).order_by("-pk").first()
    assert (last.data, last.source, last.message) == (
        {"before": "refunded", "after": "processing"}, EventSource.PUSH,
        "Refunded → Processing: WooCommerce refused the refund")


def test_a_refused_refund_made_again_cannot_be_retried_into_a_second_refund(woo, woo_store, finance,
                                                                           django_capture_on_commit_callbacks):
    # Given a full refund the shop refused, then made again by finance (and accepted)
    order = mirrored(woo, woo_store, eur_payload())
    woo.fail_next(1, status=500, body=REFUSED)
    full = {MUG: "34.20", CANVAS: "24.00", SHIPPING: "5.88", GIFT_WRAP: "2.40"}
    with django_capture_on_commit_callbacks(execute=True):
        refund(order, finance, amounts=full)
    refused = StorePush.objects.get(state=PushState.FAILED)
    with django_capture_on_commit_callbacks(execute=True):
        refund(order, finance, amounts=full, reason="again")

    # When someone retries the refused one
    with pytest.raises(PushError, match="no longer fits"):
        push_retry(push=refused, user=finance)

    # Then nothing was sent a second time and the refused one stays failed
    refused.refresh_from_db()
    assert refused.state == PushState.FAILED
    assert len(woo.refunds[17]) == 1
    assert refunded_so_far(order) == Decimal("66.48")


# -- a full refund drives what any status change drives ------------------------------------------------------


def in_app_payload(woo_id=17, status="processing"):
    """The order of eur_payload, its mugs made in our editor: an in-app order, submitted automatically."""
    payload = eur_payload(woo_id, status=status)
    payload["line_items"][0]["meta_data"] = [{"id": 91, "key": "_project_id", "value": f"prj_{woo_id}_mug",
                                              "display_key": "_project_id", "display_value": f"prj_{woo_id}_mug"}]
    return payload


@pytest.fixture
def counting_down(woo, woo_store, settings, tmp_path):
    """An in-app order whose countdown to automatic submission runs, of a store exporting refunded orders."""
    settings.ACCOUNTING_EXPORT_DIR = tmp_path / "exports"
    woo_store.auto_submit_minutes = 90
    woo_store.save(update_fields=["auto_submit_minutes"])
    ExportRule.objects.create(store=woo_store, statuses=["refunded"])
    payload = in_app_payload()
    woo.add_orders([payload])
    orders_upsert(store=woo_store, payloads=[copy.deepcopy(payload)], source=EventSource.WEBHOOK)
    order = Order.objects.get(store=woo_store, woo_id=17)
    assert order.countdown_due_at is not None
    return order


def countdown_messages(order):
    return list(OrderEvent.objects.filter(order=order, type=EventType.COUNTDOWN).order_by("pk")
                .values_list("source", "message"))


FULL = {MUG: "34.20", CANVAS: "24.00", SHIPPING: "5.88", GIFT_WRAP: "2.40"}


def test_full_refund_stops_the_countdown_and_the_order_goes_to_accounting(woo, woo_store, finance, counting_down,
                                                                          django_capture_on_commit_callbacks):
    # Given an in-app order counting down to its automatic submission
    order = counting_down

    # When finance refunds it in full
    with django_capture_on_commit_callbacks(execute=True):
        refund(order, finance, amounts=FULL, reason="customer cancelled")

    # Then the countdown stops, with its event
    order.refresh_from_db()
    assert (order.status, order.countdown_due_at, order.countdown_paused_seconds) == ("refunded", None, None)
    assert countdown_messages(order) == [(EventSource.WEBHOOK, "countdown started"),
                                         (EventSource.STAFF, "countdown stopped")]
    # and the refunded order is exported as the store's rule says
    export = AccountingExport.objects.get(order=order)
    assert (export.state, export.reference, export.attempts) == (ExportState.EXPORTED, f"{woo_store.slug}-17.json", 1)
    # When WooCommerce's own webhook then brings the status it set (no change for us)
    assert woo.orders[17]["status"] == "refunded"
    woo.touch(17)
    with django_capture_on_commit_callbacks(execute=True):
        orders_upsert(store=woo_store, payloads=[copy.deepcopy(woo.orders[17])], source=EventSource.WEBHOOK)

    # Then nothing starts again and nothing is ever submitted
    assert orders_submit_due(now=later(24 * 60)) == ([], [])
    order.refresh_from_db()
    assert (order.countdown_due_at, order.submit_status) == (None, "")
    assert countdown_messages(order) == [(EventSource.WEBHOOK, "countdown started"),
                                         (EventSource.STAFF, "countdown stopped")]
    assert AccountingExport.objects.get(order=order).attempts == 1


def test_partial_refund_leaves_the_countdown_running(woo, woo_store, finance, counting_down):
    # Given an in-app order counting down
    order = counting_down
    due = order.countdown_due_at

    # When finance refunds the shipping only
    refund(order, finance, amounts={SHIPPING: "5.88"})

    # Then the order goes on to production as planned, and nothing is exported
    order.refresh_from_db()
    assert (order.status, order.countdown_due_at) == ("processing", due)
    assert countdown_messages(order) == [(EventSource.WEBHOOK, "countdown started")]
    assert AccountingExport.objects.get(order=order).state == ExportState.OPEN


def test_full_refund_refused_by_woocommerce_starts_the_countdown_again(woo, woo_store, finance, counting_down,
                                                                       django_capture_on_commit_callbacks):
    # Given an in-app order counting down, whose full refund the shop refuses
    order = counting_down
    woo.fail_next(1, status=500, body=REFUSED)

    # When finance refunds it in full and the push fails
    with django_capture_on_commit_callbacks(execute=True):
        refund(order, finance, amounts=FULL)

    # Then the order is processing again and counts down again to its submission
    order.refresh_from_db()
    assert order.status == "processing"
    assert order.countdown_due_at is not None and order.countdown_due_at > timezone.now()
    assert countdown_messages(order) == [(EventSource.WEBHOOK, "countdown started"),
                                         (EventSource.STAFF, "countdown stopped"),
                                         (EventSource.PUSH, "countdown started")]
    # and the export, opened for the refunded status, was written before the refusal: nothing exports twice
    assert AccountingExport.objects.get(order=order).attempts == 1


def test_refused_refund_retried_by_staff_stops_the_countdown_again(woo, woo_store, finance, counting_down,
                                                                   django_capture_on_commit_callbacks):
    # Given a full refund the shop refused, the order counting down again
    order = counting_down
    woo.fail_next(1, status=500, body=REFUSED)
    with django_capture_on_commit_callbacks(execute=True):
        refund(order, finance, amounts=FULL)

    # When finance retries the refund
    with django_capture_on_commit_callbacks(execute=True):
        push_retry(push=StorePush.objects.get(state=PushState.FAILED), user=finance)

    # Then the order is refunded, here and in the shop, and its countdown stopped by finance
    order.refresh_from_db()
    assert (order.status, order.countdown_due_at) == ("refunded", None)
    assert woo.orders[17]["status"] == "refunded"
    assert countdown_messages(order)[-1] == (EventSource.STAFF, "countdown stopped")


# -- an amount of 0 beside a quantity: restock only --------------------------------------------------------------


def test_amount_of_0_with_a_quantity_restocks_without_refunding_money(woo, woo_store, finance, monkeypatch,
                                                                     django_capture_on_commit_callbacks):
    # Given an order of 3 mugs
    order = mirrored(woo, woo_store, eur_payload())
    bodies = record_bodies(monkeypatch, woo)

    # When finance puts 2 mugs back in stock for nothing and refunds the shipping
    with django_capture_on_commit_callbacks(execute=True):
        made = refund(order, finance, amounts={MUG: "0", SHIPPING: "5.88"}, quantities={MUG: "2"}, restock=True)

    # Then only the shipping's money is refunded; the 2 mugs are restocked at 0
    assert made.amount == Decimal("5.88")
    assert made.lines == [
        {"line_id": MUG, "kind": "product", "name": "Photo mug", "quantity": 2, "amount": "0.00", "tax": "0.00",
         "tax_rate_id": 2},
        {"line_id": SHIPPING, "kind": "shipping", "name": "Flat rate", "quantity": 0, "amount": "5.88",
         "tax": "0.98", "tax_rate_id": 2},
    ]
    assert bodies[0]["amount"] == "5.88"
    assert bodies[0]["api_restock"] is True
    assert bodies[0]["line_items"] == [
        {"id": MUG, "quantity": 2, "refund_total": "0.00"},
        {"id": SHIPPING, "quantity": 0, "refund_total": "4.90", "refund_tax": [{"id": 2, "refund_total": "0.98"}]},
    ]
    # and one mug is left to refund, with all its money
    mug = refundable_items(order)[0]
    assert (mug.remaining_quantity, mug.remaining_amount) == (1, Decimal("34.20"))
    assert refunded_so_far(order) == Decimal("5.88")


@pytest.mark.parametrize(("amounts", "restock", "errors"), [
    ({MUG: "0"}, True, {f"amount_{MUG}": "An amount of 0 only puts the items back in stock, and a refund must "
                                         "return some money: refund an amount on this or another line, or leave "
                                         "it blank to refund the items at their price."}),
    ({MUG: "0.00", CANVAS: "0"}, True, {f"amount_{MUG}": "An amount of 0 only puts the items back in stock, and a "
                                                         "refund must return some money: refund an amount on this "
                                                         "or another line, or leave it blank to refund the items "
                                                         "at their price."}),
    ({MUG: "0", SHIPPING: "5.88"}, False, {f"amount_{MUG}": "An amount of 0 only puts the items back in stock: "
                                                            "tick \"Restock refunded items\", or leave the amount "
                                                            "blank to refund them at their price."}),
])
def test_amount_of_0_with_a_quantity_is_refused_without_money_or_restock(woo, woo_store, finance, amounts, restock,
                                                                        errors, django_capture_on_commit_callbacks):
    # Given an order
    order = mirrored(woo, woo_store, eur_payload())

    # When finance types 0 beside 2 mugs, with no money refunded elsewhere or without restocking
    with django_capture_on_commit_callbacks(execute=True) as callbacks:
        with pytest.raises(OrderActionError) as raised:
            refund(order, finance, amounts=amounts, quantities={MUG: "2"}, restock=restock)

    # Then the amount says why, and nothing is written or sent
    assert raised.value.errors == errors
    assert (Refund.objects.count(), StorePush.objects.count()) == (0, 0)
    assert event_types(order) == [EventType.CREATED]
    assert callbacks == []
    assert woo.requests == []


def test_blank_amount_beside_a_quantity_still_refunds_the_items_at_their_price(woo, woo_store, finance):
    # Given an order of 3 mugs at 11.40
    order = mirrored(woo, woo_store, eur_payload())

    # When finance leaves the amount blank (spaces only) beside 1 mug
    made = refund(order, finance, amounts={MUG: "  "}, quantities={MUG: "1"})

    # Then the mug is refunded at its price
    assert made.amount == Decimal("11.40")


# -- the same form posted twice ----------------------------------------------------------------------------------


def test_the_same_refund_form_posted_twice_makes_one_refund(woo, woo_store, finance,
                                                            django_capture_on_commit_callbacks):
    # Given an order, and a refund made from a form with its one-time token
    order = mirrored(woo, woo_store, eur_payload())
    with django_capture_on_commit_callbacks(execute=True):
        first = order_refund(order=order, amounts={}, quantities={MUG: "3"}, reason="broken", restock=False,
                             user=finance, token="tok-1")

    # When the same form arrives again (a double click), though its 3 mugs are no longer left
    with django_capture_on_commit_callbacks(execute=True) as callbacks:
        second = order_refund(order=order, amounts={}, quantities={MUG: "3"}, reason="broken", restock=False,
                              user=finance, token="tok-1")

    # Then it is answered with the first refund, and nothing more is made or sent
    assert second.pk == first.pk
    assert (Refund.objects.count(), StorePush.objects.count()) == (1, 1)
    assert OrderEvent.objects.filter(type=EventType.REFUNDED).count() == 1
    assert callbacks == []
    assert len(woo.refunds[17]) == 1
    # while another form (another token) is a refund of its own
    third = order_refund(order=order, amounts={}, quantities={CANVAS: "1"}, reason="", restock=False, user=finance,
                         token="tok-2")
    assert third.pk != first.pk
    assert Refund.objects.count() == 2


@pytest.mark.parametrize("token", ["x" * 65, "tok en", "tok/1", "tök"])
def test_refund_with_a_mangled_token_is_refused_and_writes_nothing(woo, woo_store, finance, token):
    # Given an order
    order = mirrored(woo, woo_store, eur_payload())

    # When a refund arrives with a token no page of ours renders
    with pytest.raises(OrderActionError) as raised:
        order_refund(order=order, amounts={}, quantities={MUG: "1"}, reason="", restock=False, user=finance,
                     token=token)

    # Then it is refused and nothing is written
    assert raised.value.errors == {"__all__": "This form is out of date: reload the page and fill it in again."}
    assert (Refund.objects.count(), StorePush.objects.count()) == (0, 0)


@pytest.mark.postgres
@pytest.mark.django_db(transaction=True)
def test_the_same_refund_form_posted_twice_at_once_makes_one_refund(woo, woo_store):
    # Given an order, and one refund form sent twice at the same moment from two connections
    from tests.concurrency import in_threads

    finance = UserFactory(username="fiona")
    order = mirrored(woo, woo_store, eur_payload())

    def post(_index):
        return order_refund(order=order, amounts={}, quantities={MUG: "1"}, reason="", restock=False, user=finance,
                            token="double-click").pk

    # When both run
    made = in_threads(2, post)

    # Then both are answered with the one refund made
    assert len(set(made)) == 1
    assert (Refund.objects.count(), StorePush.objects.count()) == (1, 1)


def test_the_refund_form_posted_twice_from_the_page_makes_one_refund_and_one_push(
        woo, woo_store, client, django_capture_on_commit_callbacks):
    # Given finance on the order page, whose refund form carries a one-time token
    from tests.fulfillment.production import staff

    order = mirrored(woo, woo_store, eur_payload())
    user = staff("finance")
    client.force_login(user)
    html = client.get(reverse("admin:fulfillment_order_change", args=[order.pk])).content.decode()
    token = re.search(r'id="refund-form"[^>]*>.*?name="token" value="([^"]+)"', html, re.S).group(1)
    action = reverse("admin:fulfillment_order_action", args=[order.pk, "refund"])
    form = {"token": token, f"quantity_{MUG}": "3", f"amount_{MUG}": "", "reason": "broken in transit"}

    # When the form is posted twice (a double click)
    with django_capture_on_commit_callbacks(execute=True):
        first = client.post(action, form)
        second = client.post(action, form, follow=True)

    # Then the second is answered with the first refund: one refund, one push, one refund in the shop
    assert first.status_code == 302 and second.status_code == 200
    assert [str(m) for m in second.context["messages"]] == [
        "Refund of 34.20 EUR recorded; it is being sent to WooCommerce.",
        "Refund of 34.20 EUR recorded; it is being sent to WooCommerce."]
    made = Refund.objects.get()
    assert (made.token, made.amount, made.created_by) == (token, Decimal("34.20"), user)
    assert list(StorePush.objects.values_list("kind", "state")) == [(PushKind.REFUND, PushState.SENT)]
    assert len(woo.refunds[17]) == 1
    # and the page shows a new token for the next refund
    assert f'value="{token}"' not in second.content.decode()


def test_the_refund_form_shown_again_after_an_error_keeps_its_token(woo, woo_store, client):
    # Given finance whose refund was refused
    from tests.fulfillment.production import staff

    order = mirrored(woo, woo_store, eur_payload())
    client.force_login(staff("finance"))
    action = reverse("admin:fulfillment_order_action", args=[order.pk, "refund"])
    refused = client.post(action, {"token": "form-7", f"quantity_{MUG}": "9"})

    # Then the form comes back with its token, and corrected it makes the refund once
    assert refused.status_code == 400
    assertContains(refused, '<input type="hidden" name="token" value="form-7">', html=True, status_code=400)
    client.post(action, {"token": "form-7", f"quantity_{MUG}": "1"})
    client.post(action, {"token": "form-7", f"quantity_{MUG}": "1"})
    assert list(Refund.objects.values_list("token", "amount")) == [("form-7", Decimal("11.40"))]


@pytest.mark.parametrize("field", ["quantity_²", "amount_²", "quantity_١٧١"])
def test_a_refund_form_field_named_with_other_digits_is_ignored_not_a_500(woo, woo_store, client, field):
    # Given finance posting a refund form whose line field is named with a superscript or Arabic-Indic digit
    # ('²'.isdigit() is true and int('²') fails: this was a 500)
    from tests.fulfillment.production import staff

    order = mirrored(woo, woo_store, eur_payload())
    client.force_login(staff("finance"))
    action = reverse("admin:fulfillment_order_action", args=[order.pk, "refund"])

    # When it is posted
    response = client.post(action, {"token": "form-9", field: "1"})

    # Then the form comes back refused (nothing to refund), and nothing is made
    assert response.status_code == 400
    assert not Refund.objects.exists()
