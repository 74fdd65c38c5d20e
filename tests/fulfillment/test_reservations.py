"""Supplier reservations follow the shop's orders through every path, and reach the supplier exactly once."""

import pytest

from fulfillment.choices import EventSource, EventType, OrderStatus, PushKind, ReservationStatus, ReservationSync
from fulfillment.models import Order, OrderEvent, Reservation, Shipment, StorePush, Supplier, SupplierProduct
from fulfillment.services.mirror import orders_upsert
from fulfillment.services.orders import order_change_status
from fulfillment.services.production import production_plan
from fulfillment.services.reservations import reservation_release, reservation_retry, reservations_update
from fulfillment.services.supplier_poll import catalogue_sync, statuses_poll, supplier_refresh
from fulfillment.services.supplier_sync import supplier_client, supplier_sync
from tests.factories import ProviderFactory, StoreFactory, UserFactory
from tests.fakes.rewix import DROPSHIPPING, SOLD
from tests.fulfillment.dropship import SCARF, SNEAKER_40, SNEAKER_41, arrive, sync
from tests.woo_payloads import line_item, order_payload

# -- reserving ------------------------------------------------------------------------------------------------------


def test_an_arriving_order_reserves_its_supplier_lines_in_the_growing_order(supplier, rewix):
    # Given an order arriving by webhook with two sneakers and a scarf of the supplier
    order = arrive(supplier, 101, lines=[line_item(1011, sku=SNEAKER_40, quantity=2),
                                         line_item(1012, sku=SCARF, quantity=1)])

    # Then its lines wait for the supplier, with what the screen shows
    rows = {r.sku: r for r in Reservation.objects.filter(order=order)}
    assert {sku: (r.stock_id, r.quantity, r.status, r.sync) for sku, r in rows.items()} == {
        SNEAKER_40: ("234225", 2, ReservationStatus.BOOKED, ReservationSync.WAITING),
        SCARF: ("234230", 1, ReservationStatus.BOOKED, ReservationSync.WAITING)}
    assert rows[SNEAKER_40].size == "40"

    # When the supplier's sync runs
    report = sync(supplier)

    # Then the growing order holds exactly those quantities, the lines are in sync, the timeline says so
    assert (rewix.locked("234225"), rewix.locked("234230")) == (2, 1)
    assert report.operations == [("234225", 0, 2, 2), ("234230", 0, 1, 1)]
    assert set(Reservation.objects.values_list("sync", flat=True)) == {ReservationSync.IN_SYNC}
    event = OrderEvent.objects.get(order=order, type=EventType.RESERVATION)
    assert event.message == "Reserved at BDroppy: 234225 × 2, 234230 × 1"
    supplier.refresh_from_db()
    assert supplier.growing_snapshot == {"234225": 2, "234230": 1} and supplier.differs_since is None


def test_a_second_sync_changes_nothing_at_the_supplier(supplier, rewix):
    # Given an order reserved
    arrive(supplier, 102)
    sync(supplier)
    changes = rewix.count("POST", SOLD)

    # When the sync runs again (the schedule, a second copy of the task)
    report = sync(supplier)

    # Then it only read the growing order
    assert rewix.count("POST", SOLD) == changes and report.operations == []
    assert rewix.locked("234225") == 1


def test_a_mixed_order_sends_the_supplier_s_lines_to_the_supplier_and_the_rest_to_production(supplier):
    # Given a paid order with a mug made by a print provider and sneakers of the supplier
    provider = ProviderFactory(store=supplier.store, skus="MUG-*")
    order = arrive(supplier, 103, status="processing",
                   lines=[line_item(1031, sku="MUG-11"), line_item(1032, sku=SNEAKER_40)])

    # Then production gets the mug only
    plan = production_plan(order, [provider])
    assert plan.eligible and [line.sku for line in plan.lines_by_provider[provider]] == ["MUG-11"]
    assert list(Reservation.objects.values_list("sku", flat=True)) == [SNEAKER_40]


def test_an_order_of_only_dropshipped_products_does_not_go_to_production(supplier):
    order = arrive(supplier, 104, status="processing")
    plan = production_plan(order, [ProviderFactory(store=supplier.store, skus="*")])
    assert not plan.eligible
    assert plan.problems == ["every product of the order is dropshipped by its supplier"]


def test_orders_of_stores_without_a_supplier_cost_the_follower_one_query(db, django_assert_num_queries):
    other = StoreFactory(slug="photo")
    orders_upsert(store=other, payloads=[order_payload(7)], source=EventSource.WEBHOOK)
    order = Order.objects.get(store=other)
    with django_assert_num_queries(1):
        assert reservations_update([order.pk]) == set()


# -- placing --------------------------------------------------------------------------------------------------------


def test_a_paid_order_is_placed_once_as_the_supplier_s_order_with_the_customer_s_address(supplier, rewix):
    # Given an order reserved while pending
    order = arrive(supplier, 105)
    sync(supplier)

    # When it is paid (a status change by staff) and the sync runs, twice
    order_change_status(order=order, status=OrderStatus.PROCESSING, user=UserFactory())
    first = sync(supplier)
    sync(supplier)

    # Then the supplier has one order for it, under the shop's order number, shipped to the customer
    assert rewix.count("POST", DROPSHIPPING) == 1
    placed = rewix.order("105")
    assert (placed["recipient"]["recipient"], placed["recipient"]["countrycode"]) == ("Ben Schmidt", "AT")
    assert placed["items"] == [("234225", 1)]
    reservation = Reservation.objects.get(order=order)
    assert first.placed == [("105", reservation.remote_order_id)] and reservation.remote_order_id
    # and the growing order gave its item to that order: nothing more is reserved
    assert rewix.locked("234225") == 0
    assert OrderEvent.objects.filter(order=order, message__startswith="Placed at BDroppy as order").count() == 1


def test_placing_whose_answer_was_lost_is_looked_up_by_key_and_never_placed_twice(supplier, rewix, settings):
    # Given a paid order whose placing the supplier makes but answers too late (the client times out)
    order = arrive(supplier, 106)
    client = supplier_client(supplier)
    client.timeout = (2, 0.3)
    supplier_sync(supplier_id=supplier.pk, client=client)  # reserves
    order_change_status(order=order, status=OrderStatus.PROCESSING, user=UserFactory())
    rewix.hold_next_change(2)
    report = supplier_sync(supplier_id=supplier.pk, client=client)
    reservation = Reservation.objects.get(order=order)
    assert report.placed == [] and reservation.outcome_unknown
    assert reservation.sync == ReservationSync.RETRYING and "answer" in reservation.sync_error.lower()

    # When the next sync runs
    report = sync(supplier)

    # Then it finds the order by its key and records it: the supplier has one order
    reservation.refresh_from_db()
    assert report.placed == [("106", reservation.remote_order_id)]
    assert rewix.count("POST", DROPSHIPPING) == 1 and not reservation.outcome_unknown


# -- releasing ------------------------------------------------------------------------------------------------------


def test_a_cancelled_order_releases_what_it_reserved(supplier, rewix):
    order = arrive(supplier, 107, lines=[line_item(1071, sku=SNEAKER_40, quantity=3)])
    sync(supplier)
    assert rewix.locked("234225") == 3

    order_change_status(order=order, status=OrderStatus.CANCELLED, user=UserFactory())
    sync(supplier)

    reservation = Reservation.objects.get(order=order)
    assert (reservation.quantity, reservation.status, reservation.sync) == (
        0, ReservationStatus.RELEASED, ReservationSync.IN_SYNC)
    assert rewix.locked("234225") == 0


def test_a_partial_refund_releases_the_refunded_quantity_and_a_removed_line_all_of_it(supplier, rewix):
    # Given an order of 3 sneakers and a scarf, reserved
    lines = [line_item(1081, sku=SNEAKER_40, quantity=3), line_item(1082, sku=SCARF, quantity=1)]
    arrive(supplier, 108, lines=lines)
    sync(supplier)

    # When WooCommerce sends it again with one sneaker refunded and the scarf removed
    refund = {"id": 901, "reason": "too small", "total": "-42.50"}
    orders_upsert(store=supplier.store, payloads=[order_payload(
        108, status="pending", line_items=lines[:1], refunds=[refund],
        modified=order_payload(108)["date_modified_gmt"] and None)], source=EventSource.WEBHOOK)
    order = Order.objects.get(woo_id=108)
    refund_row = order.refunds.get()
    refund_row.lines = [{"line_id": 1081, "quantity": 1}]
    refund_row.save(update_fields=["lines"])
    reservations_update([order.pk])
    sync(supplier)

    # Then 2 sneakers stay reserved and the scarf is released
    assert (rewix.locked("234225"), rewix.locked("234230")) == (2, 0)
    assert sorted(Reservation.objects.values_list("stock_id", "quantity", "status")) == [
        ("234225", 2, ReservationStatus.BOOKED), ("234230", 0, ReservationStatus.RELEASED)]


def test_a_placed_order_cancelled_in_the_shop_is_flagged_for_staff(supplier, rewix):
    order = arrive(supplier, 109, status="processing")
    sync(supplier)
    sync(supplier)
    assert Reservation.objects.get(order=order).remote_order_id

    order_change_status(order=order, status=OrderStatus.CANCELLED, user=UserFactory())

    reservation = Reservation.objects.get(order=order)
    assert reservation.sync == ReservationSync.FAILED
    assert "cancel it on the supplier's platform" in reservation.sync_error
    assert OrderEvent.objects.filter(order=order, message__contains="cancel it on the supplier's platform").count() == 1


def test_staff_release_a_reservation_and_try_it_again(supplier, rewix):
    order = arrive(supplier, 110)
    sync(supplier)
    reservation = Reservation.objects.get(order=order)
    user = UserFactory()

    assert reservation_release(reservation=reservation, user=user)
    sync(supplier)
    assert rewix.locked("234225") == 0
    # the shop's next change of the order does not reserve it behind staff's back
    reservations_update([order.pk])
    assert Reservation.objects.get(pk=reservation.pk).quantity == 0

    assert reservation_retry(reservation=reservation, user=user)
    sync(supplier)
    assert rewix.locked("234225") == 1
    assert Reservation.objects.get(pk=reservation.pk).status == ReservationStatus.BOOKED


# -- the supplier refusing or failing ---------------------------------------------------------------------------------


def test_out_of_stock_fails_the_newest_lines_with_the_reason_and_the_oldest_keep_theirs(supplier, rewix):
    # Given the supplier has 3 of size 41 and three orders want 2 each
    for woo_id in (111, 112, 113):
        arrive(supplier, woo_id, lines=[line_item(woo_id * 10, sku=SNEAKER_41, quantity=2)])

    report = sync(supplier)

    # Then the oldest order holds its 2, the others fail with the reason, once each on the timeline
    by_order = dict(Reservation.objects.values_list("order__woo_id", "sync"))
    assert by_order == {111: ReservationSync.IN_SYNC, 112: ReservationSync.FAILED, 113: ReservationSync.FAILED}
    failed = Reservation.objects.filter(sync=ReservationSync.FAILED).first()
    assert failed.sync_error.startswith("Out of stock at BDroppy: 2 needed of 234226")
    assert len(report.failed) == 2 and rewix.locked("234226") == 3
    sync(supplier)
    assert OrderEvent.objects.filter(message__startswith="Out of stock").count() == 2


def test_a_refused_login_fails_the_waiting_lines_naming_the_environment_variable(supplier, rewix, monkeypatch):
    monkeypatch.setenv("REWIX_TEST_PASSWORD", "wrong")
    arrive(supplier, 114)

    report = sync(supplier)

    reservation = Reservation.objects.get()
    assert reservation.sync == ReservationSync.FAILED and "REWIX_TEST_PASSWORD" in reservation.sync_error
    assert report.error and Supplier.objects.get().last_error == reservation.sync_error


@pytest.mark.parametrize("fault", ["500", "html"])
def test_a_passing_fault_leaves_the_lines_retrying_and_the_next_sync_reserves_them(supplier, rewix, fault):
    arrive(supplier, 115)
    rewix.fail_next(500) if fault == "500" else rewix.fail_next_with_html(503)

    sync(supplier)
    reservation = Reservation.objects.get()
    assert reservation.sync == ReservationSync.RETRYING and reservation.sync_error

    sync(supplier)
    reservation.refresh_from_db()
    assert reservation.sync == ReservationSync.IN_SYNC and rewix.locked("234225") == 1


def test_a_missing_password_variable_is_said_before_any_request(supplier, rewix, monkeypatch):
    monkeypatch.delenv("REWIX_TEST_PASSWORD")
    arrive(supplier, 116)
    before = len(rewix.requests)
    report = sync(supplier)
    assert "REWIX_TEST_PASSWORD" in report.error and "is not set" in report.error
    assert len(rewix.requests) == before


# -- statuses and dispatch -------------------------------------------------------------------------------------------


def test_the_supplier_s_statuses_reach_the_timeline_and_a_dispatch_ships_and_completes_the_order(supplier, rewix):
    # Given a paid dropship order placed at the supplier
    order = arrive(supplier, 117, status="processing")
    sync(supplier)
    sync(supplier)

    # When the supplier confirms it, then dispatches it with a tracking number
    rewix.advance("117", 2)
    assert statuses_poll(supplier=supplier, client=supplier_client(supplier)) == 1
    assert Reservation.objects.get(order=order).status == ReservationStatus.CONFIRMED
    rewix.advance("117", 3, tracking="BRT0012345678")
    statuses_poll(supplier=Supplier.objects.get(pk=supplier.pk), client=supplier_client(supplier))

    # Then the line is dispatched with its tracking, a shipment is recorded as a provider's would be (customer note
    # and tracking pushed to WooCommerce) and the order, all shipped, completes
    reservation = Reservation.objects.get(order=order)
    assert (reservation.status, reservation.tracking_code, reservation.carrier) == (
        ReservationStatus.DISPATCHED, "BRT0012345678", "BRT")
    shipment = Shipment.objects.get(order=order)
    assert shipment.tracking_number == "BRT0012345678" and reservation.shipment == shipment
    assert StorePush.objects.filter(order=order, kind=PushKind.NOTE).exists()
    assert Order.objects.get(pk=order.pk).status == OrderStatus.COMPLETED
    messages = list(OrderEvent.objects.filter(order=order, type=EventType.RESERVATION).values_list("message",
                                                                                                    flat=True))
    assert "BDroppy: Confirmed" in messages and "BDroppy: Dispatched, tracking BRT0012345678" in messages

    # and asking again records nothing twice
    statuses_poll(supplier=Supplier.objects.get(pk=supplier.pk), client=supplier_client(supplier))
    assert Shipment.objects.filter(order=order).count() == 1


# -- the catalogue ---------------------------------------------------------------------------------------------------


def test_the_catalogue_maps_the_supplier_s_models_and_a_shop_sku_override_is_kept(supplier, rewix):
    assert SupplierProduct.objects.filter(supplier=supplier).count() == 6
    model = SupplierProduct.objects.get(stock_id="234230")
    assert (model.code, model.size, model.match_sku) == (SCARF, "UNI", SCARF)
    model.shop_sku = "SCARF-GREY"
    model.save()

    rewix.remove_product(31577)
    catalogue_sync(supplier=supplier, client=supplier_client(supplier), full=True)

    assert SupplierProduct.objects.get(stock_id="234230").match_sku == "SCARF-GREY"
    assert set(SupplierProduct.objects.filter(in_catalogue=False).values_list("stock_id", flat=True)) == {
        "234231", "234232"}
    order = arrive(supplier, 118, lines=[line_item(1181, sku="SCARF-GREY")])
    assert Reservation.objects.get(order=order).stock_id == "234230"


def test_the_schedule_reads_the_catalogue_reserves_places_and_polls(supplier, rewix):
    arrive(supplier, 119, status="processing")
    report, changed = supplier_refresh(supplier=Supplier.objects.get(pk=supplier.pk), catalogue=True)
    assert not report.error and len(report.placed) == 1 and report.passes >= 1
    assert rewix.order("119") is not None


def test_a_placed_order_completed_in_the_shop_is_not_flagged(supplier, rewix):
    order = arrive(supplier, 120, status="processing")
    sync(supplier)
    order_change_status(order=order, status=OrderStatus.COMPLETED, user=UserFactory())
    reservation = Reservation.objects.get(order=order)
    assert reservation.remote_order_id and reservation.sync == ReservationSync.IN_SYNC and not reservation.sync_error


def test_a_line_short_of_stock_is_held_and_in_sync_again_once_the_supplier_has_it(supplier, rewix):
    arrive(supplier, 121, lines=[line_item(1211, sku=SNEAKER_41, quantity=5)])
    sync(supplier)
    assert Reservation.objects.get().sync == ReservationSync.FAILED

    rewix.set_stock("234226", 10)
    sync(supplier)

    reservation = Reservation.objects.get()
    assert (reservation.sync, reservation.short, rewix.locked("234226")) == (ReservationSync.IN_SYNC, False, 5)


# -- several workers at once ------------------------------------------------------------------------------------------


@pytest.mark.postgres
@pytest.mark.django_db(transaction=True)
def test_four_workers_syncing_one_supplier_at_once_reserve_and_place_each_order_once(supplier, rewix):
    from tests.concurrency import in_threads

    # Given 20 orders reserved (their syncs ran as they arrived) and now paid, waiting to be placed, and the
    # supplier's answers slowed down a little
    rewix.set_stock("234230", 100)
    for woo_id in range(131, 151):
        arrive(supplier, woo_id, lines=[line_item(woo_id * 10, sku=SCARF)])
    assert rewix.locked("234230") == 20
    Order.objects.filter(store=supplier.store).update(status="processing")
    rewix.hold_next_read(0.3)

    # When four workers run the supplier's sync at the same moment (the follower's tasks, the schedule)
    reports = in_threads(4, lambda _index: supplier_sync(supplier_id=supplier.pk))
    sync(supplier)  # and the next one, after them

    # Then one of them worked (the others found it busy), and the supplier has one order per shop order
    assert sum(not report.busy for report in reports) >= 1
    assert sum(len(report.placed) for report in reports) == 20
    assert rewix.count("POST", DROPSHIPPING) == 20 and len(rewix.orders) == 20
    assert Reservation.objects.exclude(remote_order_id="").count() == 20
    assert rewix.locked("234230") == 0
