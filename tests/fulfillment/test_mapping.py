"""map_order: WooCommerce order JSON → our fields. Pure: no database, no HTTP."""

import copy
from datetime import UTC, datetime, timedelta
from decimal import Decimal

import pytest

from fulfillment.choices import OrderType
from fulfillment.integrations.woocommerce.mapping import MappedRefund, MappingError, map_order, payload_hash
from tests.woo_payloads import SAMPLE_ORDER, line_item, order_payload

MONEY_FIELDS = ("total", "total_tax", "shipping_total", "shipping_tax", "discount_total", "discount_tax",
                "refunded_total")
LINE_MONEY_FIELDS = ("price", "subtotal", "subtotal_tax", "total", "total_tax")


def gb_order():
    """A UK order: prices include VAT, a welcome coupon, gift wrap as a fee, a variable T-shirt."""
    shirt = line_item(
        3101, name="Organic T-shirt - L, Red", product_id=44, variation_id=45, quantity=2, total="33.34",
        total_tax="6.66", sku="TSHIRT-L-RED",
        meta=[
            {"id": 901, "key": "pa_size", "value": "l", "display_key": "Size", "display_value": "L"},
            {"id": 902, "key": "pa_colour", "value": "red", "display_key": "Colour", "display_value": "Red"},
            {"id": 903, "key": "_reduced_stock", "value": "2", "display_key": "_reduced_stock",
             "display_value": "2"},
        ],
    )
    payload = order_payload(
        310, currency="GBP", country="GB", city="London", first_name="Olivia", last_name="Hughes",
        email="Olivia.Hughes@Example.co.uk", line_items=[shirt], customer_id=58, prices_include_tax=True,
        payment_method="stripe", payment_method_title="Credit Card (Stripe)", transaction_id="pi_3QxYz",
        total="45.00", total_tax="7.50", shipping_total="3.33", shipping_tax="0.67", discount_total="4.17",
        discount_tax="0.83", cart_tax="6.83",
        tax_lines=[{"id": 3110, "rate_code": "GB-VAT-1", "rate_id": 4, "label": "VAT", "compound": False,
                    "tax_total": "6.83", "shipping_tax_total": "0.67", "rate_percent": 20, "meta_data": []}],
        coupon_lines=[{"id": 3111, "code": "welcome10", "discount": "4.17", "discount_tax": "0.83",
                       "meta_data": []}],
        fee_lines=[{"id": 3112, "name": "Gift wrap", "tax_class": "", "tax_status": "taxable", "amount": "2.50",
                    "total": "2.08", "total_tax": "0.42", "taxes": [{"id": 4, "total": "0.42", "subtotal": ""}],
                    "meta_data": []}],
    )
    payload["billing"].update(postcode="SW1A 1AA", address_1="10 Downing Street", phone="+44 20 7946 0000")
    payload["shipping"].update(postcode="SW1A 1AA", address_1="10 Downing Street")
    return payload


def jp_order():
    """A Japanese order in yen: no minor unit."""
    payload = order_payload(
        320, currency="JPY", country="JP", city="Shibuya-ku", first_name="Yui", last_name="Tanaka",
        line_items=[line_item(3201, name="Photo book A4", product_id=70, quantity=2, total="6000",
                              total_tax="600", sku="BOOK-A4")],
        total="7260", total_tax="660", shipping_total="600", shipping_tax="60", cart_tax="600",
        payment_method="cod", payment_method_title="Cash on delivery",
        tax_lines=[{"id": 3210, "rate_code": "JP-CT-1", "rate_id": 9, "label": "Consumption tax", "compound": False,
                    "tax_total": "600", "shipping_tax_total": "60", "rate_percent": 10, "meta_data": []}],
    )
    for address in (payload["billing"], payload["shipping"]):
        address.update(state="JP13", postcode="150-0002")
    return payload


def us_order():
    """A Californian order: sales tax by state."""
    payload = order_payload(
        330, currency="USD", country="US", city="San Francisco", first_name="Ava", last_name="Miller",
        line_items=[line_item(3301, name="Canvas print 40x60", product_id=80, quantity=1, total="89.00",
                              total_tax="7.79", sku="CANVAS-4060"),
                    line_item(3302, name="Photo mug", product_id=11, quantity=1, total="9.50", total_tax="0.83")],
        total="117.07", total_tax="8.62", shipping_total="9.95", shipping_tax="0.00", cart_tax="8.62",
        payment_method="ppcp-gateway", payment_method_title="PayPal",
        tax_lines=[{"id": 3310, "rate_code": "US-CA-CA STATE TAX-1", "rate_id": 12, "label": "CA State Tax",
                    "compound": False, "tax_total": "8.62", "shipping_tax_total": "0.00", "rate_percent": 8.75,
                    "meta_data": []}],
    )
    for address in (payload["billing"], payload["shipping"]):
        address.update(state="CA", postcode="94103")
    return payload


# -- the captured sample, countries and currencies -------------------------------------------------------


def test_the_captured_sample_maps_to_our_fields():
    # given the order exactly as a real WooCommerce 9.9 shop answered it (EUR, Austria, a guest, one refund)
    payload = copy.deepcopy(SAMPLE_ORDER)

    # when
    mapped = map_order(payload)

    # then
    assert mapped.woo_id == 17
    fields = mapped.fields
    assert {name: fields[name] for name in fields if name not in ("raw", "raw_hash", "billing", "shipping")} == {
        "number": "17",
        "status": "processing",
        "created_via": "rest-api",
        "parent_woo_id": 0,
        "created_at": datetime(2026, 11, 21, 22, 41, 48, tzinfo=UTC),
        "modified_at": datetime(2026, 11, 21, 22, 41, 52, tzinfo=UTC),
        "paid_at": datetime(2026, 11, 21, 22, 41, 48, tzinfo=UTC),
        "completed_at": None,
        "customer_woo_id": 0,
        "customer_name": "Ben Schmidt",
        "customer_email": "ben.1@example.com",
        "city": "Wien",
        "state": "",
        "country": "AT",
        "customer_note": "demo order 1",
        "currency": "EUR",
        "prices_include_tax": False,
        "total": Decimal("40.08"),
        "total_tax": Decimal("6.68"),
        "shipping_total": Decimal("4.90"),
        "shipping_tax": Decimal("0.98"),
        "discount_total": Decimal("0.00"),
        "discount_tax": Decimal("0.00"),
        "refunded_total": Decimal("28.50"),
        "payment_method": "bacs",
        "payment_method_title": "Direct bank transfer",
        "transaction_id": "",
        "item_count": 3,
        "order_type": OrderType.OTHER,
        "trashed": False,
    }
    assert fields["billing"] == SAMPLE_ORDER["billing"]
    assert fields["shipping"] == SAMPLE_ORDER["shipping"]
    assert fields["raw"] == SAMPLE_ORDER
    assert fields["raw_hash"] == payload_hash(SAMPLE_ORDER)
    assert mapped.refunds == [MappedRefund(woo_refund_id=41, amount=Decimal("28.50"),
                                           reason="demo refund (api_refund=false)")]
    [line] = mapped.lines
    assert line.woo_line_id == 6
    assert line.fields == {
        "name": "Demo product DEMO-001",
        "product_id": 11,
        "variation_id": 0,
        "sku": "DEMO-001",
        "variation": "",
        "quantity": 3,
        "price": Decimal("9.5"),
        "subtotal": Decimal("28.50"),
        "subtotal_tax": Decimal("5.70"),
        "total": Decimal("28.50"),
        "total_tax": Decimal("5.70"),
        "image_src": "",
        "project_ref": "",
        "meta": SAMPLE_ORDER["line_items"][0]["meta_data"],
    }


def test_map_order_does_not_change_the_payload():
    # given
    payload = gb_order()
    before = copy.deepcopy(payload)

    # when
    map_order(payload)

    # then
    assert payload == before


def test_a_british_order_with_vat_a_coupon_and_a_fee():
    # given
    payload = gb_order()

    # when
    mapped = map_order(payload)

    # then
    fields = mapped.fields
    assert (fields["currency"], fields["country"], fields["city"], fields["state"]) == ("GBP", "GB", "London", "")
    assert fields["prices_include_tax"] is True
    assert fields["total"] == Decimal("45.00")
    assert fields["total_tax"] == Decimal("7.50")
    assert fields["shipping_total"] == Decimal("3.33")
    assert fields["shipping_tax"] == Decimal("0.67")
    assert fields["discount_total"] == Decimal("4.17")
    assert fields["discount_tax"] == Decimal("0.83")
    assert fields["customer_woo_id"] == 58
    assert fields["customer_name"] == "Olivia Hughes"
    assert fields["customer_email"] == "olivia.hughes@example.co.uk"
    assert fields["payment_method_title"] == "Credit Card (Stripe)"
    assert fields["transaction_id"] == "pi_3QxYz"
    assert fields["order_type"] == OrderType.OTHER
    # Fees, coupons and tax lines are not product lines: they stay in the raw JSON only.
    assert [line.woo_line_id for line in mapped.lines] == [3101]
    assert fields["raw"]["fee_lines"][0]["name"] == "Gift wrap"
    assert fields["raw"]["coupon_lines"][0]["code"] == "welcome10"
    assert fields["raw"]["tax_lines"][0]["rate_code"] == "GB-VAT-1"
    assert fields["item_count"] == 2


def test_a_japanese_order_in_yen_keeps_whole_amounts():
    # given
    payload = jp_order()

    # when
    mapped = map_order(payload)

    # then
    fields = mapped.fields
    assert (fields["currency"], fields["country"], fields["state"], fields["city"]) == ("JPY", "JP", "JP13",
                                                                                        "Shibuya-ku")
    assert fields["total"] == Decimal("7260")
    assert str(fields["total"]) == "7260"
    assert fields["total_tax"] == Decimal("660")
    assert fields["shipping_total"] == Decimal("600")
    [line] = mapped.lines
    assert line.fields["price"] == Decimal("3000")
    assert line.fields["total"] == Decimal("6000")
    assert line.fields["quantity"] == 2
    assert fields["customer_name"] == "Yui Tanaka"


def test_an_american_order_keeps_its_state_and_sales_tax():
    # given
    payload = us_order()

    # when
    mapped = map_order(payload)

    # then
    fields = mapped.fields
    assert (fields["currency"], fields["country"], fields["state"], fields["city"]) == ("USD", "US", "CA",
                                                                                        "San Francisco")
    assert fields["total"] == Decimal("117.07")
    assert fields["total_tax"] == Decimal("8.62")
    assert fields["shipping_tax"] == Decimal("0.00")
    assert [(line.woo_line_id, line.fields["sku"], line.fields["total_tax"]) for line in mapped.lines] == [
        (3301, "CANVAS-4060", Decimal("7.79")),
        (3302, "MUG-11", Decimal("0.83")),
    ]
    assert fields["item_count"] == 2


def test_currency_and_country_codes_are_upper_case():
    # given a shop plugin that sends lower-case codes
    payload = order_payload(40, currency="eur", country="nl", city="Utrecht")

    # when
    fields = map_order(payload).fields

    # then
    assert (fields["currency"], fields["country"]) == ("EUR", "NL")


# -- money ---------------------------------------------------------------------------------------------------


def test_every_amount_is_a_decimal():
    # given
    mapped = map_order(gb_order())

    # then
    assert {name: type(mapped.fields[name]) for name in MONEY_FIELDS} == {name: Decimal for name in MONEY_FIELDS}
    for line in mapped.lines:
        assert {name: type(line.fields[name]) for name in LINE_MONEY_FIELDS} == {
            name: Decimal for name in LINE_MONEY_FIELDS}
    assert all(type(refund.amount) is Decimal for refund in mapped.refunds)


def test_the_line_price_float_becomes_its_shortest_decimal_not_the_binary_expansion():
    # given WooCommerce sends line_items[].price as a JSON number (total / quantity)
    payload = order_payload(41, line_items=[line_item(411, quantity=1, total="9.50"),
                                            line_item(412, quantity=3, total="10.00")])
    assert payload["line_items"][0]["price"] == 9.5
    assert payload["line_items"][1]["price"] == 10 / 3

    # when
    first, second = map_order(payload).lines

    # then
    assert first.fields["price"] == Decimal("9.5")
    assert str(first.fields["price"]) == "9.5"
    assert str(second.fields["price"]) == "3.3333333333333335"


def test_an_integer_price_and_missing_amounts():
    # given a price sent as an integer and a shipping total WooCommerce left out
    payload = order_payload(42, line_items=[line_item(421, quantity=2, total="20.00")])
    payload["line_items"][0]["price"] = 10
    del payload["shipping_total"]
    payload["discount_total"] = ""

    # when
    mapped = map_order(payload)

    # then
    assert mapped.lines[0].fields["price"] == Decimal("10")
    assert mapped.fields["shipping_total"] == Decimal("0")
    assert mapped.fields["discount_total"] == Decimal("0")


# -- refunds --------------------------------------------------------------------------------------------------


def test_refunds_are_listed_with_positive_amounts_and_summed():
    # given WooCommerce lists refunds newest first, with negative totals
    payload = order_payload(50, refunds=[
        {"id": 502, "reason": "Second mug arrived broken", "total": "-5.50"},
        {"id": 501, "reason": "", "total": "-10.00"},
    ])

    # when
    mapped = map_order(payload)

    # then
    assert mapped.refunds == [
        MappedRefund(woo_refund_id=502, amount=Decimal("5.50"), reason="Second mug arrived broken"),
        MappedRefund(woo_refund_id=501, amount=Decimal("10.00"), reason=""),
    ]
    assert mapped.fields["refunded_total"] == Decimal("15.50")


def test_an_order_without_refunds_has_nothing_refunded():
    # given
    payload = order_payload(51)
    payload["refunds"] = None

    # when
    mapped = map_order(payload)

    # then
    assert mapped.refunds == []
    assert mapped.fields["refunded_total"] == Decimal("0")


# -- statuses, customers --------------------------------------------------------------------------------------


@pytest.mark.parametrize("status", ["pending", "on-hold", "completed", "checkout-draft", "ready-for-pickup",
                                    "custom-awaiting-proof"])
def test_any_status_is_kept_as_the_shop_sent_it(status):
    # given
    payload = order_payload(60, status=status)

    # when
    fields = map_order(payload).fields

    # then
    assert fields["status"] == status
    assert fields["trashed"] is False


def test_a_trashed_order_is_marked_trashed():
    # given
    payload = order_payload(61, status="trash")

    # when
    fields = map_order(payload).fields

    # then
    assert (fields["status"], fields["trashed"]) == ("trash", True)


def test_a_guest_and_a_registered_customer():
    # given
    guest = order_payload(62, customer_id=0)
    registered = order_payload(63, customer_id=1204)

    # when / then
    assert map_order(guest).fields["customer_woo_id"] == 0
    assert map_order(registered).fields["customer_woo_id"] == 1204


def test_the_order_number_may_differ_from_the_id():
    # given a shop with a sequential order numbers plugin
    payload = order_payload(64, number="WEB-2026-0064")

    # when
    mapped = map_order(payload)

    # then
    assert (mapped.woo_id, mapped.fields["number"]) == (64, "WEB-2026-0064")


def test_the_customer_name_falls_back_to_shipping_then_company():
    # given an order placed by a company buyer without a billing name
    payload = order_payload(65)
    payload["billing"].update(first_name="", last_name="", company="Acme GmbH")
    no_names = copy.deepcopy(payload)
    no_names["shipping"].update(first_name="", last_name="")

    # when / then
    assert map_order(payload).fields["customer_name"] == "Ben Schmidt"
    assert map_order(no_names).fields["customer_name"] == "Acme GmbH"


def test_a_virtual_order_without_shipping_address_takes_the_place_from_billing():
    # given a download-only order: WooCommerce sends an empty shipping address
    payload = order_payload(66, country="BE", city="Gent")
    payload["shipping"] = {key: "" for key in payload["shipping"]}

    # when
    fields = map_order(payload).fields

    # then
    assert (fields["city"], fields["country"]) == ("Gent", "BE")


# -- lines: variations, personalisation -------------------------------------------------------------------


def test_a_variation_line_gets_a_label_of_its_visible_attributes():
    # given
    mapped = map_order(gb_order())

    # when
    [line] = mapped.lines

    # then
    assert (line.fields["product_id"], line.fields["variation_id"]) == (44, 45)
    assert line.fields["variation"] == "Size: L, Colour: Red"
    assert [m["key"] for m in line.fields["meta"]] == ["pa_size", "pa_colour", "_reduced_stock"]


def test_the_variation_label_uses_the_key_without_display_key_and_skips_structured_values():
    # given meta from a product add-ons plugin: a plain key, a structured value, internal keys
    meta = [
        {"id": 1, "key": "Engraving", "value": "For Mum"},
        {"id": 2, "key": "addons", "value": {"price": "2.00"}, "display_key": "addons"},
        {"id": 3, "key": "_wcpa_data", "value": "x"},
        {"id": 4, "key": "_project_id", "value": "prj_8f3a21"},
    ]
    payload = order_payload(70, line_items=[line_item(701, meta=meta)])

    # when
    [line] = map_order(payload).lines

    # then
    assert line.fields["variation"] == "Engraving: For Mum"


def test_a_line_made_in_our_editor_makes_an_in_app_order():
    # given a line carrying the personalisation project's id in internal meta
    payload = order_payload(71, line_items=[
        line_item(711, name="Photo book A4", sku="BOOK-A4", meta=[
            {"id": 7, "key": "_project_id", "value": "prj_8f3a21", "display_key": "_project_id",
             "display_value": "prj_8f3a21"},
        ]),
        line_item(712, name="Gift card"),
    ])

    # when
    mapped = map_order(payload)

    # then
    assert mapped.fields["order_type"] == OrderType.IN_APP
    assert [(line.woo_line_id, line.fields["project_ref"], line.fields["variation"]) for line in mapped.lines] == [
        (711, "prj_8f3a21", ""),
        (712, "", ""),
    ]


def test_an_amazon_marketplace_order():
    # given an order brought in by an Amazon connector (payment method "Amazon Marketplace", order meta)
    payload = order_payload(72, created_via="amazon", payment_method="amazon",
                            payment_method_title="Amazon Marketplace",
                            meta_data=[{"id": 1, "key": "_amazon_order_id", "value": "305-1234567-7654321"}])

    # when
    fields = map_order(payload).fields

    # then
    assert fields["order_type"] == OrderType.AMAZON


def test_an_amazon_order_recognised_by_its_meta_only():
    # given WP-Lister for Amazon: the only trace is the order meta key
    payload = order_payload(73, meta_data=[{"id": 1, "key": "_wpla_amazon_order_id", "value": "305-7654321"}])

    # when / then
    assert map_order(payload).fields["order_type"] == OrderType.AMAZON


def test_a_shop_order_paid_with_amazon_pay_is_not_an_amazon_order():
    # given a checkout on the shop itself with the Amazon Pay gateway
    payload = order_payload(74, created_via="checkout", payment_method="amazon_payments_advanced",
                            payment_method_title="Amazon Pay", transaction_id="S02-1234567-7654321",
                            meta_data=[{"id": 1, "key": "amazon_charge_permission_id", "value": "B02-1234567"},
                                       {"id": 2, "key": "amazon_charge_id", "value": "S02-1234567-7654321"},
                                       {"id": 3, "key": "amazon_payment_advanced_version", "value": "v2"}])

    # when / then
    assert map_order(payload).fields["order_type"] == OrderType.OTHER


def test_a_shineon_order():
    # given
    payload = order_payload(75, created_via="shineon",
                            meta_data=[{"id": 1, "key": "_shineon_order_id", "value": "SO-99812"}])

    # when / then
    assert map_order(payload).fields["order_type"] == OrderType.SHINEON


def test_in_app_wins_over_the_channel():
    # given a ShineOn order that also holds a line made in our editor
    payload = order_payload(76, created_via="shineon", line_items=[
        line_item(761, meta=[{"id": 1, "key": "_project_id", "value": "prj_1"}])])

    # when / then
    assert map_order(payload).fields["order_type"] == OrderType.IN_APP


def test_image_src_is_kept_only_when_it_is_a_usable_url():
    # given
    lines = [line_item(771), line_item(772), line_item(773), line_item(774)]
    lines[0]["image"] = {"id": 80, "src": "https://shop.example.com/wp-content/uploads/mug.jpg"}
    lines[1]["image"] = {"id": "", "src": ""}
    lines[2]["image"] = {"id": 81, "src": "data:image/png;base64,AAAA"}
    lines[3]["image"] = {"id": 82, "src": "https://cdn.example.com/" + "a" * 500 + ".jpg"}
    payload = order_payload(77, line_items=lines)

    # when
    mapped = map_order(payload)

    # then: a URL too long for the column is dropped rather than cut into a broken one
    assert [line.fields["image_src"] for line in mapped.lines] == [
        "https://shop.example.com/wp-content/uploads/mug.jpg", "", "", ""]


def test_item_count_adds_the_quantities():
    # given
    payload = order_payload(78, line_items=[line_item(781, quantity=2, total="19.00"),
                                            line_item(782, quantity=3, total="30.00")])

    # when / then
    assert map_order(payload).fields["item_count"] == 5


# -- dates ---------------------------------------------------------------------------------------------------


def test_dates_come_from_the_gmt_fields_as_aware_utc():
    # given a shop in UTC+1: the local fields are one hour ahead of the *_gmt ones
    created = datetime(2026, 11, 3, 23, 30, tzinfo=UTC)
    payload = order_payload(80, created=created, modified=created + timedelta(hours=2),
                            date_completed_gmt="2026-11-04T08:15:00")
    assert payload["date_created"] == "2026-11-04T00:30:00"

    # when
    fields = map_order(payload).fields

    # then
    assert fields["created_at"] == datetime(2026, 11, 3, 23, 30, tzinfo=UTC)
    assert fields["modified_at"] == datetime(2026, 11, 4, 1, 30, tzinfo=UTC)
    assert fields["paid_at"] == datetime(2026, 11, 3, 23, 30, tzinfo=UTC)
    assert fields["completed_at"] == datetime(2026, 11, 4, 8, 15, tzinfo=UTC)
    assert all(fields[name].utcoffset() == timedelta(0)
               for name in ("created_at", "modified_at", "paid_at", "completed_at"))


def test_the_local_date_fields_are_ignored():
    # given local dates that do not even agree with each other (seen on a real shop)
    payload = order_payload(81, created=datetime(2026, 11, 3, 9, 0, tzinfo=UTC))
    payload.update(date_created="not a date", date_modified="2020-01-01T00:00:00", date_paid=None)

    # when
    fields = map_order(payload).fields

    # then
    assert fields["created_at"] == datetime(2026, 11, 3, 9, 0, tzinfo=UTC)
    assert fields["modified_at"] == datetime(2026, 11, 3, 9, 1, tzinfo=UTC)


def test_a_missing_modified_date_falls_back_to_the_creation_date():
    # given
    payload = order_payload(82, created=datetime(2026, 11, 3, 9, 0, tzinfo=UTC))
    payload["date_modified_gmt"] = None

    # when
    fields = map_order(payload).fields

    # then
    assert fields["modified_at"] == datetime(2026, 11, 3, 9, 0, tzinfo=UTC)


def test_unpaid_and_uncompleted_orders_have_no_such_dates():
    # given
    payload = order_payload(83, status="pending", date_paid_gmt=None, date_completed_gmt=None)

    # when
    fields = map_order(payload).fields

    # then
    assert (fields["paid_at"], fields["completed_at"]) == (None, None)


# -- the raw JSON and its hash ---------------------------------------------------------------------------


def test_the_hash_ignores_key_order_and_changes_with_any_value():
    # given
    payload = order_payload(90)
    reordered = dict(reversed(list(payload.items())))
    edited = copy.deepcopy(payload)
    edited["customer_note"] = "Please gift wrap"

    # when
    hashes = [map_order(p).fields["raw_hash"] for p in (payload, reordered, edited)]

    # then
    assert hashes[0] == hashes[1]
    assert hashes[0] != hashes[2]
    assert len(hashes[0]) == 64


# -- what is not an order -----------------------------------------------------------------------------------


@pytest.mark.parametrize("payload", [None, [], [order_payload(1)], "order", 17])
def test_not_a_json_object(payload):
    with pytest.raises(MappingError) as error:
        map_order(payload)
    assert str(error.value) == "not a JSON object"


@pytest.mark.parametrize("woo_id", [None, 0, ""])
def test_an_order_without_id(woo_id):
    # given
    payload = order_payload(1)
    payload["id"] = woo_id

    # when / then
    with pytest.raises(MappingError) as error:
        map_order(payload)
    assert str(error.value) == "id is missing"


def test_an_order_whose_id_is_not_a_number():
    # given
    payload = order_payload(1)
    payload["id"] = "abc"

    # when / then
    with pytest.raises(MappingError) as error:
        map_order(payload)
    assert str(error.value) == "id: not an integer: 'abc'"


def test_the_id_key_absent():
    # given
    payload = order_payload(1)
    del payload["id"]

    # when / then
    with pytest.raises(MappingError) as error:
        map_order(payload)
    assert str(error.value) == "id is missing"


@pytest.mark.parametrize("missing", ["status", "line_items", "currency"])
def test_a_payload_without_the_order_keys_is_not_an_order(missing):
    # given
    payload = order_payload(1)
    del payload[missing]

    # when / then
    with pytest.raises(MappingError) as error:
        map_order(payload)
    assert str(error.value) == f"{missing} is missing: this is not an order"


def test_a_deleted_webhook_body_is_not_an_order():
    # given the body of order.deleted: only the id
    with pytest.raises(MappingError) as error:
        map_order({"id": 17})
    assert str(error.value) == "status is missing: this is not an order"


def test_a_product_payload_is_not_an_order():
    # given a product.updated body sent to the order endpoint by mistake
    product = {"id": 11, "name": "Photo mug", "slug": "photo-mug", "status": "publish", "price": "9.50",
               "sku": "MUG-11", "meta_data": []}

    # when / then
    with pytest.raises(MappingError) as error:
        map_order(product)
    assert str(error.value) == "currency is missing: this is not an order"


def test_line_items_that_are_not_a_list():
    # given
    payload = order_payload(1)
    payload["line_items"] = {"6": payload["line_items"][0]}

    # when / then
    with pytest.raises(MappingError) as error:
        map_order(payload)
    assert str(error.value) == "line_items: not a list"


def test_a_line_without_id():
    # given
    payload = order_payload(1, line_items=[line_item(11), line_item(12)])
    del payload["line_items"][1]["id"]

    # when / then
    with pytest.raises(MappingError) as error:
        map_order(payload)
    assert str(error.value) == "line_items[1].id is missing"


def test_a_line_that_is_not_an_object():
    # given
    payload = order_payload(1, line_items=[line_item(11), "mug"])

    # when / then
    with pytest.raises(MappingError) as error:
        map_order(payload)
    assert str(error.value) == "line_items[1]: not an object"


@pytest.mark.parametrize(("field", "value", "message"), [
    ("date_created_gmt", "21/11/2026 22:41", "date_created_gmt: not a date: '21/11/2026 22:41'"),
    ("date_modified_gmt", "yesterday", "date_modified_gmt: not a date: 'yesterday'"),
    ("date_paid_gmt", "2026-13-01T00:00:00", "date_paid_gmt: not a date: '2026-13-01T00:00:00'"),
    ("date_created_gmt", None, "date_created_gmt is missing"),
])
def test_a_bad_date(field, value, message):
    # given
    payload = order_payload(1)
    payload[field] = value

    # when / then
    with pytest.raises(MappingError) as error:
        map_order(payload)
    assert str(error.value) == message


@pytest.mark.parametrize(("field", "value", "message"), [
    ("total", "40,08", "total: not an amount: '40,08'"),
    ("total_tax", "NaN", "total_tax: not an amount: 'NaN'"),
    ("shipping_total", "Infinity", "shipping_total: not an amount: 'Infinity'"),
    ("discount_total", "€4.00", "discount_total: not an amount: '€4.00'"),
])
def test_a_bad_order_amount(field, value, message):
    # given
    payload = order_payload(1)
    payload[field] = value

    # when / then
    with pytest.raises(MappingError) as error:
        map_order(payload)
    assert str(error.value) == message


def test_a_bad_line_amount_names_the_line():
    # given
    payload = order_payload(1, line_items=[line_item(11), line_item(12)])
    payload["line_items"][1]["subtotal"] = "n/a"

    # when / then
    with pytest.raises(MappingError) as error:
        map_order(payload)
    assert str(error.value) == "line_items[1].subtotal: not an amount: 'n/a'"


def test_a_bad_quantity_names_the_line():
    # given
    payload = order_payload(1, line_items=[line_item(11)])
    payload["line_items"][0]["quantity"] = "two"

    # when / then
    with pytest.raises(MappingError) as error:
        map_order(payload)
    assert str(error.value) == "line_items[0].quantity: not an integer: 'two'"


def test_a_bad_refund_amount_names_the_refund():
    # given
    payload = order_payload(1, refunds=[{"id": 5, "reason": "", "total": "-10.00"},
                                        {"id": 6, "reason": "", "total": "minus ten"}])

    # when / then
    with pytest.raises(MappingError) as error:
        map_order(payload)
    assert str(error.value) == "refunds[1].total: not an amount: 'minus ten'"


def test_a_refund_without_id():
    # given
    payload = order_payload(1, refunds=[{"reason": "", "total": "-10.00"}])

    # when / then
    with pytest.raises(MappingError) as error:
        map_order(payload)
    assert str(error.value) == "refunds[0].id is missing"


def test_mapping_error_is_a_value_error():
    assert issubclass(MappingError, ValueError)


def test_nul_characters_are_replaced_everywhere_and_the_hash_is_of_what_is_kept():
    payload = order_payload(5, customer_note="a\x00b")
    payload["meta_data"] = [{"id": 1, "key": "gift\x00", "value": ["x\x00", {"y": "\x00"}]}]

    mapped = map_order(payload)

    assert mapped.fields["customer_note"] == "a\ufffdb"
    assert mapped.fields["raw"]["meta_data"] == [{"id": 1, "key": "gift\ufffd", "value": ["x\ufffd", {"y": "\ufffd"}]}]
    assert "\\u0000" not in mapped.raw_json
    assert mapped.fields["raw_hash"] == map_order(mapped.fields["raw"]).fields["raw_hash"]
    assert payload["customer_note"] == "a\x00b"  # the caller's payload is left as it was


@pytest.mark.parametrize("field, value, message", [
    ("total", "10000000000.00", "total: '10000000000.00' is too large an amount"),
    ("total", "-10000000000", "total: '-10000000000' is too large an amount"),
    ("customer_id", 2**63, "customer_id: 9223372036854775808 is too large a number"),
])
def test_numbers_our_columns_cannot_hold_are_mapping_errors(field, value, message):
    with pytest.raises(MappingError) as caught:
        map_order(order_payload(5, **{field: value}))
    assert str(caught.value) == message


def test_the_largest_amount_our_columns_hold_is_mapped():
    assert map_order(order_payload(5, total="9999999999.9999")).fields["total"] == Decimal("9999999999.9999")


@pytest.mark.parametrize("quantity", ["١٢٣", "²", float("inf")])
def test_a_line_quantity_of_other_digits_or_an_infinity_is_no_integer(quantity):
    # Given an order whose line quantity is Arabic-Indic digits (int() reads 123), a superscript, or 1e400 (JSON's
    # infinity: int() raised OverflowError, which failed the task and left the delivery to be queued forever)
    payload = copy.deepcopy(SAMPLE_ORDER)
    payload["line_items"][0]["quantity"] = quantity

    # When it is mapped, then it is refused as not an integer
    with pytest.raises(MappingError, match="not an integer"):
        map_order(payload)
