"""The Rewix client against the fake supplier over HTTP: catalogue, growing order, dropshipping orders, statuses.

Faults (timeouts, error pages, refused logins) are in test_rewix_client_faults.py.
"""

import base64
import xml.etree.ElementTree as ET
from datetime import UTC, datetime, timedelta, timezone
from decimal import Decimal

import pytest

from fulfillment.integrations.rewix import (
    STATUS_OF_CODE,
    Applied,
    DropshipOrder,
    MoreThanExpected,
    Operation,
    OutOfStock,
    Recipient,
    Reserved,
    RewixClient,
    SupplierDuplicateOrderError,
    SupplierError,
    SupplierModel,
    SupplierNotSupportedError,
    SupplierRejectedError,
    SupplierStatus,
    status_for,
)
from fulfillment.integrations.rewix.dialect import authorization, parse_datetime
from fulfillment.integrations.rewix.mapping import parse_orders
from tests.fakes.rewix import CATALOGUE, DROPSHIPPING, LOCKED, SOLD, FakeRewix

SNEAKER_40, SNEAKER_41, SNEAKER_42, SCARF, JACKET_M = "234225", "234226", "234227", "234230", "234231"
AMSTERDAM = Recipient(name="Anna de Vries", careof="Studio Noord B.V.", phone="+31 20 555 0101",
                      street="Keizersgracht 221", zip="1016 DV", city="Amsterdam", province="NH", countrycode="NL")
CET = timezone(timedelta(hours=1))


def dropship(key="1001", items=((SNEAKER_40, 2),), recipient=AMSTERDAM):
    return DropshipOrder(key=key, date=datetime(2026, 12, 5, 14, 30, tzinfo=CET), items=items, recipient=recipient)


@pytest.fixture
def rewix():
    server = FakeRewix().start()
    yield server
    server.stop()


@pytest.fixture
def client(rewix):
    return RewixClient(rewix.url, api_key=rewix.api_key, password=rewix.password)


# -- catalogue ------------------------------------------------------------------------------------------------------


def test_the_catalogue_lists_products_with_their_models_and_decimal_prices(rewix, client):
    # When the whole catalogue is read in two languages
    products = client.catalogue(locales=("en_US", "it_IT"))

    # Then each product comes with its models, keyed by the stock id every order call uses
    assert [(p.id, p.name, p.code, p.taxable, p.availability, p.online) for p in products] == [
        ("18301", "Leather low-top sneakers", "GF-SN1830", Decimal("42.50"), 15, True),
        ("22140", "Wool blend scarf", "TR-SC2214", Decimal("18.20"), 8, True),
        ("31577", "Denim trucker jacket", "LJ-JK3157", Decimal("55.00"), 7, True),
    ]
    assert products[0].models == (
        SupplierModel(SNEAKER_40, "40", "White", "GF-SN1830-WHITE-40", "8052345018304", 12, False),
        SupplierModel(SNEAKER_41, "41", "White", "GF-SN1830-WHITE-41", "8052345018311", 3, False),
        SupplierModel(SNEAKER_42, "42", "White", "GF-SN1830-WHITE-42", "8052345018328", 0, True),
    )
    # in one request, as the plugins ask it
    assert [(r.method, r.path, r.query) for r in rewix.requests] == [
        ("GET", CATALOGUE, {"v": "TEAL", "acceptedlocales": "en_US,it_IT"})]
    assert products.last_update.tzinfo is not None


def test_since_asks_only_for_the_products_changed_after_it(rewix, client):
    # Given the scarf's stock changed after our last read
    last_read = datetime.now(UTC) - timedelta(minutes=15)
    rewix.set_stock(SCARF, 2)

    # When the changes since then are read
    products = client.catalogue(since=last_read)

    # Then only the scarf comes, with its new stock
    assert [(p.code, p.models[0].availability) for p in products] == [("TR-SC2214", 2)]
    assert rewix.requests[-1].query["since"] == last_read.strftime("%Y-%m-%dT%H:%M:%SZ")


def test_a_since_older_than_the_platform_keeps_reads_the_whole_catalogue(rewix, client):
    # When the changes of yesterday are asked (the platform keeps about four hours: it answers 412)
    products = client.catalogue(since=datetime.now(UTC) - timedelta(days=1))

    # Then the whole catalogue is read instead
    assert len(products) == 3
    assert [("since" in r.query) for r in rewix.requests] == [True, False]


def test_a_paged_catalogue_is_read_to_its_last_page():
    # Given a platform that sends two products per answer
    server = FakeRewix(page_size=2).start()
    try:
        products = RewixClient(server.url, api_key=server.api_key, password=server.password).catalogue()
    finally:
        server.stop()

    # Then every product arrives, the next page asked only because totalItems said more exist
    assert [p.id for p in products] == ["18301", "22140", "31577"]
    assert [r.query.get("page") for r in server.requests] == [None, "2"]


def test_a_catalogue_that_stops_short_is_an_error_and_never_a_partial_list():
    # Given a platform that announces three products, sends two, and ignores the page parameter
    class IgnoresPages(FakeRewix):
        def catalogue(self, args):
            return super().catalogue({k: v for k, v in args.items() if k != "page"})

    server = IgnoresPages(page_size=2).start()
    try:
        with pytest.raises(SupplierError) as caught:
            RewixClient(server.url, api_key=server.api_key, password=server.password).catalogue()
    finally:
        server.stop()

    # Then the caller gets no list to sync from, and the reason
    assert str(caught.value) == ("Reading the supplier's catalogue: the supplier announced 3 products but sent 2; "
                                 "nothing was changed on our side.")
    assert caught.value.retryable is False
    assert len(server.requests) == 2


# -- the growing order ---------------------------------------------------------------------------------------------


@pytest.mark.parametrize("auth", ["basic", "bearer"])
def test_both_authentication_styles_read_the_growing_order(rewix, auth):
    # Given a reservation, and a client logging in with the key and password or with a token
    rewix.locks[SNEAKER_40] = 3
    api_key = rewix.token if auth == "bearer" else rewix.api_key
    client = RewixClient(rewix.url, api_key=api_key, password="" if auth == "bearer" else rewix.password, auth=auth)

    # When the growing order is read
    growing = client.growing_order()

    # Then it tells what is locked for the shop and what is still free, per stock id
    assert (growing.order_id, growing.models) == ("1402771", {SNEAKER_40: Reserved(locked=3, available=12)})
    assert (growing.locked(SNEAKER_40), growing.locked(SCARF)) == (3, 0)
    assert [(r.method, r.path) for r in rewix.requests] == [("GET", LOCKED + "/")]


def test_the_authorization_header_of_each_style():
    assert authorization("basic", "key-1", "pass:word") == "Basic " + base64.b64encode(b"key-1:pass:word").decode()
    assert authorization("bearer", "eyJ.token", "ignored") == "Bearer eyJ.token"
    with pytest.raises(ValueError):
        RewixClient("http://127.0.0.1:9", api_key="k", auth="digest")


def test_operations_go_as_one_xml_document_in_their_order_and_each_is_checked(rewix, client):
    # Given the growing order as it was read before
    rewix.locks[SCARF] = 1
    before = client.growing_order()

    # When a lock, a set and an unlock are sent together
    result = client.apply_operations([Operation("lock", SNEAKER_40, 2), Operation("set", JACKET_M, 4),
                                      Operation("unlock", SCARF, 1)], before=before)

    # Then the platform got them in one document, one block per type, in order
    body = ET.fromstring(rewix.requests[-1].body)
    assert [(block.get("type"), [(m.get("stock_id"), m.get("quantity")) for m in block])
            for block in body.findall("operation")] == [
        ("lock", [(SNEAKER_40, "2")]), ("set", [(JACKET_M, "4")]), ("unlock", [(SCARF, "1")])]
    assert [(r.method, r.path) for r in rewix.requests] == [("GET", LOCKED + "/"), ("POST", SOLD)]
    # and each operation is read as applied from the locked quantities the platform answered
    assert result.ok is True
    assert result.outcomes == (Applied(Operation("lock", SNEAKER_40, 2), locked=2, available=10),
                               Applied(Operation("set", JACKET_M, 4), locked=4, available=1),
                               Applied(Operation("unlock", SCARF, 1), locked=0, available=0))
    assert result.growing_order.models == {SNEAKER_40: Reserved(2, 10), JACKET_M: Reserved(4, 1)}
    assert (rewix.locked(SNEAKER_40), rewix.availability(SCARF)) == (2, 9)


def test_a_lock_without_before_reads_the_growing_order_first_and_a_set_does_not(rewix, client):
    client.apply_operations([Operation("lock", SNEAKER_40, 1)])
    assert [r.method for r in rewix.requests] == ["GET", "POST"]

    client.apply_operations([Operation("set", SNEAKER_40, 1)])
    assert [r.method for r in rewix.requests] == ["GET", "POST", "POST"]
    assert rewix.locked(SNEAKER_40) == 1


def test_a_model_short_of_stock_is_out_of_stock_and_the_rest_of_the_batch_applies(rewix, client):
    # Given only 3 of the size 41 left, and none of size 42
    before = client.growing_order()

    # When 5 of size 41, 1 of size 42 and 1 scarf are locked
    result = client.apply_operations([Operation("lock", SNEAKER_41, 5), Operation("lock", SNEAKER_42, 1),
                                      Operation("lock", SCARF, 1)], before=before)

    # Then size 41 got what was left, size 42 nothing (missing from the answer), the scarf its lock
    assert result.outcomes == (
        OutOfStock(Operation("lock", SNEAKER_41, 5), SNEAKER_41, asked=5, locked=3, available=0),
        OutOfStock(Operation("lock", SNEAKER_42, 1), SNEAKER_42, asked=1, locked=0, available=0),
        Applied(Operation("lock", SCARF, 1), locked=1, available=7),
    )
    assert [o.stock_id for o in result.out_of_stock] == [SNEAKER_41, SNEAKER_42]
    assert result.ok is False


def test_a_model_whose_product_left_the_catalogue_is_out_of_stock(rewix, client):
    # Given the supplier stopped selling the jacket
    rewix.remove_product(31577)

    # When a jacket is reserved
    result = client.apply_operations([Operation("set", JACKET_M, 1)])

    # Then nothing was reserved, and the catalogue no longer lists it
    assert result.outcomes == (OutOfStock(Operation("set", JACKET_M, 1), JACKET_M, asked=1, locked=0, available=0),)
    assert [p.id for p in client.catalogue()] == ["18301", "22140"]


def test_set_is_idempotent(rewix, client):
    # When the same set is sent twice (as after an answer that never came)
    first = client.apply_operations([Operation("set", SNEAKER_40, 4)])
    second = client.apply_operations([Operation("set", SNEAKER_40, 4)])

    # Then 4 are reserved once, and the stock gave 4 only once
    assert first.outcomes == second.outcomes == (Applied(Operation("set", SNEAKER_40, 4), locked=4, available=8),)
    assert (rewix.locked(SNEAKER_40), rewix.availability(SNEAKER_40)) == (4, 8)


def test_a_lock_twice_reserves_twice_and_an_unlock_gives_back_to_the_stock(rewix, client):
    client.apply_operations([Operation("lock", SNEAKER_40, 2)])
    client.apply_operations([Operation("lock", SNEAKER_40, 2)])
    assert rewix.locked(SNEAKER_40) == 4

    result = client.apply_operations([Operation("unlock", SNEAKER_40, 3)])

    assert result.outcomes == (Applied(Operation("unlock", SNEAKER_40, 3), locked=1, available=11),)


def test_a_growing_order_changed_by_someone_else_shows_as_more_than_expected(rewix, client):
    # Given our view of the growing order, then another tool locks 2 more of the same model
    before = client.growing_order()
    rewix.locks[SNEAKER_40] = 2

    result = client.apply_operations([Operation("lock", SNEAKER_40, 1)], before=before)

    assert result.outcomes == (MoreThanExpected(Operation("lock", SNEAKER_40, 1), expected=1, locked=3),)


def test_an_operation_must_be_lock_unlock_or_set_with_a_whole_quantity():
    with pytest.raises(ValueError):
        Operation("reserve", SNEAKER_40, 1)
    with pytest.raises(ValueError):
        Operation("lock", SNEAKER_40, -1)
    assert Operation("lock", 234225, 1).stock_id == SNEAKER_40


# -- dropshipping orders -------------------------------------------------------------------------------------------


def test_placing_an_order_sends_the_documented_xml_and_returns_the_supplier_order_id(rewix, client):
    # Given 2 sneakers reserved for the order
    client.apply_operations([Operation("set", SNEAKER_40, 2)])

    # When the shop order 1001 is placed
    order_id = client.place_order(dropship())

    # Then the supplier has order 5100001, its items taken from the reservation
    assert order_id == "5100001"
    assert (rewix.locked(SNEAKER_40), rewix.availability(SNEAKER_40)) == (0, 10)
    sent = rewix.requests[-1]
    assert (sent.method, sent.path) == ("POST", DROPSHIPPING)
    order = ET.fromstring(sent.body).find("order_list/order")
    assert {child.tag: (child.text or "") for child in order if len(child) == 0} == {
        "key": "1001", "date": "2026/12/05 14:30:00 +0100"}
    assert [(i.findtext("stock_id"), i.findtext("quantity")) for i in order.findall("item_list/item")] == [
        (SNEAKER_40, "2")]
    assert {path: order.findtext(f"recipient_details/{path}") for path in (
        "recipient", "careof", "phone/number", "address/street_name", "address/zip", "address/city",
        "address/province", "address/countrycode")} == {
        "recipient": "Anna de Vries", "careof": "Studio Noord B.V.", "phone/number": "+31 20 555 0101",
        "address/street_name": "Keizersgracht 221", "address/zip": "1016 DV", "address/city": "Amsterdam",
        "address/province": "NH", "address/countrycode": "NL"}


def test_a_second_order_with_the_same_key_is_refused_as_a_duplicate(rewix, client):
    client.place_order(dropship())

    with pytest.raises(SupplierDuplicateOrderError) as caught:
        client.place_order(dropship())

    assert (caught.value.status, caught.value.retryable, caught.value.outcome_unknown) == (412, False, False)
    assert str(caught.value) == ("Placing the order 1001: the supplier already has an order with this key. "
                                 "Order with key 1001 already exists")
    assert list(rewix.orders) == ["1001"]


@pytest.mark.parametrize("order, reason", [
    (dropship(items=((JACKET_M, 1),)), "Unknown product or bad quantity: stock_id 234231"),
    (dropship(recipient=Recipient(name="Anna de Vries", street="", zip="1016 DV", city="", countrycode="NL")),
     "Invalid order: missing street_name, city"),
    (dropship(items=((SNEAKER_41, 4),)), "Not enough availability for stock_id 234226"),
])
def test_an_order_the_platform_cannot_take_is_rejected_with_its_reason(rewix, client, order, reason):
    # Given the jacket is no longer sold
    rewix.remove_product(31577)

    with pytest.raises(SupplierRejectedError) as caught:
        client.place_order(order)

    assert type(caught.value) is SupplierRejectedError
    assert str(caught.value).endswith(reason)
    assert (caught.value.retryable, rewix.orders) == (False, {})


def test_an_order_date_without_a_timezone_is_refused_before_anything_is_sent(rewix, client):
    with pytest.raises(ValueError):
        client.place_order(DropshipOrder("1001", datetime(2026, 12, 5, 14, 30), ((SNEAKER_40, 1),), AMSTERDAM))
    assert rewix.requests == []


def test_an_order_is_looked_up_by_key_or_id_with_its_status_and_tracking(rewix, client):
    # Given an order the supplier has dispatched with tracking
    order_id = client.place_order(dropship())
    rewix.advance("1001", 3, tracking="0641 2233 4455", at=datetime(2026, 12, 9, 10, 15, tzinfo=UTC))

    by_key, by_id = client.order_by_key("1001"), client.order_by_id(order_id)

    assert by_key == by_id
    assert (by_key.order_id, by_key.key, by_key.status_code, by_key.status) == (
        "5100001", "1001", 3, SupplierStatus.DISPATCHED)
    assert (by_key.tracking_code, by_key.tracking_url, by_key.carrier_name, by_key.last_update) == (
        "0641 2233 4455", "https://vas.brt.it/vas/sped_det_show.hsm?Nspediz=0641 2233 4455", "BRT",
        datetime(2026, 12, 9, 10, 15, tzinfo=UTC))


def test_an_order_the_platform_does_not_have_is_none(rewix, client):
    # By key the platform answers 500 "does not exist", by id 404: both mean no such order
    assert client.order_by_key("9999") is None
    assert client.order_by_id("404404") is None
    assert [r.path for r in rewix.requests] == ["/restful/ghost/clientorders/clientkey/9999",
                                                "/restful/ghost/clientorders/serverkey/404404"]


def test_orders_since_asks_once_per_key_and_keeps_those_changed(rewix, client):
    # Given two orders, one changed this morning, one last week, and a key the supplier never got
    for key in ("1001", "1002"):
        client.place_order(dropship(key=key, items=((SCARF, 1),)))
    rewix.advance("1001", 3001, at=datetime(2026, 12, 9, 9, 0, tzinfo=UTC))
    rewix.advance("1002", 2, at=datetime(2026, 12, 2, 9, 0, tzinfo=UTC))
    rewix.requests.clear()

    orders = client.orders_since(datetime(2026, 12, 9, 0, 0, tzinfo=UTC), keys=["1001", "1002", "1003", "1001"])

    assert [(o.key, o.status) for o in orders] == [("1001", SupplierStatus.WORKING_ON)]
    assert len(rewix.requests) == 3


def test_cancelling_is_not_offered_by_the_platform(rewix, client):
    with pytest.raises(SupplierNotSupportedError) as caught:
        client.cancel_order("1001")
    assert caught.value.retryable is False
    assert "cancel order 1001 in the supplier's back-office" in str(caught.value)
    assert rewix.requests == []


# -- mapping ---------------------------------------------------------------------------------------------------------


@pytest.mark.parametrize("code, status", [
    (0, "booked"), (1, "booked"), (5, "booked"), (5003, "booked"), (2, "confirmed"), (3001, "working_on"),
    (3002, "ready"), (3, "dispatched"), (2000, "cancelled"), (2002, "payment_refused"),
    ("3", "dispatched"), (4242, "unknown"), (None, "unknown"), ("shipped", "unknown"),
])
def test_the_status_table_maps_every_platform_code_and_unknown_ones_to_unknown(code, status):
    assert status_for(code) == status
    assert isinstance(status_for(code), SupplierStatus)


def test_the_status_table_covers_exactly_the_documented_codes():
    assert sorted(STATUS_OF_CODE) == [0, 1, 2, 3, 5, 2000, 2002, 3001, 3002, 5003]


def test_an_order_answer_names_the_key_key_or_ext_ref_and_dates_come_in_several_formats():
    root = ET.fromstring("<root><order><order_id>77</order_id><key>1001</key><status>2</status>"
                         "<last_update>2026-12-05T14:30:00.000Z</last_update></order>"
                         "<order><order_id>78</order_id><ext_ref>1002</ext_ref><status>7777</status></order></root>")
    assert [(o.order_id, o.key, o.status_code, o.status, o.last_update) for o in parse_orders(root)] == [
        ("77", "1001", 2, SupplierStatus.CONFIRMED, datetime(2026, 12, 5, 14, 30, tzinfo=UTC)),
        ("78", "1002", 7777, SupplierStatus.UNKNOWN, None),
    ]
    assert parse_datetime("2026/12/05 14:30:00 +0100") == datetime(2026, 12, 5, 13, 30, tzinfo=UTC)
    assert parse_datetime("1796481000000") == datetime(2026, 12, 5, 14, 30, tzinfo=UTC)
    assert parse_datetime("2026-12-05 14:30:00") == datetime(2026, 12, 5, 14, 30, tzinfo=UTC)
    assert parse_datetime("soon") is None
