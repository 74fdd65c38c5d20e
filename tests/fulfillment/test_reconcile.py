from datetime import UTC, datetime, timedelta
from io import StringIO

import pytest
from django.core.management import CommandError, call_command
from django.utils import timezone

from fulfillment.choices import EventSource, EventType, PushKind, PushState
from fulfillment.integrations.woocommerce.client import WooClient
from fulfillment.models import Order, OrderEvent, Store, StorePush
from fulfillment.services.mirror import orders_upsert
from fulfillment.services.reconcile import store_sync
from fulfillment.tasks import sync_all_stores, sync_store
from tests.conftest import on_postgres
from tests.factories import OrderFactory, StoreFactory
from tests.fakes.woocommerce import FakeWooCommerce
from tests.woo_payloads import order_payload

OVERLAP = timedelta(seconds=300)  # settings.SYNC_OVERLAP_SECONDS
SECRETS = ("ck_test_0123456789abcdef", "cs_test_fedcba9876543210", "whsecret123")


def now_s():
    return timezone.now().replace(microsecond=0)


def wc(value):
    return value.astimezone(UTC).strftime("%Y-%m-%dT%H:%M:%S")


def shop_with_orders(woo, store, ids, *, days_ago=30):
    """Orders last modified `days_ago` days ago, in the shop and already in our mirror."""
    start = now_s() - timedelta(days=days_ago)
    payloads = [order_payload(i, created=start + timedelta(seconds=i), modified=start + timedelta(seconds=i, minutes=1))
                for i in ids]
    woo.add_orders(payloads)
    orders_upsert(store=store, payloads=payloads, source=EventSource.IMPORT)
    return payloads


def watch_from(store, when):
    Store.objects.filter(pk=store.pk).update(sync_watermark=when)
    store.refresh_from_db()


def stored(store):
    return sorted(Order.objects.filter(store=store).values_list("woo_id", flat=True))


def list_requests(woo):
    return [params for method, path, params in woo.requests if (method, path) == ("GET", "orders")]


def test_sync_brings_in_changes_whose_webhooks_were_missed(woo, woo_store):
    # Given three mirrored orders, the last sync ten minutes ago
    shop_with_orders(woo, woo_store, [1, 2, 3])
    watch_from(woo_store, now_s() - timedelta(minutes=10))
    # and, with no webhook getting through, the shop completed one order and took a new one
    woo.touch(2, status="completed")
    woo.add_orders([order_payload(4, created=now_s() - timedelta(minutes=1), modified=now_s())])

    # When the store is synced
    outcome = store_sync(store=woo_store)

    # Then both are in the mirror, and only they were written
    assert outcome.error == ""
    assert (outcome.result.created, outcome.result.updated) == ([4], [2])
    assert (outcome.result.unchanged, outcome.result.stale, outcome.result.failed) == ([], [], [])
    assert dict(Order.objects.values_list("woo_id", "status")) == {
        1: "processing", 2: "completed", 3: "processing", 4: "processing",
    }
    assert list(OrderEvent.objects.filter(source=EventSource.RECONCILE).order_by("order__woo_id")
                .values_list("order__woo_id", "type")) == [(2, EventType.STATUS_CHANGED), (4, EventType.CREATED)]


def test_sync_asks_for_orders_modified_since_the_watermark_minus_the_overlap_in_gmt(woo, woo_store):
    # Given a store last synced at a known time
    watermark = datetime(2026, 11, 21, 9, 30, 15, tzinfo=UTC)
    watch_from(woo_store, watermark)

    # When it is synced
    store_sync(store=woo_store)

    # Then the shop was asked for orders modified after watermark - overlap, as GMT: once for the default status
    # (any, which leaves out the trash), once for the trash
    asked = {"modified_after": "2026-11-21T09:25:15", "dates_are_gmt": "true", "orderby": "id", "order": "asc",
             "per_page": "100", "page": "1"}
    assert list_requests(woo) == [asked, {**asked, "status": "trash"}]


def test_first_sync_starts_from_the_newest_mirrored_order(woo, woo_store):
    # Given a store never synced, whose newest mirrored order was modified at a known time
    payloads = shop_with_orders(woo, woo_store, [1, 2])
    newest = datetime.fromisoformat(payloads[-1]["date_modified_gmt"]).replace(tzinfo=UTC)

    # When it is synced for the first time
    outcome = store_sync(store=woo_store)

    # Then it looks back from that order, with the overlap
    assert outcome.since == newest - OVERLAP
    assert list_requests(woo)[0]["modified_after"] == wc(newest - OVERLAP)


def test_first_sync_of_an_empty_store_looks_back_one_day(woo, woo_store):
    # Given a store with no order and no sync yet
    now = now_s()

    # When it is synced
    outcome = store_sync(store=woo_store, now=now)

    # Then it asks for the last day (plus the overlap)
    assert outcome.since == now - timedelta(days=1) - OVERLAP
    assert list_requests(woo)[0]["modified_after"] == wc(now - timedelta(days=1) - OVERLAP)


def test_sync_cost_depends_on_changed_orders_not_on_open_ones(woo, woo_store):
    # Given 1,000 orders unchanged for a month, and 150 changed since the last sync
    shop_with_orders(woo, woo_store, range(1, 1001))
    watch_from(woo_store, now_s() - timedelta(minutes=5))
    for woo_id in range(1, 1001, 10):
        woo.touch(woo_id, status="completed")
    woo.add_orders([order_payload(i, created=now_s() - timedelta(minutes=1), modified=now_s())
                    for i in range(2001, 2051)])

    # When the store is synced
    outcome = store_sync(store=woo_store)

    # Then ceil(150 / 100) = 2 requests fetched exactly the changed orders, and one the (empty) trash
    assert outcome.requests == 3
    assert [(p["page"], p.get("status")) for p in list_requests(woo)] == [("1", None), ("2", None), ("1", "trash")]
    assert len(woo.requests) == 3
    assert outcome.result.updated == list(range(1, 1001, 10))
    assert outcome.result.created == list(range(2001, 2051))
    assert Order.objects.filter(status="completed").count() == 100
    assert Order.objects.count() == 1050


def test_sync_with_nothing_changed_costs_two_requests(woo, woo_store):
    # Given 250 orders, none changed since the last sync
    shop_with_orders(woo, woo_store, range(1, 251))
    watch_from(woo_store, now_s() - timedelta(minutes=5))

    # When the store is synced
    outcome = store_sync(store=woo_store)

    # Then one request for the live orders and one for the trash say so, and nothing is written
    assert (outcome.requests, outcome.error) == (2, "")
    assert (outcome.result.created, outcome.result.updated) == ([], [])
    assert OrderEvent.objects.filter(source=EventSource.RECONCILE).count() == 0


def test_successful_sync_moves_the_watermark(woo, woo_store):
    # Given a store last synced an hour ago, whose previous sync had failed
    Store.objects.filter(pk=woo_store.pk).update(
        sync_watermark=now_s() - timedelta(hours=1), last_sync_error="GET orders: HTTP 503",
        sync_failing_since=now_s() - timedelta(hours=1),
    )
    woo_store.refresh_from_db()
    started = now_s()

    # When it is synced
    outcome = store_sync(store=woo_store, now=started)

    # Then the watermark is this run's start, and the failure is forgotten
    assert outcome.watermark_moved is True
    woo_store.refresh_from_db()
    assert woo_store.sync_watermark == started
    assert started <= woo_store.last_sync_at <= timezone.now()
    assert (woo_store.last_sync_error, woo_store.sync_failing_since) == ("", None)


def test_next_sync_starts_where_the_last_one_ended(woo, woo_store):
    # Given a sync that ran at a known time
    first = now_s() - timedelta(minutes=5)
    watch_from(woo_store, first - timedelta(hours=1))
    store_sync(store=woo_store, now=first)

    # When the next one runs
    store_sync(store=woo_store)

    # Then it asks from the first run's start minus the overlap (after the first run's two requests)
    assert [p["modified_after"] for p in list_requests(woo)[2:]] == [wc(first - OVERLAP)] * 2


def test_sync_failing_with_503_keeps_the_watermark_and_records_the_failure(woo, woo_store):
    # Given a mirrored order, a watermark, and a shop answering 503 to every attempt (1 + 4 retries)
    shop_with_orders(woo, woo_store, [1])
    watermark = now_s() - timedelta(minutes=10)
    watch_from(woo_store, watermark)
    woo.touch(1, status="completed")
    woo.fail_next(5, status=503)
    started = now_s()

    # When the store is synced
    outcome = store_sync(store=woo_store, now=started)

    # Then the failure is recorded for staff, and nothing else moves
    error = ("GET orders: HTTP 503, the answer is not JSON (an error page?): "
             "<html><head><title>503 Service Unavailable</title></head><body>Down</body></html>")
    assert outcome.error == error
    assert outcome.watermark_moved is False
    assert woo.failures == []
    woo_store.refresh_from_db()
    assert woo_store.sync_watermark == watermark
    assert woo_store.last_sync_at is None
    assert woo_store.last_sync_error == error
    assert woo_store.sync_failing_since == started
    assert Order.objects.get().status == "processing"

    # And once the shop answers again, the next sync catches up from the same watermark
    store_sync(store=woo_store)
    assert list_requests(woo)[-1]["modified_after"] == wc(watermark - OVERLAP)
    assert Order.objects.get().status == "completed"
    woo_store.refresh_from_db()
    assert (woo_store.last_sync_error, woo_store.sync_failing_since) == ("", None)


def test_sync_retries_a_passing_503_and_succeeds(woo, woo_store):
    # Given a shop that answers 503 twice, then normally
    shop_with_orders(woo, woo_store, [1])
    watch_from(woo_store, now_s() - timedelta(minutes=10))
    woo.touch(1, status="completed")
    woo.fail_next(2, status=503)

    # When the store is synced
    outcome = store_sync(store=woo_store)

    # Then the retries carry it through
    assert (outcome.error, outcome.requests, outcome.result.updated) == ("", 2, [1])
    woo_store.refresh_from_db()
    assert woo_store.last_sync_error == ""


def test_repeated_failures_keep_the_time_of_the_first_one(woo, woo_store):
    # Given a sync that failed at a known time
    first = now_s() - timedelta(minutes=40)
    watermark = now_s() - timedelta(hours=1)
    watch_from(woo_store, watermark)
    woo.fail_next(5)
    store_sync(store=woo_store, now=first)

    # When the next one fails too
    woo.fail_next(5)
    store_sync(store=woo_store, now=now_s())

    # Then the store has been failing since the first failure
    woo_store.refresh_from_db()
    assert (woo_store.sync_failing_since, woo_store.sync_watermark) == (first, watermark)


def test_sync_refused_for_bad_keys_records_wooCommerces_reason(woo, woo_store):
    # Given a store whose consumer secret was regenerated in the shop
    shop_with_orders(woo, woo_store, [1])
    watermark = now_s() - timedelta(minutes=10)
    watch_from(woo_store, watermark)
    woo.touch(1, status="completed")
    Store.objects.filter(pk=woo_store.pk).update(consumer_secret="cs_revoked")
    woo_store.refresh_from_db()

    # When it is synced
    outcome = store_sync(store=woo_store)

    # Then WooCommerce's code and message are kept, without retrying and without moving the watermark
    error = ("GET orders: HTTP 401 woocommerce_rest_authentication_error: "
             "Invalid signature - provided signature does not match.")
    assert outcome.error == error
    woo_store.refresh_from_db()
    assert (woo_store.sync_watermark, woo_store.last_sync_at, woo_store.last_sync_error) == (watermark, None, error)
    assert woo_store.sync_failing_since is not None
    assert "cs_revoked" not in error
    assert Order.objects.get().status == "processing"


def test_sync_failing_on_the_second_page_keeps_the_watermark_and_the_first_page(woo, woo_store):
    # Given 150 orders changed since the last sync, and a shop that fails after the first page
    watermark = now_s() - timedelta(minutes=10)
    watch_from(woo_store, watermark)
    woo.add_orders([order_payload(i, created=now_s() - timedelta(minutes=2), modified=now_s())
                    for i in range(1, 151)])

    class FirstPageOnly(WooClient):
        def order_page(self, params, number, **kwargs):
            page = super().order_page(params, number, **kwargs)
            if number == 1:
                woo.fail_next(5)  # every attempt at the next pages (1 + 4 retries)
            return page

    # When the store is synced
    outcome = store_sync(store=woo_store, client=FirstPageOnly.for_store(woo_store))

    # Then the first page is mirrored (a sync never undoes what it read) and the window is read again next time
    assert outcome.error.startswith("GET orders: HTTP 503")
    assert Order.objects.count() == 100
    woo_store.refresh_from_db()
    assert woo_store.sync_watermark == watermark
    assert woo_store.last_sync_at is None


def test_an_order_the_database_refuses_fails_alone_and_the_sync_goes_on(woo, woo_store, request,
                                                                       django_capture_on_commit_callbacks):
    # Given two shops, the first with three changed orders: one with a NUL character in its note, one whose
    # quantity PostgreSQL's integer column cannot hold, one too large an amount for our money columns
    other_shop = FakeWooCommerce().start()
    request.addfinalizer(other_shop.stop)
    second = StoreFactory(slug="second", base_url=other_shop.url, consumer_key=other_shop.consumer_key,
                          consumer_secret=other_shop.consumer_secret)
    watermark = now_s() - timedelta(minutes=10)
    for store in (woo_store, second):
        watch_from(store, watermark)
    huge_quantity = order_payload(8, created=now_s(), modified=now_s())
    huge_quantity["line_items"][0]["quantity"] = 2 ** 40
    woo.add_orders([order_payload(7, created=now_s(), modified=now_s(), customer_note="Gift\u0000wrap"),
                    huge_quantity, order_payload(9, created=now_s(), modified=now_s(), total="12345678901.00"),
                    order_payload(10, created=now_s(), modified=now_s())])
    other_shop.add_orders([order_payload(8, created=now_s(), modified=now_s())])

    # When the schedule syncs every store (a task each)
    with django_capture_on_commit_callbacks(execute=True):
        assert sync_all_stores() == "2 store syncs queued"

    # Then both stores were synced; the orders that cannot be stored failed alone with their reasons, kept on the
    # store, and the others of their page are mirrored (the NUL shown as U+FFFD)
    for store in (woo_store, second):
        store.refresh_from_db()
        assert (store.last_sync_error, store.sync_failing_since) == ("", None)
    failed = {f["woo_id"]: f["reason"] for f in woo_store.last_sync_failures}
    if on_postgres():
        assert failed == {
            9: "total: '12345678901.00' is too large an amount",
            8: 'The database refused the order: value "1099511627776" is out of range for type integer',
        }
        assert stored(woo_store) == [7, 10]
    else:
        assert failed == {9: "total: '12345678901.00' is too large an amount"}
        assert stored(woo_store) == [7, 8, 10]
    assert Order.objects.get(store=woo_store, woo_id=7).customer_note == "Gift\ufffdwrap"
    assert stored(second) == [8]
    assert second.last_sync_failures == []


class ChangesWhilePaging(WooClient):
    """The store's client, with the shop changing once the first page is read, before the next are asked for."""

    def __init__(self, store, change):
        super().__init__(base_url=store.base_url, consumer_key=store.consumer_key,
                         consumer_secret=store.consumer_secret)
        self.change = change

    def order_page(self, params, number, **kwargs):
        page = super().order_page(params, number, **kwargs)
        if number == 1:
            self.change()
        return page


def test_orders_changed_while_paging_do_not_hold_the_watermark_back(woo, woo_store):
    # Given a busy shop: 150 orders changed since the last sync
    watch_from(woo_store, now_s() - timedelta(minutes=10))
    woo.add_orders([order_payload(i, created=now_s() - timedelta(minutes=2), modified=now_s())
                    for i in range(1, 151)])
    started = now_s()

    # When, while the sync reads the first page, one more order comes in and an old one is changed
    def change():
        woo.add_orders([order_payload(151, created=now_s(), modified=now_s())])
        old = order_payload(500, created=now_s() - timedelta(days=3), modified=now_s() - timedelta(days=3))
        woo.add_orders([old])
        woo.touch(500, status="completed")

    outcome = store_sync(store=woo_store, client=ChangesWhilePaging(woo_store, change), now=started)

    # Then no order read can have been skipped (newcomers only push others to a later page), so the watermark
    # moves on: a busy shop's window must not grow run after run
    assert outcome.error == ""
    assert outcome.watermark_moved is True
    woo_store.refresh_from_db()
    assert woo_store.sync_watermark == started
    assert set(range(1, 151)) <= set(Order.objects.values_list("woo_id", flat=True))

    # And the orders changed during the run are caught by the next one
    store_sync(store=woo_store)
    assert set(Order.objects.values_list("woo_id", flat=True)) == set(range(1, 152)) | {500}


def test_order_leaving_the_window_while_paging_keeps_the_watermark(woo, woo_store):
    # Given 150 orders changed since the last sync
    watermark = now_s() - timedelta(minutes=10)
    watch_from(woo_store, watermark)
    woo.add_orders([order_payload(i, created=now_s() - timedelta(minutes=2), modified=now_s() - timedelta(minutes=1))
                    for i in range(1, 151)])

    # When, after the first page was read, an order of that page is trashed: the others shift back one place
    def change():
        woo.orders[5]["status"] = "trash"

    outcome = store_sync(store=woo_store, client=ChangesWhilePaging(woo_store, change))

    # Then the order that slid onto the page already read was missed, so the same window is read again next time
    assert outcome.watermark_moved is False
    assert not Order.objects.filter(woo_id=101).exists()
    woo_store.refresh_from_db()
    assert woo_store.sync_watermark == watermark
    assert woo_store.last_sync_error == ""
    store_sync(store=woo_store)
    assert Order.objects.filter(woo_id=101).exists()


def test_healthy_store_has_no_warning():
    # Given a store that had a webhook five minutes ago and a sync two minutes ago
    now = datetime(2026, 11, 21, 12, 0, tzinfo=UTC)
    store = Store(last_webhook_at=now - timedelta(minutes=5), last_sync_at=now - timedelta(minutes=2))

    # Then nothing is reported
    assert store.health_warnings(now) == []


def test_store_failing_for_more_than_half_an_hour_is_reported():
    # Given a store whose sync has been failing for 31 minutes
    now = datetime(2026, 11, 21, 12, 0, tzinfo=UTC)
    store = Store(last_webhook_at=now - timedelta(minutes=1), last_sync_at=now - timedelta(minutes=40),
                  sync_failing_since=now - timedelta(minutes=31), last_sync_error="GET orders: HTTP 503")

    # Then staff are told since when and why
    assert store.health_warnings(now) == ["Sync failing since 2026-11-21 11:29: GET orders: HTTP 503"]


def test_store_failing_for_a_short_while_is_not_reported():
    now = datetime(2026, 11, 21, 12, 0, tzinfo=UTC)
    store = Store(last_webhook_at=now - timedelta(minutes=1), last_sync_at=now - timedelta(minutes=10),
                  sync_failing_since=now - timedelta(minutes=10), last_sync_error="GET orders: HTTP 503")

    assert store.health_warnings(now) == []


def test_silent_store_is_reported():
    # Given a store with neither a webhook nor a good sync for more than its limit (24 h)
    now = datetime(2026, 11, 21, 12, 0, tzinfo=UTC)
    store = Store(last_webhook_at=now - timedelta(hours=25), last_sync_at=now - timedelta(hours=24, minutes=1))

    # Then it is reported as silent
    assert store.health_warnings(now) == ["No webhook and no successful sync for more than 24.0 h."]


def test_store_without_webhooks_but_syncing_is_told_to_check_its_webhooks():
    # Given a store whose syncs work but whose webhooks stopped two days ago (WooCommerce disabled them)
    now = datetime(2026, 11, 21, 12, 0, tzinfo=UTC)
    store = Store(last_webhook_at=now - timedelta(days=2), last_sync_at=now - timedelta(minutes=3),
                  silence_alert_minutes=120)

    # Then staff are told to look at the shop's webhooks
    assert store.health_warnings(now) == [
        "No webhook for more than 2.0 h: check the shop's webhooks "
        "(WooCommerce disables them silently after repeated failures)."
    ]


@pytest.mark.django_db
def test_failed_sync_makes_the_store_report_failing_after_half_an_hour(woo, woo_store):
    # Given a store that was healthy until its sync started failing
    started = now_s()
    Store.objects.filter(pk=woo_store.pk).update(last_webhook_at=started, last_sync_at=started)
    woo_store.refresh_from_db()
    woo.fail_next(5)
    store_sync(store=woo_store, now=started)
    woo_store.refresh_from_db()

    # Then it is not reported at once, but after half an hour of failing
    assert woo_store.health_warnings(started + timedelta(minutes=5)) == []
    assert woo_store.health_warnings(started + timedelta(minutes=31)) == [
        f"Sync failing since {started:%Y-%m-%d %H:%M}: {woo_store.last_sync_error}"
    ]


def test_sync_store_command_reports_what_it_did(woo, woo_store):
    # Given a store with one changed order since its last sync
    shop_with_orders(woo, woo_store, [1, 2])
    watermark = datetime(2026, 11, 21, 9, 30, 15, tzinfo=UTC)
    watch_from(woo_store, watermark)
    woo.touch(1, status="completed")
    out = StringIO()

    # When the command runs for it
    call_command("sync_store", "woo", stdout=out)

    # Then it says what it read and wrote
    assert out.getvalue() == (
        "woo: since 2026-11-21 09:25:15 UTC, 2 requests — 0 created, 1 updated, 0 unchanged, "
        "0 older than stored, 0 failed\n"
    )
    assert Order.objects.get(woo_id=1).status == "completed"


def test_sync_store_command_without_slugs_syncs_every_store(woo, woo_store):
    # Given two stores on the same shop
    other = StoreFactory(slug="second", base_url=woo.url, consumer_key=woo.consumer_key,
                         consumer_secret=woo.consumer_secret)
    for store in (woo_store, other):
        watch_from(store, datetime(2026, 11, 21, 9, 30, 15, tzinfo=UTC))
    out = StringIO()

    # When the command runs without arguments
    call_command("sync_store", stdout=out)

    # Then both were synced
    assert [line.split(":")[0] for line in out.getvalue().splitlines()] == ["woo", "second"]
    assert len(list_requests(woo)) == 4


def test_sync_store_command_lists_orders_it_could_not_mirror(woo, woo_store):
    # Given a changed order that is not an order we can mirror
    watch_from(woo_store, now_s() - timedelta(minutes=10))
    broken = order_payload(7, created=now_s(), modified=now_s())
    broken["date_created_gmt"] = "yesterday"
    woo.add_orders([broken])
    out = StringIO()

    # When the command runs
    call_command("sync_store", "woo", stdout=out)

    # Then the order and the reason are listed
    assert out.getvalue().splitlines()[1:] == ["  order 7: date_created_gmt: not a date: 'yesterday'"]
    assert Order.objects.count() == 0


@pytest.mark.django_db
def test_sync_store_command_refuses_an_unknown_store(woo_store):
    out, err = StringIO(), StringIO()

    with pytest.raises(CommandError) as raised:
        call_command("sync_store", "woo", "nope", "other", stdout=out, stderr=err)

    assert str(raised.value) == "Unknown store(s): nope, other"
    assert (out.getvalue(), err.getvalue()) == ("", "")
    woo_store.refresh_from_db()
    assert woo_store.last_sync_at is None


def test_sync_store_command_fails_when_a_store_cannot_be_synced(woo, woo_store):
    # Given a shop that is down
    watermark = now_s() - timedelta(minutes=10)
    watch_from(woo_store, watermark)
    woo.fail_next(5)
    out, err = StringIO(), StringIO()

    # When the command runs
    with pytest.raises(CommandError) as raised:
        call_command("sync_store", "woo", stdout=out, stderr=err)

    # Then it says which store failed and why, and exits with an error
    assert str(raised.value) == "At least one store could not be synced."
    assert err.getvalue() == (
        "woo: sync failed: GET orders: HTTP 503, the answer is not JSON (an error page?): "
        "<html><head><title>503 Service Unavailable</title></head><body>Down</body></html>\n"
    )
    assert out.getvalue() == ""
    woo_store.refresh_from_db()
    assert woo_store.sync_watermark == watermark


def test_sync_store_task_reports_requests_or_the_error(woo, woo_store):
    watch_from(woo_store, now_s() - timedelta(minutes=10))

    assert sync_store(woo_store.pk) == "2 requests"
    woo.fail_next(5)
    assert sync_store(woo_store.pk).startswith("GET orders: HTTP 503")


# -- the store in the admin -------------------------------------------------------------------------


def assert_no_secret(html):
    for secret in SECRETS:
        assert secret not in html


@pytest.mark.django_db
def test_store_changelist_shows_health_and_no_secret(admin_client):
    # Given a healthy store and one whose sync has been failing for an hour
    now = timezone.now()
    StoreFactory(slug="healthy", name="Healthy shop", last_webhook_at=now, last_sync_at=now)
    failing = StoreFactory(slug="failing", name="Failing shop", last_webhook_at=now,
                           last_sync_at=now - timedelta(hours=1), sync_failing_since=now - timedelta(hours=1),
                           last_sync_error="GET orders: HTTP 503 from the host")
    # with one failed, one retrying and one sent push
    order = OrderFactory(store=failing)
    for state in (PushState.FAILED, PushState.RETRYING, PushState.SENT):
        StorePush.objects.create(store=failing, order=order, kind=PushKind.NOTE, payload={"note": "x"}, state=state,
                                 next_attempt_at=now)

    # When staff open the store list
    response = admin_client.get("/admin/fulfillment/store/")

    # Then each store's health is shown, and no key or secret
    html = response.content.decode()
    assert response.status_code == 200
    assert html.count("✔ OK") == 1
    assert html.count('<td class="field-failing_pushes">0</td>') == 1
    assert html.count('<td class="field-failing_pushes">2</td>') == 1
    since = timezone.localtime(now - timedelta(hours=1)).strftime("%Y-%m-%d %H:%M")
    assert f"⚠ Sync failing since {since}: GET orders: HTTP 503 from the host" in html
    assert_no_secret(html)


@pytest.mark.django_db
def test_store_change_page_shows_health_and_no_secret(admin_client):
    # Given a silent store
    store = StoreFactory(slug="silent", last_webhook_at=timezone.now() - timedelta(days=3))

    # When staff open it
    response = admin_client.get(f"/admin/fulfillment/store/{store.pk}/change/")

    # Then they see the warning and the webhook URL, and the secret fields are empty
    html = response.content.decode()
    assert response.status_code == 200
    assert "⚠ No webhook and no successful sync for more than 24.0 h." in html
    assert "/webhooks/woocommerce/silent/" in html
    assert html.count("Stored. Leave blank to keep it.") == 3
    for name in ("consumer_key", "consumer_secret", "webhook_secret"):
        assert f'<input type="password" name="{name}"' in html
    assert_no_secret(html)


def store_form(admin_client, path, **changes):
    """What the store form at `path` posts when staff change only `changes` (secret fields left blank)."""
    form = admin_client.get(path).context["adminform"].form
    data = {name: form[name].value() for name in form.fields}
    data = {name: "" if value is None else value for name, value in data.items() if value is not False}
    data.update(consumer_key="", consumer_secret="", webhook_secret="", _save="Save")
    data.update(changes)
    return data


@pytest.mark.django_db
def test_editing_a_store_with_blank_secrets_keeps_them(admin_client):
    # Given a store with its keys
    store = StoreFactory(slug="keep")

    # When staff rename it and leave the secret fields blank
    path = f"/admin/fulfillment/store/{store.pk}/change/"
    response = admin_client.post(path, store_form(admin_client, path, name="Renamed shop", silence_alert_minutes=60))

    # Then the change is saved and the secrets are the stored ones
    assert response.status_code == 302
    store.refresh_from_db()
    assert (store.name, store.silence_alert_minutes) == ("Renamed shop", 60)
    assert (store.consumer_key, store.consumer_secret, store.webhook_secret) == SECRETS


@pytest.mark.django_db
def test_editing_a_store_with_a_new_secret_replaces_only_that_one(admin_client):
    store = StoreFactory(slug="rotate")

    path = f"/admin/fulfillment/store/{store.pk}/change/"
    response = admin_client.post(path, store_form(admin_client, path, webhook_secret="newSecret42"))

    assert response.status_code == 302
    store.refresh_from_db()
    assert (store.consumer_key, store.consumer_secret, store.webhook_secret) == (*SECRETS[:2], "newSecret42")


@pytest.mark.django_db
def test_invalid_store_edit_does_not_send_the_secrets_back(admin_client):
    # Given a store
    store = StoreFactory(slug="invalid")

    # When staff submit a bad webhook secret and a bad timezone along with the other secrets filled in
    path = f"/admin/fulfillment/store/{store.pk}/change/"
    response = admin_client.post(path, store_form(
        admin_client, path, timezone="Mars/Olympus", consumer_secret="cs_typed_in_full", webhook_secret="bad secret!",
    ))

    # Then the form comes back with its errors, without echoing any secret, and nothing is saved
    html = response.content.decode()
    assert response.status_code == 200
    assert "Mars/Olympus is not a known timezone" in html
    assert "Use letters, digits, " in html
    assert "cs_typed_in_full" not in html
    assert_no_secret(html)
    store.refresh_from_db()
    assert (store.timezone, store.consumer_key, store.consumer_secret, store.webhook_secret) == (
        "Europe/Amsterdam", *SECRETS,
    )


@pytest.mark.django_db
def test_new_store_needs_its_secrets(admin_client):
    # When staff add a store without keys
    path = "/admin/fulfillment/store/add/"
    data = store_form(admin_client, path, name="New", slug="new", base_url="https://new.example.com", timezone="UTC")
    response = admin_client.post(path, data)

    # Then it is refused with one error per missing secret
    assert response.status_code == 200
    assert response.context["adminform"].form.errors == {
        "consumer_key": ["This field is required."],
        "consumer_secret": ["This field is required."],
        "webhook_secret": ["This field is required."],
    }
    assert not Store.objects.filter(slug="new").exists()


@pytest.mark.django_db
def test_staff_turn_on_query_string_auth_in_the_store_form(admin_client):
    # Given a store on a host that strips the Authorization header
    store = StoreFactory(slug="stripping")
    path = f"/admin/fulfillment/store/{store.pk}/change/"
    assert 'name="query_string_auth"' in admin_client.get(path).content.decode()

    # When staff tick "send the keys in the query string"
    response = admin_client.post(path, store_form(admin_client, path, query_string_auth="on"))

    # Then it is saved, the secrets kept
    assert response.status_code == 302
    store.refresh_from_db()
    assert store.query_string_auth is True
    assert (store.consumer_key, store.consumer_secret, store.webhook_secret) == SECRETS
