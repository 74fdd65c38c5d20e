"""Importing orders from a shop (all, a creation-date range, ids): service, management command, admin."""

from datetime import UTC, datetime, timedelta
from decimal import Decimal
from io import StringIO
from zoneinfo import ZoneInfo

import pytest
from django.contrib.auth.models import Permission
from django.core.management import CommandError, call_command
from django.urls import reverse

from fulfillment.choices import EventSource, EventType, ImportMode, OrderType, RunState, SubmitStatus
from fulfillment.integrations.woocommerce.client import WooClient
from fulfillment.models import ImportRun, Order, OrderEvent, OrderLine, Refund
from fulfillment.services import imports
from fulfillment.services.imports import ImportRequestError, import_run_create, import_run_execute
from fulfillment.services.mirror import orders_upsert
from tests.factories import StoreFactory, UserFactory
from tests.woo_payloads import line_item, order_payload

NOT_FOUND = "not found in WooCommerce (deleted, trashed or never existed)"
HTML_503 = "<html><head><title>503 Service Unavailable</title></head><body>Down</body></html>"
START = datetime(2026, 11, 1, 10, 0, tzinfo=UTC)  # order_payload(n) is created at START + n minutes


@pytest.fixture
def woo_client(woo):
    return WooClient(base_url=woo.url, consumer_key=woo.consumer_key, consumer_secret=woo.consumer_secret,
                     retry_base=0, max_retries=2, sleep=lambda seconds: None)


def run_import(store, client, mode=ImportMode.ALL, **kwargs):
    return import_run_execute(run=import_run_create(store=store, mode=mode, **kwargs), client=client)


def counters(run):
    return {"state": run.state, "pages_done": run.pages_done, "pages_total": run.pages_total,
            "orders_seen": run.orders_seen, "created": run.created, "updated": run.updated,
            "unchanged": run.unchanged, "failed": run.failed, "failures": run.failures, "error": run.error}


def stored_ids(store):
    return sorted(Order.objects.filter(store=store).values_list("woo_id", flat=True))


def shop_edit(woo, woo_id, **changes):
    """Change an order as a shop admin would, weeks after it was placed (not tied to today's clock)."""
    woo.orders[woo_id].update(changes, date_modified_gmt="2026-12-01T09:00:00", date_modified="2026-12-01T10:00:00")


def line_rows(order):
    return list(order.lines.order_by("woo_line_id").values_list("woo_line_id", "name", "quantity", "total"))


# -- import all -----------------------------------------------------------------------------------------


def test_import_all_mirrors_every_order_page_by_page(woo, woo_store, woo_client):
    # given a shop with 250 orders, one of them refunded in part
    woo.add_orders([order_payload(i) for i in range(1, 251)])
    woo.orders[17]["refunds"] = [{"id": 41, "reason": "demo refund (api_refund=false)", "total": "-28.50"}]

    # when
    run = run_import(woo_store, woo_client)

    # then
    run.refresh_from_db()
    assert counters(run) == {"state": RunState.DONE, "pages_done": 3, "pages_total": 3, "orders_seen": 250,
                             "created": 250, "updated": 0, "unchanged": 0, "failed": 0, "failures": [], "error": ""}
    assert run.started_at <= run.finished_at
    assert stored_ids(woo_store) == list(range(1, 251))
    assert OrderLine.objects.filter(order__store=woo_store).count() == 250
    # page 1 first (it tells how many there are), then the others at once
    asked = [(p["page"], p["per_page"], p["orderby"], p["order"]) for _, _, p in woo.requests]
    assert asked[0] == ("1", "100", "id", "asc")
    assert sorted(asked[1:]) == [("2", "100", "id", "asc"), ("3", "100", "id", "asc")]
    order = Order.objects.get(store=woo_store, woo_id=17)
    assert (order.number, order.status, order.total, order.refunded_total, order.currency) == (
        "17", "processing", Decimal("40.08"), Decimal("28.50"), "EUR")
    assert order.created_at == START + timedelta(minutes=17)
    assert line_rows(order) == [(171, "Demo product DEMO-001", 3, Decimal("28.50"))]
    assert list(order.refunds.values_list("woo_refund_id", "amount", "reason")) == [
        (41, Decimal("28.50"), "demo refund (api_refund=false)")]
    # one event per order received, and one for the refund made in WooCommerce
    assert OrderEvent.objects.count() == 251
    assert set(OrderEvent.objects.values_list("type", "source")) == {(EventType.CREATED, EventSource.IMPORT),
                                                                      (EventType.REFUNDED_IN_WOO, EventSource.IMPORT)}
    assert OrderEvent.objects.get(type=EventType.REFUNDED_IN_WOO).message == (
        "28.50 EUR (WooCommerce refund 41) — demo refund (api_refund=false)")


def test_import_all_of_an_empty_shop(woo, woo_store, woo_client):
    # when
    run = run_import(woo_store, woo_client)

    # then
    assert counters(run) == {"state": RunState.DONE, "pages_done": 1, "pages_total": 0, "orders_seen": 0,
                             "created": 0, "updated": 0, "unchanged": 0, "failed": 0, "failures": [], "error": ""}
    assert Order.objects.count() == 0


def test_orders_of_several_countries_and_currencies_are_mirrored_with_their_money(woo, woo_store, woo_client):
    # given
    woo.add_orders([
        order_payload(1, currency="GBP", country="GB", city="London", total="45.00", total_tax="7.50",
                      discount_total="4.17", coupon_lines=[{"id": 9, "code": "welcome10", "discount": "4.17",
                                                            "discount_tax": "0.83", "meta_data": []}]),
        order_payload(2, currency="JPY", country="JP", city="Shibuya-ku", total="7260", total_tax="660",
                      line_items=[line_item(21, name="Photo book A4", quantity=2, total="6000", total_tax="600")]),
        order_payload(3, currency="USD", country="US", city="San Francisco", total="107.25", total_tax="8.25",
                      line_items=[line_item(31, quantity=3, total="10.00", total_tax="0.88")]),
    ])

    # when
    run_import(woo_store, woo_client)

    # then
    rows = list(Order.objects.order_by("woo_id").values_list("woo_id", "currency", "country", "total", "total_tax",
                                                              "discount_total"))
    assert rows == [
        (1, "GBP", "GB", Decimal("45.00"), Decimal("7.50"), Decimal("4.17")),
        (2, "JPY", "JP", Decimal("7260"), Decimal("660"), Decimal("0")),
        (3, "USD", "US", Decimal("107.25"), Decimal("8.25"), Decimal("0")),
    ]
    # 10.00 / 3 arrives as the float 3.3333333333333335 and is stored to the column's four places.
    assert OrderLine.objects.get(woo_line_id=31).price == Decimal("3.3333")
    assert OrderLine.objects.get(woo_line_id=21).price == Decimal("3000")


def test_an_in_app_order_and_a_line_with_a_very_long_image_url(woo, woo_store, woo_client):
    # given
    mug = line_item(11, meta=[{"id": 1, "key": "_project_id", "value": "prj_8f3a21"}])
    mug["image"] = {"id": 5, "src": "https://cdn.example.com/renders/" + "a" * 600 + ".jpg"}
    woo.add_orders([order_payload(1, line_items=[mug])])

    # when
    run = run_import(woo_store, woo_client)

    # then
    assert (run.state, run.created) == (RunState.DONE, 1)
    order = Order.objects.get(woo_id=1)
    assert order.order_type == OrderType.IN_APP
    assert list(order.lines.values_list("project_ref", "image_src")) == [("prj_8f3a21", "")]


# -- import a date range -----------------------------------------------------------------------------------


def test_import_a_range_asks_for_gmt_creation_dates(woo, woo_store, woo_client):
    # given orders created one a minute from 10:01 UTC; the shop runs at UTC+1
    woo.add_orders([order_payload(i) for i in range(1, 61)])

    # when
    run = run_import(woo_store, woo_client, ImportMode.RANGE, since=START + timedelta(minutes=30),
                     until=START + timedelta(minutes=40))

    # then the orders created from 10:30:00 (included) to 10:40:00 (excluded), read as UTC
    assert (run.state, run.created, run.orders_seen) == (RunState.DONE, 10, 10)
    assert stored_ids(woo_store) == list(range(30, 40))
    assert woo.requests[0][2] == {"orderby": "id", "order": "asc", "after": "2026-11-01T10:29:59",
                                  "before": "2026-11-01T10:40:00", "dates_are_gmt": "true", "per_page": "100",
                                  "page": "1"}


def test_range_dates_in_another_timezone_are_sent_in_utc(woo, woo_store, woo_client):
    # given
    woo.add_orders([order_payload(i) for i in range(1, 61)])
    amsterdam = ZoneInfo("Europe/Amsterdam")

    # when
    run_import(woo_store, woo_client, ImportMode.RANGE, since=datetime(2026, 11, 1, 11, 50, tzinfo=amsterdam))

    # then
    assert stored_ids(woo_store) == list(range(50, 61))
    assert woo.requests[0][2]["after"] == "2026-11-01T10:49:59"
    assert "before" not in woo.requests[0][2]


def test_a_range_is_on_creation_not_modification(woo, woo_store, woo_client):
    # given an old order edited today
    woo.add_orders([order_payload(i) for i in range(1, 11)])
    shop_edit(woo, 2, status="completed")

    # when
    run_import(woo_store, woo_client, ImportMode.RANGE, since=START + timedelta(minutes=5))

    # then
    assert stored_ids(woo_store) == [5, 6, 7, 8, 9, 10]


def test_ranges_that_follow_each_other_miss_no_order_at_their_boundary(woo, woo_store, woo_client):
    # given orders created at 10:01, 10:02, ... 11:00
    woo.add_orders([order_payload(i) for i in range(1, 61)])

    # when
    first = run_import(woo_store, woo_client, ImportMode.RANGE, since=START, until=START + timedelta(minutes=30))
    second = run_import(woo_store, woo_client, ImportMode.RANGE, since=START + timedelta(minutes=30),
                        until=START + timedelta(hours=1))

    # then the order created at exactly 10:30:00 is in the second, 11:00:00 in neither
    assert (first.created, first.unchanged, second.created, second.unchanged) == (29, 0, 30, 0)
    assert stored_ids(woo_store) == list(range(1, 60))


def test_a_range_must_start_before_it_ends(woo_store):
    with pytest.raises(ImportRequestError) as error:
        import_run_create(store=woo_store, mode=ImportMode.RANGE, since=START, until=START)
    assert str(error.value) == "The end of the range must come after its start."
    with pytest.raises(ImportRequestError) as error:
        import_run_create(store=woo_store, mode=ImportMode.RANGE, until=START)
    assert str(error.value) == "A date range needs a start date."
    assert ImportRun.objects.count() == 0


# -- import ids ------------------------------------------------------------------------------------------------


def test_import_ids_asks_100_at_a_time_and_reports_the_missing(woo, woo_store, woo_client):
    # given 150 orders, and a list of 123 ids: two unknown, one trashed
    woo.add_orders([order_payload(i) for i in range(1, 151)])
    shop_edit(woo, 130, status="trash")
    ids = list(range(1, 121)) + [9001, 130, 9002]

    # when
    run = run_import(woo_store, woo_client, ImportMode.IDS, ids=ids)

    # then
    assert counters(run) == {
        "state": RunState.DONE, "pages_done": 2, "pages_total": 2, "orders_seen": 120, "created": 120, "updated": 0,
        "unchanged": 0, "failed": 3, "error": "",
        "failures": [{"woo_id": 9001, "reason": NOT_FOUND}, {"woo_id": 130, "reason": NOT_FOUND},
                     {"woo_id": 9002, "reason": NOT_FOUND}],
    }
    assert stored_ids(woo_store) == list(range(1, 121))
    assert [p["include"] for _, _, p in woo.requests] == [
        ",".join(map(str, range(1, 101))), ",".join(map(str, [*range(101, 121), 9001, 130, 9002]))]


def test_import_ids_none_found(woo, woo_store, woo_client):
    # when
    run = run_import(woo_store, woo_client, ImportMode.IDS, ids=[5, 6])

    # then
    assert (run.state, run.created, run.failed, run.failures) == (
        RunState.DONE, 0, 2, [{"woo_id": 5, "reason": NOT_FOUND}, {"woo_id": 6, "reason": NOT_FOUND}])
    assert Order.objects.count() == 0


def test_a_malformed_order_asked_by_id_is_reported_once_with_its_reason(woo, woo_store, woo_client):
    # given
    broken = order_payload(2)
    broken["total"] = "12,50"
    woo.add_orders([order_payload(1), broken])

    # when
    run = run_import(woo_store, woo_client, ImportMode.IDS, ids=[1, 2])

    # then
    assert (run.created, run.failed, run.failures) == (1, 1, [{"woo_id": 2, "reason": "total: not an amount: '12,50'"}])


def test_ids_are_required(woo_store):
    with pytest.raises(ImportRequestError) as error:
        import_run_create(store=woo_store, mode=ImportMode.IDS, ids=[])
    assert str(error.value) == "Give at least one order id."
    assert ImportRun.objects.count() == 0


# -- running again -----------------------------------------------------------------------------------------


def test_running_twice_changes_nothing(woo, woo_store, woo_client):
    # given
    woo.add_orders([order_payload(i, refunds=[{"id": 500 + i, "reason": "", "total": "-1.00"}])
                    for i in range(1, 121)])
    run_import(woo_store, woo_client)
    before = {o.woo_id: (o.raw_hash, o.mirrored_at, o.modified_at) for o in Order.objects.all()}
    line_pks = sorted(OrderLine.objects.values_list("pk", flat=True))
    events = OrderEvent.objects.count()

    # when
    run = run_import(woo_store, woo_client)

    # then
    assert counters(run) == {"state": RunState.DONE, "pages_done": 2, "pages_total": 2, "orders_seen": 120,
                             "created": 0, "updated": 0, "unchanged": 120, "failed": 0, "failures": [], "error": ""}
    assert {o.woo_id: (o.raw_hash, o.mirrored_at, o.modified_at) for o in Order.objects.all()} == before
    assert sorted(OrderLine.objects.values_list("pk", flat=True)) == line_pks
    assert Refund.objects.count() == 120
    assert OrderEvent.objects.count() == events == 240  # each order's arrival and its refund


def test_an_import_never_overwrites_local_fields(woo, woo_store, woo_client):
    # given an imported order whose submission failed here
    woo.add_orders([order_payload(1), order_payload(2)])
    run_import(woo_store, woo_client)
    Order.objects.filter(woo_id=1).update(submit_status=SubmitStatus.FAILED, submit_error="Provider said: no stock")
    Order.objects.filter(woo_id=2).update(submit_status=SubmitStatus.SUBMITTED)
    # and the shop completes order 1 afterwards
    shop_edit(woo, 1, status="completed", customer_note="Leave at the door")

    # when
    run = run_import(woo_store, woo_client)

    # then
    assert (run.created, run.updated, run.unchanged) == (0, 1, 1)
    one, two = Order.objects.order_by("woo_id")
    assert (one.status, one.customer_note) == ("completed", "Leave at the door")
    assert (one.submit_status, one.submit_error) == (SubmitStatus.FAILED, "Provider said: no stock")
    assert (two.submit_status, two.submit_error) == (SubmitStatus.SUBMITTED, "")
    change = OrderEvent.objects.get(order=one, type=EventType.STATUS_CHANGED)
    assert (change.source, change.data, change.message) == (
        EventSource.IMPORT, {"before": "processing", "after": "completed"}, "Processing → Completed")
    assert OrderEvent.objects.filter(order=two).count() == 1


def test_an_edited_order_gets_its_lines_updated_added_and_removed(woo, woo_store, woo_client):
    # given an imported order with three lines
    woo.add_orders([order_payload(1, line_items=[
        line_item(11, name="Photo mug", quantity=1, total="9.50"),
        line_item(12, name="Canvas 30x40", quantity=1, total="39.00"),
        line_item(13, name="Poster A2", quantity=1, total="19.00"),
    ])])
    run_import(woo_store, woo_client)
    canvas_pk = OrderLine.objects.get(woo_line_id=12).pk

    # when the shop edits it: more canvases, no poster, a new mug, and a refund
    shop_edit(woo, 1, line_items=[
        line_item(11, name="Photo mug", quantity=1, total="9.50"),
        line_item(12, name="Canvas 30x40", quantity=2, total="78.00"),
        line_item(14, name="Photo mug XL", quantity=1, total="12.00"),
    ], refunds=[{"id": 77, "reason": "Poster out of stock", "total": "-19.00"}])
    run = run_import(woo_store, woo_client)

    # then
    assert (run.updated, run.unchanged) == (1, 0)
    order = Order.objects.get(woo_id=1)
    assert line_rows(order) == [(11, "Photo mug", 1, Decimal("9.50")), (12, "Canvas 30x40", 2, Decimal("78.00")),
                                (14, "Photo mug XL", 1, Decimal("12.00"))]
    assert OrderLine.objects.get(woo_line_id=12).pk == canvas_pk
    assert order.item_count == 4
    assert (order.refunded_total, list(order.refunds.values_list("woo_refund_id", "amount", "reason"))) == (
        Decimal("19.00"), [(77, Decimal("19.00"), "Poster out of stock")])


def test_an_older_copy_never_replaces_a_newer_one(woo, woo_store, woo_client):
    # given an order mirrored at its latest version
    woo.add_orders([order_payload(1)])
    run_import(woo_store, woo_client)
    stored = Order.objects.get(woo_id=1)
    # and a shop answering from a stale cache: older date_modified, other content
    woo.orders[1].update(status="pending", date_modified_gmt="2026-10-01T00:00:00")

    # when
    run = run_import(woo_store, woo_client)

    # then counted unchanged, nothing written
    assert (run.updated, run.unchanged) == (0, 1)
    again = Order.objects.get(woo_id=1)
    assert (again.status, again.raw_hash, again.modified_at) == ("processing", stored.raw_hash, stored.modified_at)
    assert OrderEvent.objects.filter(type=EventType.STATUS_CHANGED).count() == 0


# -- failures ----------------------------------------------------------------------------------------------


def test_a_malformed_order_fails_alone(woo, woo_store, woo_client):
    # given a page where one order has a bad amount and one a bad date
    payloads = [order_payload(i) for i in range(1, 7)]
    payloads[2]["total"] = "12,50"
    payloads[4]["date_created_gmt"] = "21/11/2026"
    woo.add_orders(payloads)

    # when
    run = run_import(woo_store, woo_client)

    # then
    assert counters(run) == {
        "state": RunState.DONE, "pages_done": 1, "pages_total": 1, "orders_seen": 6, "created": 4, "updated": 0,
        "unchanged": 0, "failed": 2, "error": "",
        "failures": [{"woo_id": 3, "reason": "total: not an amount: '12,50'"},
                     {"woo_id": 5, "reason": "date_created_gmt: not a date: '21/11/2026'"}],
    }
    assert stored_ids(woo_store) == [1, 2, 4, 6]
    assert OrderEvent.objects.count() == 4


def test_a_shop_going_down_mid_way_fails_the_run_and_keeps_what_was_imported(woo, woo_store, woo_client, settings):
    # given 250 orders, and a shop that goes down after the first page for longer than we retry
    woo.add_orders([order_payload(i) for i in range(1, 251)])
    woo.fail_page(2, settings.WOO_MAX_THROTTLE_RETRIES + 1, status=503)

    # when
    run = import_run_execute(run=import_run_create(store=woo_store, mode=ImportMode.ALL), client=woo_client)

    # then
    run.refresh_from_db()
    assert counters(run) == {
        "state": RunState.FAILED, "pages_done": 1, "pages_total": 3, "orders_seen": 100, "created": 100,
        "updated": 0, "unchanged": 0, "failed": 0, "failures": [],
        "error": f"Stopped at page 2: GET orders: HTTP 503, the answer is not JSON (an error page?): {HTML_503}",
    }
    assert run.finished_at is not None
    # page 3, asked for beside page 2, was not written: nothing after the failed page is
    assert stored_ids(woo_store) == list(range(1, 101))
    assert [left for _, left, _ in woo.conditional_failures] == [0]


def test_a_failed_ids_import_does_not_call_the_unfetched_ids_missing(woo, woo_store, woo_client):
    # given the second chunk of ids cannot be fetched
    woo.add_orders([order_payload(i) for i in range(1, 151)])
    woo.fail_when(lambda params: "101" in params.get("include", "").split(","), woo_client.max_retries + 1)

    # when
    run = import_run_execute(run=import_run_create(store=woo_store, mode=ImportMode.IDS, ids=list(range(1, 151))),
                             client=woo_client)

    # then
    assert (run.state, run.created, run.failed, run.failures) == (RunState.FAILED, 100, 0, [])
    assert stored_ids(woo_store) == list(range(1, 101))


def test_wrong_keys_fail_the_run_with_woocommerce_reason_and_import_nothing(woo, db):
    # given a store whose secret was regenerated in the shop
    woo.add_orders([order_payload(1)])
    store = StoreFactory(slug="rotated", base_url=woo.url, consumer_key=woo.consumer_key,
                         consumer_secret="cs_old_secret_00000000")

    # when
    run = import_run_execute(run=import_run_create(store=store, mode=ImportMode.ALL))

    # then
    assert (run.state, run.pages_done, run.created) == (RunState.FAILED, 0, 0)
    assert run.error == ("Stopped at page 1: GET orders: HTTP 401 woocommerce_rest_authentication_error: "
                         "Invalid signature - provided signature does not match.")
    assert "cs_old_secret" not in run.error
    assert Order.objects.count() == 0
    assert OrderEvent.objects.count() == 0


def test_an_order_id_no_column_can_hold_fails_alone(woo, woo_store, woo_client):
    huge = order_payload(2)
    huge.update(id=2**63, number=str(2**63))
    woo.add_orders([order_payload(1), huge])

    run = run_import(woo_store, woo_client)

    assert (run.state, run.created, run.failed) == (RunState.DONE, 1, 1)
    assert run.failures == [{"woo_id": 2**63, "reason": "id: 9223372036854775808 is too large a number"}]
    assert stored_ids(woo_store) == [1]


def test_an_unexpected_error_fails_the_run_instead_of_leaving_it_running(woo, woo_store, woo_client, monkeypatch):
    # given a page of orders, and a bug in writing them
    woo.add_orders([order_payload(1), order_payload(2)])
    run = import_run_create(store=woo_store, mode=ImportMode.ALL)

    def broken(**kwargs):
        raise RuntimeError("a bug")

    monkeypatch.setattr(imports, "orders_upsert", broken)

    # when
    with pytest.raises(RuntimeError, match="a bug"):
        import_run_execute(run=run, client=woo_client)

    # then the run says it stopped, and nothing was written
    run.refresh_from_db()
    assert run.state == RunState.FAILED
    assert run.error == "Stopped by an unexpected error: RuntimeError: a bug"
    assert run.finished_at is not None
    assert (run.pages_done, run.created) == (0, 0)
    assert Order.objects.count() == 0


# -- cost ------------------------------------------------------------------------------------------------------


def test_a_page_of_100_orders_costs_a_bounded_number_of_queries(woo_store, django_assert_max_num_queries):
    # given 100 orders with two lines and a refund each
    def page(status):
        return [order_payload(i, status=status, modified=START + timedelta(days=1 if status == "completed" else 0,
                                                                             minutes=i),
                              line_items=[line_item(i * 10 + 1), line_item(i * 10 + 2, name="Canvas")],
                              refunds=[{"id": 9000 + i, "reason": "", "total": "-1.00"}])
                for i in range(1, 101)]

    # when new, then changed, then unchanged: never a query per order (the followers — projects, accounting
    # exports, reservations, invoices — one query each per page)
    with django_assert_max_num_queries(16):
        created = orders_upsert(store=woo_store, payloads=page("processing"), source=EventSource.IMPORT)
    with django_assert_max_num_queries(16):
        updated = orders_upsert(store=woo_store, payloads=page("completed"), source=EventSource.IMPORT)
    with django_assert_max_num_queries(5):
        unchanged = orders_upsert(store=woo_store, payloads=page("completed"), source=EventSource.IMPORT)

    # then
    assert (len(created.created), len(updated.updated), len(unchanged.unchanged)) == (100, 100, 100)
    assert OrderLine.objects.count() == 200
    assert Refund.objects.count() == 100
    assert OrderEvent.objects.filter(type=EventType.STATUS_CHANGED).count() == 100


# -- the management command ---------------------------------------------------------------------------------


def test_command_imports_all_and_prints_a_summary(woo, woo_store, capsys):
    # given
    woo.add_orders([order_payload(i) for i in range(1, 4)])
    out = StringIO()

    # when
    call_command("import_orders", "woo", "--all", stdout=out)

    # then
    assert out.getvalue() == "Done: 3 orders in 1 pages — 3 created, 0 updated, 0 unchanged, 0 failed\n"
    assert "page 1/1 · 3 orders" in capsys.readouterr().err
    run = ImportRun.objects.get()
    assert (run.mode, run.state, run.requested_by) == (ImportMode.ALL, RunState.DONE, None)
    assert stored_ids(woo_store) == [1, 2, 3]


def test_command_imports_a_range(woo, woo_store):
    # given
    woo.add_orders([order_payload(i) for i in range(1, 61)])
    out = StringIO()

    # when
    call_command("import_orders", "woo", "--since", "2026-11-01T10:30", "--until", "2026-11-01T10:40", stdout=out)

    # then
    assert out.getvalue() == "Done: 10 orders in 1 pages — 10 created, 0 updated, 0 unchanged, 0 failed\n"
    run = ImportRun.objects.get()
    assert (run.mode, run.since, run.until) == (ImportMode.RANGE, START + timedelta(minutes=30),
                                                START + timedelta(minutes=40))
    assert stored_ids(woo_store) == list(range(30, 40))


def test_command_imports_ids_and_lists_the_failures(woo, woo_store):
    # given
    woo.add_orders([order_payload(1), order_payload(2)])
    out = StringIO()

    # when
    call_command("import_orders", "woo", "--ids", "2, 1,9999", stdout=out)

    # then
    assert out.getvalue() == (
        "Done: 2 orders in 1 pages — 2 created, 0 updated, 0 unchanged, 1 failed\n"
        f"  order 9999: {NOT_FOUND}\n"
    )
    assert ImportRun.objects.get().ids == [2, 1, 9999]


def test_command_reports_a_stopped_import(woo, woo_store, settings):
    # given a shop that stays down
    settings.WOO_MAX_RETRIES = settings.WOO_MAX_THROTTLE_RETRIES = 1
    woo.add_orders([order_payload(1)])
    woo.fail_next(2, status=503)
    out = StringIO()

    # when
    with pytest.raises(CommandError) as error:
        call_command("import_orders", "woo", "--all", stdout=out)

    # then
    assert str(error.value) == (
        f"Stopped at page 1: GET orders: HTTP 503, the answer is not JSON (an error page?): {HTML_503}")
    assert out.getvalue() == "Failed: 0 orders in 0 pages — 0 created, 0 updated, 0 unchanged, 0 failed\n"
    assert ImportRun.objects.get().state == RunState.FAILED
    assert Order.objects.count() == 0


@pytest.mark.parametrize(("args", "message"), [
    (["nope", "--all"], "No store 'nope'; create it with add_store."),
    (["woo", "--since", "yesterday"], "'yesterday' is not a date (YYYY-MM-DD or YYYY-MM-DDTHH:MM, UTC)"),
    (["woo", "--since", "2026-11-01", "--until", "01/12/2026"],
     "'01/12/2026' is not a date (YYYY-MM-DD or YYYY-MM-DDTHH:MM, UTC)"),
    (["woo", "--all", "--until", "2026-12-01"], "--until goes with --since."),
    (["woo", "--ids", "1,2", "--until", "2026-12-01"], "--until goes with --since."),
    (["woo", "--since", "2026-12-01", "--until", "2026-11-01"], "The end of the range must come after its start."),
    (["woo", "--ids", "1,x"], "x is not an order id."),
    (["woo", "--ids", " , "], "Give at least one order id."),
    (["woo", "--all", "--ids", "1"], "Error: argument --ids: not allowed with argument --all"),
    (["woo"], "Error: one of the arguments --all --since --ids --resume is required"),
])
def test_command_refuses_a_bad_request_before_asking_the_shop(woo, woo_store, args, message):
    # when
    with pytest.raises(CommandError) as error:
        call_command("import_orders", *args, stdout=StringIO())

    # then
    assert str(error.value) == message
    assert ImportRun.objects.count() == 0
    assert woo.requests == []


# -- the admin -------------------------------------------------------------------------------------------------


IMPORT_URL = "admin:fulfillment_order_import"


def test_admin_import_runs_and_shows_the_run(woo, woo_store, admin_client, admin_user,
                                             django_capture_on_commit_callbacks):
    # given
    woo.add_orders([order_payload(i) for i in range(1, 4)])
    page = admin_client.get(reverse(IMPORT_URL))
    assert page.status_code == 200
    assert 'id="import-form"' in page.content.decode()

    # when
    with django_capture_on_commit_callbacks(execute=True):
        response = admin_client.post(reverse(IMPORT_URL), {"store": woo_store.pk, "mode": "all"})

    # then
    run = ImportRun.objects.get()
    assert response.status_code == 302
    assert response["Location"] == reverse("admin:fulfillment_importrun_change", args=[run.pk])
    assert (run.state, run.mode, run.created, run.requested_by) == (RunState.DONE, ImportMode.ALL, 3, admin_user)
    assert stored_ids(woo_store) == [1, 2, 3]
    detail = admin_client.get(response["Location"])
    assert detail.status_code == 200
    html = detail.content.decode()
    assert "Import queued: follow its progress below." in html
    assert '<div class="readonly">Done</div>' in html
    listing = admin_client.get(reverse("admin:fulfillment_order_changelist")).content.decode()
    assert "Recent imports" in listing
    assert "3 created, 0 updated, 0 unchanged, 0 failed" in listing


def test_admin_import_by_range_and_by_ids(woo, woo_store, admin_client, django_capture_on_commit_callbacks):
    # given
    woo.add_orders([order_payload(i) for i in range(1, 61)])

    # when
    with django_capture_on_commit_callbacks(execute=True):
        admin_client.post(reverse(IMPORT_URL), {"store": woo_store.pk, "mode": "range",
                                                "since": "2026-11-01T10:30", "until": "2026-11-01T10:33"})
    with django_capture_on_commit_callbacks(execute=True):
        admin_client.post(reverse(IMPORT_URL), {"store": woo_store.pk, "mode": "ids", "ids": "50, 51 9999"})

    # then
    by_range, by_ids = ImportRun.objects.order_by("pk")
    assert (by_range.mode, by_range.since, by_range.until, by_range.ids, by_range.state, by_range.created) == (
        ImportMode.RANGE, START + timedelta(minutes=30), START + timedelta(minutes=33), [], RunState.DONE, 3)
    assert (by_ids.mode, by_ids.since, by_ids.ids, by_ids.state, by_ids.created, by_ids.failures) == (
        ImportMode.IDS, None, [50, 51, 9999], RunState.DONE, 2, [{"woo_id": 9999, "reason": NOT_FOUND}])
    assert stored_ids(woo_store) == [30, 31, 32, 50, 51]


@pytest.mark.parametrize(("data", "field", "error"), [
    ({"mode": "range"}, "since", "A date range needs a start."),
    ({"mode": "range", "since": "2026-11-02T00:00", "until": "2026-11-01T00:00"}, "until",
     "The end must come after the start."),
    ({"mode": "ids", "ids": "12, #13"}, "ids", "#13 is not an order id."),
    ({"mode": "ids", "ids": ""}, "ids", "Give at least one order id."),
    ({"mode": "everything"}, "mode", "Select a valid choice. everything is not one of the available choices."),
])
def test_admin_import_form_errors_queue_nothing(woo, woo_store, admin_client, django_capture_on_commit_callbacks,
                                                data, field, error):
    # when
    with django_capture_on_commit_callbacks(execute=True) as callbacks:
        response = admin_client.post(reverse(IMPORT_URL), {"store": woo_store.pk, **data})

    # then
    assert response.status_code == 200
    assert response.context["form"].errors == {field: [error]}
    assert callbacks == []
    assert ImportRun.objects.count() == 0
    assert woo.requests == []


def test_admin_import_needs_the_permission(woo, woo_store, client, django_capture_on_commit_callbacks):
    # given staff who may see orders but not import
    user = UserFactory()
    user.user_permissions.add(Permission.objects.get(codename="view_order"))
    client.force_login(user)

    # when
    with django_capture_on_commit_callbacks(execute=True) as callbacks:
        page = client.get(reverse(IMPORT_URL))
        response = client.post(reverse(IMPORT_URL), {"store": woo_store.pk, "mode": "all"})

    # then
    assert (page.status_code, response.status_code) == (403, 403)
    assert callbacks == []
    assert ImportRun.objects.count() == 0
    assert woo.requests == []
    listing = client.get(reverse("admin:fulfillment_order_changelist"))
    assert listing.status_code == 200
    assert reverse(IMPORT_URL) not in listing.content.decode()


def test_admin_import_with_only_the_add_permission(woo, woo_store, client, django_capture_on_commit_callbacks):
    # given staff allowed to import
    user = UserFactory()
    user.user_permissions.add(*Permission.objects.filter(codename__in=["view_order", "add_importrun",
                                                                       "view_importrun"]))
    client.force_login(user)
    woo.add_orders([order_payload(1)])
    assert reverse(IMPORT_URL) in client.get(reverse("admin:fulfillment_order_changelist")).content.decode()

    # when
    with django_capture_on_commit_callbacks(execute=True):
        response = client.post(reverse(IMPORT_URL), {"store": woo_store.pk, "mode": "all"})

    # then
    run = ImportRun.objects.get()
    assert (response.status_code, run.state, run.requested_by) == (302, RunState.DONE, user)
    assert client.get(response["Location"]).status_code == 200
