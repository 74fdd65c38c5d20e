"""What the reconcile must catch besides changed orders: a missed deletion or restore, orders it cannot mirror,
and a shop that does not answer (each store is its own task)."""

from datetime import timedelta

import pytest
from django.db import connection
from django.test.utils import CaptureQueriesContext
from django.utils import timezone
from django.utils.html import escape

from fulfillment.choices import EventSource, EventType, ImportMode
from fulfillment.integrations.woocommerce.client import WooClient
from fulfillment.models import Order, OrderEvent, OrderLine, Store
from fulfillment.models.stores import MAX_SYNC_FAILURES_KEPT
from fulfillment.services.imports import import_run_create, import_run_execute
from fulfillment.services.mirror import order_mark_trashed, orders_upsert
from fulfillment.services.reconcile import store_sync, stores_sync_queue
from fulfillment.tasks import sync_all_stores
from tests.factories import StoreFactory
from tests.fulfillment.test_reconcile import list_requests, now_s, shop_with_orders, stored, watch_from
from tests.woo_payloads import order_payload


def events(woo_id, source=None):
    rows = OrderEvent.objects.filter(order__woo_id=woo_id).order_by("pk")
    if source:
        rows = rows.filter(source=source)
    return list(rows.values_list("type", flat=True))


def delete_in_shop(woo, woo_id, *, ago=timedelta(0)):
    """The shop trashes the order: its status becomes trash and date_modified moves on."""
    woo.touch(woo_id, status="trash")
    when = timezone.now() - ago
    woo.orders[woo_id]["date_modified_gmt"] = when.strftime("%Y-%m-%dT%H:%M:%S")


# -- a missed order.deleted ---------------------------------------------------------------------------------------


def test_the_fake_shop_leaves_the_trash_out_of_status_any_and_lists_it_on_its_own(woo):
    # Given a shop with two live orders and one in the trash
    woo.add_orders([order_payload(1), order_payload(2, status="completed"), order_payload(3, status="trash")])
    client = WooClient(base_url=woo.url, consumer_key=woo.consumer_key, consumer_secret=woo.consumer_secret)

    # Then the default (any) is everything but the trash, and status=trash only the trash
    assert [o["id"] for p in client.iter_order_pages({"orderby": "id", "order": "asc"}) for o in p.items] == [1, 2]
    assert [o["id"] for p in client.iter_order_pages({"status": "trash"}) for o in p.items] == [3]


def test_an_order_deleted_with_its_webhook_missed_is_trashed_by_the_next_reconcile(woo, woo_store):
    # Given 150 mirrored orders changed since the last sync, and one more deleted in the shop whose webhook never came
    shop_with_orders(woo, woo_store, range(1, 152))
    watch_from(woo_store, now_s() - timedelta(minutes=10))
    for woo_id in range(1, 151):
        woo.touch(woo_id, status="completed")
    delete_in_shop(woo, 151)

    # When the store is synced
    outcome = store_sync(store=woo_store)

    # Then the deleted order is trashed here too, every row of it kept, the timeline says so
    assert outcome.error == ""
    order = Order.objects.get(woo_id=151)
    assert (order.trashed, order.status) == (True, "trash")
    assert OrderLine.objects.filter(order=order).count() == 1
    assert events(151, EventSource.RECONCILE) == [EventType.STATUS_CHANGED, EventType.TRASHED]
    # and it cost ceil(150 / 100) = 2 requests for the changed orders plus one for the trash
    assert outcome.requests == 3
    assert [(p["page"], p.get("status")) for p in list_requests(woo)] == [("1", None), ("2", None), ("1", "trash")]
    assert outcome.watermark_moved is True


def test_the_trash_is_read_page_by_page(woo, woo_store):
    # Given 120 orders deleted in the shop since the last sync, none of it delivered
    shop_with_orders(woo, woo_store, range(1, 121))
    watch_from(woo_store, now_s() - timedelta(minutes=10))
    for woo_id in range(1, 121):
        delete_in_shop(woo, woo_id)

    # When the store is synced
    outcome = store_sync(store=woo_store)

    # Then one (empty) page of live orders and two of trash were read, and every order is trashed
    assert [(p["page"], p.get("status")) for p in list_requests(woo)] == [("1", None), ("1", "trash"), ("2", "trash")]
    assert outcome.requests == 3
    assert Order.objects.filter(trashed=True).count() == 120


def test_a_deletion_already_received_by_webhook_changes_nothing_more(woo, woo_store):
    # Given an order whose deletion webhook was applied (its version: our receipt time)
    shop_with_orders(woo, woo_store, [1])
    watch_from(woo_store, now_s() - timedelta(minutes=10))
    delete_in_shop(woo, 1, ago=timedelta(seconds=40))
    order_mark_trashed(store=woo_store, woo_id=1, source=EventSource.WEBHOOK)

    # When the reconcile reads the trashed order (dated before our receipt)
    outcome = store_sync(store=woo_store)

    # Then it is older than what is stored: no second trash event, nothing written
    assert outcome.result.stale == [1]
    assert events(1) == [EventType.CREATED, EventType.TRASHED]


def test_a_shop_without_paging_headers_is_read_to_the_end_and_the_watermark_moves(woo, woo_store):
    # Given 150 changed orders in a shop whose host drops the X-WP-* headers
    watch_from(woo_store, now_s() - timedelta(minutes=10))
    woo.add_orders([order_payload(i, created=now_s(), modified=now_s()) for i in range(1, 151)])
    woo.hide_paging_headers = True
    started = now_s()

    # When the store is synced
    outcome = store_sync(store=woo_store, now=started)

    # Then both pages were read (and the empty trash), and with no totals to compare the watermark moves on
    assert (outcome.error, outcome.requests, len(outcome.result.created)) == ("", 3, 150)
    assert outcome.watermark_moved is True
    woo_store.refresh_from_db()
    assert woo_store.sync_watermark == started


# -- a missed order.restored ----------------------------------------------------------------------------------------


def deleted_then_restored_in_shop(woo, woo_store, woo_id=1):
    """An order mirrored long ago, deleted in the shop (webhook received now), restored 30 s before we received the
    deletion (deliveries come 20-60 s late) with the order.restored webhook missed."""
    shop_with_orders(woo, woo_store, [woo_id])
    order_mark_trashed(store=woo_store, woo_id=woo_id, source=EventSource.WEBHOOK)
    woo.touch(woo_id, status="on-hold")
    restored_at = now_s() - timedelta(seconds=30)
    woo.orders[woo_id]["date_modified_gmt"] = restored_at.strftime("%Y-%m-%dT%H:%M:%S")
    return restored_at


def test_a_restore_whose_webhook_was_missed_is_brought_back_by_the_reconcile(woo, woo_store):
    # Given an order restored in the shop, dated before our receipt of its deletion
    restored_at = deleted_then_restored_in_shop(woo, woo_store)
    assert Order.objects.get().modified_at > restored_at
    watch_from(woo_store, now_s() - timedelta(minutes=10))

    # When the reconcile reads it
    outcome = store_sync(store=woo_store)

    # Then it is live again, with the restored version, and the timeline says so
    assert outcome.result.updated == [1]
    order = Order.objects.get()
    assert (order.trashed, order.status, order.modified_at) == (False, "on-hold", restored_at)
    assert events(1, EventSource.RECONCILE) == [EventType.STATUS_CHANGED, EventType.RESTORED]


def test_a_restore_whose_webhook_was_missed_is_brought_back_by_an_import(woo, woo_store):
    # Given an order restored in the shop, dated before our receipt of its deletion
    restored_at = deleted_then_restored_in_shop(woo, woo_store)
    client = WooClient.for_store(woo_store)

    # When the shop is imported again
    run = import_run_execute(run=import_run_create(store=woo_store, mode=ImportMode.ALL), client=client)

    # Then the order is live again
    assert (run.updated, run.unchanged) == (1, 0)
    order = Order.objects.get()
    assert (order.trashed, order.modified_at) == (False, restored_at)
    assert list(OrderEvent.objects.order_by("pk").values_list("type", "source")) == [
        (EventType.CREATED, EventSource.IMPORT), (EventType.TRASHED, EventSource.WEBHOOK),
        (EventType.STATUS_CHANGED, EventSource.IMPORT), (EventType.RESTORED, EventSource.IMPORT),
    ]


def test_a_live_version_read_before_the_deletion_was_received_does_not_bring_it_back(woo, woo_store):
    # Given a sync that read the order while it was still live, its deletion received while the sync ran
    payload = shop_with_orders(woo, woo_store, [1])[0]
    woo.touch(1, status="completed")
    watch_from(woo_store, now_s() - timedelta(minutes=10))
    started = timezone.now() - timedelta(seconds=5)
    order_mark_trashed(store=woo_store, woo_id=1, source=EventSource.WEBHOOK)

    # When the sync writes what it read (before the deletion was received)
    outcome = store_sync(store=woo_store, now=started)

    # Then that version may be from before the deletion: the order stays trashed
    assert outcome.result.stale == [1]
    order = Order.objects.get()
    assert (order.trashed, order.status, order.raw) == (True, "processing", payload)


def test_a_version_older_than_what_woocommerce_last_sent_stays_stale_even_read_after_the_trash(woo_store):
    # Given an order mirrored at its version of 10:00, then deleted
    sent = now_s() - timedelta(hours=2)
    orders_upsert(store=woo_store, payloads=[order_payload(1, modified=sent)], source=EventSource.WEBHOOK)
    order_mark_trashed(store=woo_store, woo_id=1, source=EventSource.WEBHOOK)

    # When a copy from before that version is read afterwards (a stale cache of the shop)
    older = order_payload(1, status="pending", modified=sent - timedelta(minutes=5))
    result = orders_upsert(store=woo_store, payloads=[older], source=EventSource.RECONCILE, read_at=timezone.now())

    # Then it brings nothing back
    assert result.stale == [1]
    assert (Order.objects.get().trashed, Order.objects.get().status) == (True, "processing")


def test_a_live_order_identical_to_the_one_trashed_comes_back_when_read_after_the_trash(woo_store):
    # Given an order whose deletion we received, while the shop (read afterwards) still lists it, unchanged
    payload = order_payload(1)
    orders_upsert(store=woo_store, payloads=[payload], source=EventSource.IMPORT)
    order_mark_trashed(store=woo_store, woo_id=1, source=EventSource.WEBHOOK)

    # When that same version is read after the trash
    result = orders_upsert(store=woo_store, payloads=[payload], source=EventSource.RECONCILE, read_at=timezone.now())

    # Then the shop says it is live: it is restored, not "unchanged"
    assert (result.updated, result.unchanged) == ([1], [])
    assert Order.objects.get().trashed is False


def test_restoring_a_page_of_trashed_orders_costs_two_queries_more_than_updating_one(woo_store):
    # Given 100 orders mirrored, updated once by a page, then deleted (the webhooks received)
    start = now_s() - timedelta(days=1)
    orders_upsert(store=woo_store, payloads=[order_payload(i, modified=start) for i in range(1, 101)],
                  source=EventSource.IMPORT)
    with CaptureQueriesContext(connection) as updating:
        orders_upsert(store=woo_store, payloads=[order_payload(i, status="completed", modified=start + timedelta(
            seconds=1)) for i in range(1, 101)], source=EventSource.RECONCILE, read_at=timezone.now())
    for woo_id in range(1, 101):
        order_mark_trashed(store=woo_store, woo_id=woo_id, source=EventSource.WEBHOOK)

    # When a page reads them all restored (dated before our receipts)
    restored = [order_payload(i, status="on-hold", modified=start + timedelta(minutes=1)) for i in range(1, 101)]
    with CaptureQueriesContext(connection) as restoring:
        result = orders_upsert(store=woo_store, payloads=restored, source=EventSource.RECONCILE,
                               read_at=timezone.now())

    # Then all are back, for the dates WooCommerce last sent and one update of the versions: not a query per order
    assert len(result.updated) == 100
    assert Order.objects.filter(trashed=False, status="on-hold").count() == 100
    assert len(restoring) == len(updating) + 2


# -- one task per store ---------------------------------------------------------------------------------------------


@pytest.fixture
def queued(monkeypatch):
    tasks = []
    monkeypatch.setattr("fulfillment.task_queue.async_task", lambda func, *args, **kwargs: tasks.append((func, args)))
    return tasks


def test_the_schedule_queues_one_sync_task_per_store(db, queued, django_capture_on_commit_callbacks):
    # Given three stores
    stores = [StoreFactory(slug=slug) for slug in ("a", "b", "c")]

    # When the schedule's task runs
    with django_capture_on_commit_callbacks(execute=True):
        assert sync_all_stores() == "3 store syncs queued"

    # Then it queued a sync per store and synced none itself
    assert queued == [("fulfillment.tasks.sync_store", (s.pk,)) for s in sorted(stores, key=lambda s: s.pk)]
    assert Store.objects.filter(last_sync_at__isnull=False).count() == 0


def test_an_unreachable_store_holds_up_no_other(woo, woo_store, django_capture_on_commit_callbacks):
    # Given a store whose shop does not answer, and one that works
    down = StoreFactory(slug="down")
    watch_from(woo_store, now_s() - timedelta(minutes=10))
    woo.add_orders([order_payload(1, created=now_s(), modified=now_s())])

    # When every store is synced, each in its own task
    with django_capture_on_commit_callbacks(execute=True):
        assert stores_sync_queue() == sorted([woo_store.pk, down.pk])

    # Then the working one is synced, and the other records its failure
    down.refresh_from_db()
    woo_store.refresh_from_db()
    assert down.last_sync_error == "GET orders: cannot connect to 127.0.0.1:9"
    assert (woo_store.last_sync_error, stored(woo_store)) == ("", [1])
    assert woo_store.last_sync_at is not None


# -- orders the reconcile cannot mirror -----------------------------------------------------------------------------


def broken(woo_id, **kwargs):
    payload = order_payload(woo_id, created=now_s(), modified=now_s(), **kwargs)
    payload["date_created_gmt"] = "yesterday"
    return payload


def test_orders_a_sync_cannot_mirror_are_kept_on_the_store_while_the_watermark_moves(woo, woo_store):
    # Given a changed order we cannot map, beside a good one
    watch_from(woo_store, now_s() - timedelta(minutes=10))
    woo.add_orders([broken(7), order_payload(8, created=now_s(), modified=now_s())])
    started = now_s()

    # When the store is synced
    outcome = store_sync(store=woo_store, now=started)

    # Then the watermark moves on, and the failure is kept on the store with its reason
    assert outcome.watermark_moved is True
    woo_store.refresh_from_db()
    assert woo_store.last_sync_failures == [
        {"woo_id": 7, "reason": "date_created_gmt: not a date: 'yesterday'", "at": started.isoformat()}
    ]
    assert stored(woo_store) == [8]
    assert "1 order could not be mirrored by the sync (listed on the store's page)." in woo_store.health_warnings()


def test_a_failure_stays_listed_when_later_syncs_no_longer_see_the_order(woo, woo_store):
    # Given an order that failed in the last sync and was not changed since (outside the next window)
    watch_from(woo_store, now_s() - timedelta(minutes=10))
    woo.add_orders([broken(7)])
    store_sync(store=woo_store)
    first = Store.objects.get(pk=woo_store.pk).last_sync_failures
    woo.orders[7]["date_modified_gmt"] = (now_s() - timedelta(days=2)).strftime("%Y-%m-%dT%H:%M:%S")

    # When the next syncs run
    store_sync(store=woo_store)
    store_sync(store=woo_store)

    # Then it is still listed, as first recorded
    woo_store.refresh_from_db()
    assert woo_store.last_sync_failures == first


def test_a_failure_is_cleared_when_a_later_sync_mirrors_the_order(woo, woo_store):
    # Given an order that failed, then fixed in the shop
    watch_from(woo_store, now_s() - timedelta(minutes=10))
    woo.add_orders([broken(7)])
    store_sync(store=woo_store)
    woo.orders[7] = order_payload(7, created=now_s(), modified=now_s() + timedelta(seconds=1))

    # When the next sync runs
    store_sync(store=woo_store)

    # Then it is mirrored and no longer listed
    woo_store.refresh_from_db()
    assert woo_store.last_sync_failures == []
    assert stored(woo_store) == [7]
    assert not [w for w in woo_store.health_warnings() if "could not be mirrored" in w]


def test_a_failure_is_cleared_when_a_webhook_mirrored_the_order_since(woo, woo_store):
    # Given an order that failed in a sync, then mirrored from a webhook (its next version)
    watch_from(woo_store, now_s() - timedelta(minutes=10))
    woo.add_orders([broken(7)])
    store_sync(store=woo_store, now=now_s() - timedelta(seconds=5))
    orders_upsert(store=woo_store, payloads=[order_payload(7, created=now_s(), modified=now_s())],
                  source=EventSource.WEBHOOK)
    del woo.orders[7]  # out of the next window

    # When the next sync runs
    store_sync(store=woo_store)

    # Then the failure is gone
    woo_store.refresh_from_db()
    assert woo_store.last_sync_failures == []


def test_the_failures_kept_are_capped_to_the_newest(woo, woo_store):
    # Given more failing orders than are kept
    watch_from(woo_store, now_s() - timedelta(minutes=10))
    woo.add_orders([broken(i) for i in range(1, MAX_SYNC_FAILURES_KEPT + 11)])

    # When synced
    store_sync(store=woo_store)

    # Then only the last ones read are kept
    woo_store.refresh_from_db()
    assert [f["woo_id"] for f in woo_store.last_sync_failures] == list(range(11, MAX_SYNC_FAILURES_KEPT + 11))


def test_failures_are_also_kept_when_the_sync_fails_later(woo, woo_store):
    # Given a first page with an order we cannot map, and a shop failing on the second page
    watch_from(woo_store, now_s() - timedelta(minutes=10))
    woo.add_orders([broken(1)] + [order_payload(i, created=now_s(), modified=now_s()) for i in range(2, 151)])
    woo.fail_page(2, count=5)

    # When synced
    outcome = store_sync(store=woo_store)

    # Then the sync failed, and the order it could not mirror is listed all the same
    assert outcome.error.startswith("GET orders: HTTP 503")
    woo_store.refresh_from_db()
    assert [f["woo_id"] for f in woo_store.last_sync_failures] == [1]


@pytest.mark.django_db
def test_the_store_admin_lists_the_orders_the_sync_could_not_mirror(admin_client):
    # Given a store with two orders the sync could not mirror
    now = timezone.now()
    store = StoreFactory(slug="failures", last_webhook_at=now, last_sync_at=now, last_sync_failures=[
        {"woo_id": 7, "reason": "date_created_gmt: not a date: 'yesterday'", "at": "2026-11-21T10:00:00+00:00"},
        {"woo_id": 9, "reason": "total: '12345678901.00' is too large an amount", "at": "2026-11-21T10:05:00+00:00"},
    ])

    # When staff open the store list and the store
    listing = admin_client.get("/admin/fulfillment/store/").content.decode()
    detail = admin_client.get(f"/admin/fulfillment/store/{store.pk}/change/").content.decode()

    # Then the list warns, and the page lists each order with its reason, newest first
    assert "⚠ 2 orders could not be mirrored by the sync (listed on the store&#x27;s page)." in listing
    assert ("<tr><td>9</td><td>total: &#x27;12345678901.00&#x27; is too large an amount</td>"
            "<td>2026-11-21 10:05</td></tr><tr><td>7</td><td>" + escape("date_created_gmt: not a date: 'yesterday'")
            + "</td><td>2026-11-21 10:00</td></tr>") in detail
    assert 'name="last_sync_failures"' not in detail  # shown, not editable
