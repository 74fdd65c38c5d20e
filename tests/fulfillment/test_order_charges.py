"""The order page's charges as WooCommerce's order screen shows them: shipping, fees and coupons with the items, a
totals table that adds up to WooCommerce's total (or says by how much it does not), refunds of shipping and fees,
what each refund covered, and the customer's other orders."""

import copy
import json
import re
from decimal import Decimal

import pytest
from django.core.cache import cache
from django.db import connection
from django.test.utils import CaptureQueriesContext
from django.urls import reverse
from pytest_django.asserts import assertContains, assertNotContains

from fulfillment.choices import EventSource, PushState, RefundState
from fulfillment.models import Order, Refund, StorePush
from fulfillment.selectors import customer_history, customer_orders, order_charges, refunds_for_page
from fulfillment.services.mirror import orders_upsert
from tests.conftest import on_postgres
from tests.factories import StoreFactory
from tests.fulfillment.production import staff
from tests.fulfillment.test_order_admin import totals_of
from tests.woo_payloads import SAMPLE_DELIVERY, SAMPLE_ORDER, order_payload

D = Decimal


@pytest.fixture(autouse=True)
def empty_cache(db):
    cache.clear()
    yield
    cache.clear()


def mirror(store, payload):
    orders_upsert(store=store, payloads=[copy.deepcopy(payload)], source=EventSource.IMPORT)
    return Order.objects.prefetch_related("refunds", "lines").get(store=store, woo_id=payload["id"])


def rows(charges):
    return [(row.key, row.label, row.amount, row.note) for row in charges.rows]


def with_coupon_and_fee(woo_id=17):
    """The captured order with a 10 % coupon on its mugs and a gift-wrap fee, its figures as WooCommerce makes
    them: items 28.50 − 2.85 = 25.65 + 5.13 tax, fee 2.00 + 0.40, shipping 4.90 + 0.98: 39.06 in all."""
    payload = copy.deepcopy(SAMPLE_ORDER)
    payload.update(id=woo_id, number=str(woo_id), refunds=[], discount_total="2.85", discount_tax="0.57",
                   cart_tax="5.53", total_tax="6.51", total="39.06")
    payload["line_items"][0].update(total="25.65", total_tax="5.13",
                                    taxes=[{"id": 2, "total": "5.13", "subtotal": "5.7"}])
    payload["fee_lines"] = [{"id": 9, "name": "Gift wrap", "tax_class": "", "tax_status": "taxable", "amount": "2",
                             "total": "2.00", "total_tax": "0.40", "taxes": [{"id": 2, "total": "0.4", "subtotal": ""}],
                             "meta_data": []}]
    payload["coupon_lines"] = [{"id": 10, "code": "summer10", "discount": "2.85", "discount_tax": "0.57",
                                "meta_data": []}]
    payload["tax_lines"][0].update(tax_total="5.53", shipping_tax_total="0.98")
    return payload


# -- the selector, on WooCommerce's own answers -------------------------------------------------------------


def test_captured_order_adds_up_to_its_total_with_shipping_and_its_refund(store):
    # Given the order captured from a real WooCommerce 9.9 shop: 3 items, flat-rate shipping, Austrian VAT and a
    # refund of 28.50 made in the shop
    order = mirror(store, SAMPLE_ORDER)

    # When its charges are read
    charges = order_charges(order)

    # Then they are WooCommerce's figures, the tax per rate counting the shipping's, and they add up to its total
    assert [(c.label, c.total, c.tax) for c in charges.charges] == [("Shipping: Flat rate", D("4.90"), D("0.98"))]
    assert rows(charges) == [
        ("subtotal", "Items subtotal", D("28.50"), ""),
        ("shipping", "Shipping", D("4.90"), "Flat rate"),
        ("tax", "VAT AT (20 %)", D("6.68"), "0.98 EUR of it on shipping"),
        ("total", "Order total", D("40.08"), ""),
        ("refunded", "Refunded", D("-28.50"), ""),
        ("net", "Net payment", D("11.58"), ""),
    ]
    assert charges.difference == 0
    assert charges.net == D("11.58")


def test_webhook_order_of_two_lines_adds_up_with_the_tax_rounded_per_line(store):
    # Given the order of the captured webhook delivery: two lines whose tax WooCommerce rounded per line (1.995,
    # 6.195), shipping taxed 1.029, Dutch VAT
    order = mirror(store, json.loads(SAMPLE_DELIVERY["body"]))

    charges = order_charges(order)

    assert rows(charges) == [
        ("subtotal", "Items subtotal", D("39.00"), ""),
        ("shipping", "Shipping", D("4.90"), "Flat rate"),
        ("tax", "VAT NL (21 %)", D("9.23"), "1.03 EUR of it on shipping"),
        ("total", "Order total", D("53.13"), ""),
        ("refunded", "Refunded", D("0"), ""),
        ("net", "Net payment", D("53.13"), ""),
    ]
    assert charges.difference == 0


def test_coupons_and_fees_are_shown_with_their_codes_and_the_discount_comes_off_the_subtotal(store):
    order = mirror(store, with_coupon_and_fee())

    charges = order_charges(order)

    # The items table lists shipping, the fee and the coupon after the products, a coupon as money off
    assert [(c.kind, c.label, c.total, c.tax) for c in charges.charges] == [
        ("shipping", "Shipping: Flat rate", D("4.90"), D("0.98")),
        ("fee", "Fee: Gift wrap", D("2.00"), D("0.40")),
        ("coupon", "Coupon: summer10", D("-2.85"), D("-0.57")),
    ]
    # the line the coupon took money off says how much
    assert charges.line_discounts == {6: D("2.85")}
    # and the totals start from the subtotal before the coupon, as WooCommerce's screen does
    assert rows(charges)[:6] == [
        ("subtotal", "Items subtotal", D("28.50"), ""),
        ("discount", "Discount", D("-2.85"), "summer10"),
        ("shipping", "Shipping", D("4.90"), "Flat rate"),
        ("fees", "Fees", D("2.00"), "Gift wrap"),
        ("tax", "VAT AT (20 %)", D("6.51"), "0.98 EUR of it on shipping"),
        ("total", "Order total", D("39.06"), ""),
    ]
    assert charges.difference == 0


def test_two_tax_rates_are_two_rows(store):
    # Given a book at the reduced rate beside a mug at the standard rate (Dutch 9 % and 21 %)
    payload = json.loads(SAMPLE_DELIVERY["body"])
    payload["line_items"][0].update(total_tax="0.86", subtotal_tax="0.86",
                                    taxes=[{"id": 5, "total": "0.855", "subtotal": "0.855"}])
    payload["tax_lines"] = [
        {**payload["tax_lines"][0], "tax_total": "6.20", "shipping_tax_total": "1.03"},
        {"id": 108, "rate_code": "NL-VAT REDUCED-1", "rate_id": 5, "label": "VAT NL reduced", "compound": False,
         "tax_total": "0.86", "shipping_tax_total": "0.00", "rate_percent": 9, "meta_data": []},
    ]
    payload.update(cart_tax="7.06", total_tax="8.09", total="51.99")
    order = mirror(store, payload)

    charges = order_charges(order)

    assert [(r.label, r.amount, r.note) for r in charges.rows if r.key == "tax"] == [
        ("VAT NL (21 %)", D("7.23"), "1.03 EUR of it on shipping"), ("VAT NL reduced (9 %)", D("0.86"), "")]
    assert charges.difference == 0


def test_a_cent_of_rounding_is_a_visible_row_and_the_total_stays_woocommerces(store):
    # Given an order whose total WooCommerce rounded on the whole cart, a cent from its rounded lines
    payload = json.loads(SAMPLE_DELIVERY["body"])
    payload["total"] = "53.12"
    order = mirror(store, payload)

    charges = order_charges(order)

    assert [(r.key, r.label, r.amount, r.warning) for r in charges.rows][3:5] == [
        ("rounding", "Rounding", D("-0.01"), False), ("total", "Order total", D("53.12"), False)]


def test_parts_far_from_the_total_are_a_difference_in_red_not_rounding(store):
    # Given an order whose total leaves out its shipping (5.88): not a rounding
    payload = copy.deepcopy(SAMPLE_ORDER)
    payload.update(total="34.20", refunds=[])
    order = mirror(store, payload)

    row = next(r for r in order_charges(order).rows if r.key == "rounding")

    assert (row.label, row.amount, row.warning) == ("Difference", D("-5.88"), True)
    assert "check the order in WooCommerce" in row.note


def test_no_tax_lines_shows_the_total_tax_and_bad_items_are_left_out(store):
    # Given an order from a shop that sends no tax_lines, with a fee line that is not an object and a
    # shipping line whose figures are not numbers
    payload = copy.deepcopy(SAMPLE_ORDER)
    payload.update(refunds=[], tax_lines=[], fee_lines=["gift wrap"])
    payload["shipping_lines"] = [{"id": 7, "method_title": "Flat rate", "total": "n/a", "total_tax": None}]
    order = mirror(store, payload)

    charges = order_charges(order)

    assert [(c.label, c.total, c.tax) for c in charges.charges] == [("Shipping: Flat rate", D("0"), D("0"))]
    assert [(r.key, r.amount) for r in charges.rows][:4] == [
        ("subtotal", D("28.50")), ("shipping", D("4.90")), ("tax", D("6.68")), ("total", D("40.08"))]


def test_the_selector_reads_prefetched_refunds_without_a_query(store, django_assert_num_queries):
    order = mirror(store, with_coupon_and_fee())

    with django_assert_num_queries(0):
        order_charges(order)
        refunds_for_page(order)


# -- the page ----------------------------------------------------------------------------------------------


def page(client, order, role="finance"):
    client.force_login(staff(role))
    return client.get(reverse("admin:fulfillment_order_change", args=[order.pk]))


def test_page_shows_shipping_fee_and_coupon_with_the_items_and_the_totals(client, store):
    order = mirror(store, with_coupon_and_fee())

    response = page(client, order)

    assert response.status_code == 200
    assertContains(response, '<tr class="charge shipping" data-item="7"><td colspan="4">Shipping: Flat rate</td>'
                             '<td class="num">4.90 EUR</td><td class="num">0.98 EUR</td><td></td></tr>', html=True)
    assertContains(response, '<tr class="charge fee" data-item="9"><td colspan="4">Fee: Gift wrap</td>'
                             '<td class="num">2.00 EUR</td><td class="num">0.40 EUR</td><td></td></tr>', html=True)
    assertContains(response, '<tr class="charge coupon" data-item="10"><td colspan="4">Coupon: summer10</td>'
                             '<td class="num">−2.85 EUR</td><td class="num">−0.57 EUR</td><td></td></tr>', html=True)
    assertContains(response, '<small class="line-discount">2.85 EUR off</small>', html=True)
    assert totals_of(response) == [
        ("Items subtotal", "28.50 EUR"), ("Discount · summer10", "−2.85 EUR"), ("Shipping · Flat rate", "4.90 EUR"),
        ("Fees · Gift wrap", "2.00 EUR"), ("VAT AT (20 %) · 0.98 EUR of it on shipping", "6.51 EUR"),
        ("Order total", "39.06 EUR"), ("Refunded", "0.00 EUR"), ("Net payment", "39.06 EUR"),
    ]


def test_page_shows_a_rounding_row(client, store):
    payload = json.loads(SAMPLE_DELIVERY["body"])
    payload["total"] = "53.12"
    response = page(client, mirror(store, payload))

    assert ("Rounding", "−0.01 EUR") in totals_of(response)
    assertNotContains(response, 'class="total-rounding warning"')


def test_refund_form_names_shipping_and_fees_and_what_is_left_of_them(client, store):
    order = mirror(store, with_coupon_and_fee())

    response = page(client, order)

    form = response.content.decode().split('id="refund-form"')[1].split("</form>")[0]
    cells = [" ".join(re.sub(r"<[^>]+>", " ", row.split("</td>")[0] + " | " + row.split("</td>")[1]).split())
             for row in form.split("<tr>")[2:]]
    assert cells == ["Demo product DEMO-001 | 3 × 30.78 EUR", "Shipping: Flat rate | 5.88 EUR", "Fee: Gift wrap | 2.40 EUR"]
    assertContains(response, 'aria-label="Amount Shipping: Flat rate"')


def test_refund_of_shipping_and_fee_from_the_page_reaches_the_service_and_the_shop(
        woo, woo_store, client, django_capture_on_commit_callbacks):
    # Given finance on the page of an order with shipping (4.90 + 0.98) and a fee (2.00 + 0.40), in the shop too
    payload = with_coupon_and_fee()
    woo.add_orders([copy.deepcopy(payload)])
    order = mirror(woo_store, payload)
    client.force_login(staff("finance"))
    action = reverse("admin:fulfillment_order_action", args=[order.pk, "refund"])

    # When they refund all the shipping and half the fee
    with django_capture_on_commit_callbacks(execute=True):
        response = client.post(action, {"token": "form-1", "amount_7": "5.88", "amount_9": "1.20",
                                        "reason": "late parcel"})

    # Then the refund covers those two, each with its share of tax, and WooCommerce was sent the net and tax of each
    assert response.status_code == 302
    made = Refund.objects.get()
    assert (made.amount, made.lines) == (D("7.08"), [
        {"line_id": 7, "kind": "shipping", "name": "Flat rate", "quantity": 0, "amount": "5.88", "tax": "0.98",
         "tax_rate_id": 2},
        {"line_id": 9, "kind": "fee", "name": "Gift wrap", "quantity": 0, "amount": "1.20", "tax": "0.20",
         "tax_rate_id": 2},
    ])
    assert StorePush.objects.get().state == PushState.SENT
    sent = woo.refunds[17][0]
    assert sent["amount"] == "7.08"
    assert [(i["method_title"], i["total"], i["total_tax"]) for i in sent["shipping_lines"]] == [
        ("Flat rate", "-4.90", "-0.98")]
    assert [(i["name"], i["total"], i["total_tax"]) for i in sent["fee_lines"]] == [("Gift wrap", "-1.00", "-0.20")]

    # and the page shows what the refund covered, and what is left of the fee
    shown = client.get(reverse("admin:fulfillment_order_change", args=[order.pk]))
    assertContains(shown, '<ul class="refund-parts"><li>Shipping: Flat rate: 5.88 EUR</li>'
                          '<li>Fee: Gift wrap: 1.20 EUR</li></ul>', html=True)
    assertContains(shown, "1.20 EUR<br><small>1.20 EUR refunded</small>")
    assert ("Net payment", "31.98 EUR") in totals_of(shown)


def test_a_refund_of_an_amount_only_says_so(client, store):
    payload = copy.deepcopy(SAMPLE_ORDER)
    order = mirror(store, payload)
    Refund.objects.filter(order=order).update(lines=[], lines_pending=False)

    response = page(client, order)

    assertContains(response, "An amount only, on no item.")
    assert refunds_for_page(Order.objects.prefetch_related("refunds").get(pk=order.pk))[0][1] == []


# -- the customer's other orders ------------------------------------------------------------------------------


def customer_order(store, woo_id, *, customer_id=0, email="anna@example.at", status="completed", total="40.08",
                   currency="EUR", refunds=None, minutes=0):
    from datetime import UTC, datetime, timedelta

    payload = order_payload(woo_id, status=status, email=email, currency=currency, total=total, customer_id=customer_id,
                            created=datetime(2026, 10, 1, 9, 0, tzinfo=UTC) + timedelta(minutes=minutes or woo_id),
                            refunds=refunds or [])
    orders_upsert(store=store, payloads=[payload], source=EventSource.IMPORT)
    return Order.objects.get(store=store, woo_id=woo_id)


def test_registered_customer_history_counts_their_orders_and_what_they_spent_per_currency(store):
    # Given customer 42's orders in this store: processing, completed (10.00 refunded), cancelled, one in USD
    current = customer_order(store, 100, customer_id=42, status="processing", minutes=500)
    customer_order(store, 101, customer_id=42, refunds=[{"id": 1, "reason": "", "total": "-10.00"}])
    customer_order(store, 102, customer_id=42, status="cancelled")
    customer_order(store, 103, customer_id=42, currency="USD", total="12.00")
    # and orders that are not theirs: customer 42 of another shop, a guest with the same email
    customer_order(StoreFactory(), 104, customer_id=42)
    customer_order(store, 105, customer_id=0)

    history = customer_history(current)

    assert (history.by, history.key, history.count) == ("customer", "42", 4)
    # paid orders only, less what was refunded of them: 40.08 + 30.08 EUR, 12.00 USD
    assert history.spent == [("EUR", D("70.16")), ("USD", D("12.00"))]
    assert [o.woo_id for o in history.recent] == [103, 102, 101]


def test_guest_history_is_by_billing_email_and_shows_the_five_latest(store):
    current = customer_order(store, 200, email="Guest@Example.com", minutes=900)
    for n in range(7):
        customer_order(store, 201 + n, email="guest@example.com")
    customer_order(store, 210, email="someone@example.com")

    history = customer_history(current)

    assert (history.by, history.key, history.count) == ("email", "guest@example.com", 8)
    assert [o.woo_id for o in history.recent] == [207, 206, 205, 204, 203]


def test_guest_without_email_has_no_history(client, store):
    current = customer_order(store, 300, email="")
    Order.objects.filter(pk=current.pk).update(customer_email="")
    current.refresh_from_db()

    assert customer_history(current) is None
    assertContains(page(client, current, "support"), "A guest without an email: their other orders cannot be found.")


def test_page_links_to_the_customers_orders_and_the_list_shows_exactly_those(client, store):
    current = customer_order(store, 400, customer_id=7, status="processing", minutes=800)
    older = customer_order(store, 401, customer_id=7)
    customer_order(store, 402, customer_id=8)
    customer_order(StoreFactory(), 403, customer_id=7)

    response = page(client, current, "operations")

    url = f"{reverse('admin:fulfillment_order_changelist')}?customer=7&amp;store__id__exact={store.pk}"
    assertContains(response, f'<a href="{url}" id="customer-orders-link">All 2 orders in the order list</a>',
                   html=True)
    assertContains(response, f'<a href="{reverse("admin:fulfillment_order_change", args=[older.pk])}">#401</a>')
    assertContains(response, '<td class="num" id="customer-order-count">2</td>', html=True)
    listed = client.get(url.replace("&amp;", "&"))
    assert sorted(o.woo_id for o in listed.context["cl"].result_list) == [400, 401]
    # the filter says what it filters by, and can be cleared
    assertContains(listed, "Customer id 7")
    by_email = client.get(reverse("admin:fulfillment_order_changelist") + "?customer=ANNA%40example.at")
    assert sorted(o.woo_id for o in by_email.context["cl"].result_list) == [400, 401, 402, 403]
    nonsense = client.get(reverse("admin:fulfillment_order_changelist") + "?customer=nobody")
    assert list(nonsense.context["cl"].result_list) == []


def test_the_list_shows_no_customer_filter_until_one_is_used(client, store):
    customer_order(store, 500, customer_id=7)
    client.force_login(staff("operations"))

    response = client.get(reverse("admin:fulfillment_order_changelist"))

    assertNotContains(response, "By customer")


def queries_of_page(client, order):
    with CaptureQueriesContext(connection) as queries:
        assert client.get(reverse("admin:fulfillment_order_change", args=[order.pk])).status_code == 200
    return len(queries)


def test_order_page_costs_the_same_queries_for_a_customer_of_one_order_or_of_twenty(client, store,
                                                                                    django_assert_max_num_queries):
    # Given a customer with only this order, and one with twenty, each order with shipping, a fee and a coupon
    lonely = mirror(store, {**with_coupon_and_fee(600), "customer_id": 60})
    regular = mirror(store, {**with_coupon_and_fee(700), "customer_id": 70})
    orders_upsert(store=store, payloads=[{**with_coupon_and_fee(701 + n), "customer_id": 70} for n in range(19)],
                  source=EventSource.IMPORT)
    client.force_login(staff("finance"))
    queries_of_page(client, lonely)  # sessions, permissions and caches warmed

    # Then both pages cost the same, few queries
    assert queries_of_page(client, lonely) == queries_of_page(client, regular)
    # 23 when written: the customer's history is 2 of them (an aggregate per currency, the latest five)
    with django_assert_max_num_queries(23):
        client.get(reverse("admin:fulfillment_order_change", args=[regular.pk]))


def test_customer_orders_are_read_from_their_index(store):
    # Given enough orders that an index pays (the planner told to prefer one), a customer's newest orders
    current = customer_order(store, 800, customer_id=9)
    queryset = (customer_orders(Order.objects.filter(store_id=store.pk), "9").exclude(pk=current.pk)
                .order_by("-created_at", "-id")[:5])
    with connection.cursor() as cursor:
        if on_postgres():
            cursor.execute("SET LOCAL enable_seqscan = off")
        sql, params = queryset.query.sql_with_params()
        cursor.execute(("EXPLAIN " if on_postgres() else "EXPLAIN QUERY PLAN ") + sql, params)
        plan = " ".join(str(row) for row in cursor.fetchall())

    assert "order_customer_created_idx" in plan


def test_mirrored_refund_counts_in_the_refunded_row(store):
    order = mirror(store, SAMPLE_ORDER)

    assert list(order.refunds.values_list("state", "amount")) == [(RefundState.MIRRORED, D("28.5000"))]
    assert order_charges(order).refund_unconfirmed == 0
