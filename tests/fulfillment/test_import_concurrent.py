"""Imports and the reconcile read several pages at once (paging.OrderPages), and write them in page order.

Run on SQLite (pages written one after the other) and on PostgreSQL (two writers, commits in page order): the
database tests here are transactional so that the writers' own connections see the store.
"""

import logging
import time
from datetime import timedelta
from io import StringIO

import pytest
from django.core.management import call_command
from django.db import transaction
from django.urls import reverse
from django.utils import timezone, translation

from fulfillment.choices import ImportMode, RunState
from fulfillment.integrations.woocommerce.client import WooClient
from fulfillment.integrations.woocommerce.paging import OrderPages
from fulfillment.models import ImportRun, Order, Store
from fulfillment.services import imports
from fulfillment.services.imports import (ImportRequestError, import_run_create, import_run_execute,
                                          import_run_resume)
from fulfillment.services.reconcile import store_sync
from tests.factories import StoreFactory
from tests.woo_payloads import order_payload

pytestmark = pytest.mark.django_db(transaction=True)


@pytest.fixture(autouse=True)
def in_english():
    # The texts compared below are the English ones, whatever language an earlier test left active.
    with translation.override("en"):
        yield

HTML_500 = "<html><body>Internal Server Error</body></html>"


def make_store(woo, *, concurrency=4):
    return StoreFactory(slug="woo", base_url=woo.url, consumer_key=woo.consumer_key,
                        consumer_secret=woo.consumer_secret, fetch_concurrency=concurrency)


def client_for(woo, cls=WooClient, **kwargs):
    return cls(base_url=woo.url, consumer_key=woo.consumer_key, consumer_secret=woo.consumer_secret,
               retry_base=0, max_retries=2, sleep=lambda seconds: None, **kwargs)


def stored_ids(store):
    return sorted(Order.objects.filter(store=store).values_list("woo_id", flat=True))


def pages_asked(woo):
    return [int(params["page"]) for method, path, params in woo.requests if (method, path) == ("GET", "orders")]


def run_all(store, client, **kwargs):
    return import_run_execute(run=import_run_create(store=store, mode=ImportMode.ALL), client=client, **kwargs)


# -- how many at once ---------------------------------------------------------------------------------------------


def test_an_import_asks_for_as_many_pages_at_once_as_the_store_allows_and_no_more(woo):
    # given a shop of 1,000 orders (10 pages) answering in 0.2 s, able to serve 8 requests at once
    woo.add_orders([order_payload(i) for i in range(1, 1001)])
    woo.delay, woo.workers = 0.2, 8
    store = make_store(woo, concurrency=3)

    # when
    run = run_all(store, client_for(woo))

    # then three requests were in flight at once, never more, and every order is stored
    assert woo.max_in_flight == 3
    assert (run.state, run.pages_done, run.pages_total, run.created) == (RunState.DONE, 10, 10, 1000)
    assert stored_ids(store) == list(range(1, 1001))
    # page 1 alone (its X-WP-TotalPages says how many follow), then the nine others three at a time
    assert pages_asked(woo)[0] == 1 and sorted(pages_asked(woo)) == list(range(1, 11))


def test_one_page_at_a_time_when_the_store_says_so(woo):
    woo.add_orders([order_payload(i) for i in range(1, 401)])
    woo.delay = 0.05
    store = make_store(woo, concurrency=1)

    run = run_all(store, client_for(woo))

    assert (run.state, run.created) == (RunState.DONE, 400)
    assert woo.max_in_flight == 1
    assert pages_asked(woo) == [1, 2, 3, 4]


# -- order of the commits ---------------------------------------------------------------------------------------


class SlowPageTwo(WooClient):
    """Page 2 comes back last: pages 3-5 are ready before it."""

    def order_page(self, params, number, **kwargs):
        if number == 2:
            time.sleep(0.6)
        return super().order_page(params, number, **kwargs)


def test_pages_answered_out_of_order_are_committed_and_counted_in_page_order(woo, monkeypatch):
    # given 500 orders, page 2 answered after pages 3, 4 and 5
    woo.add_orders([order_payload(i) for i in range(1, 501)])
    store = make_store(woo, concurrency=4)
    committed, original = [], imports.orders_upsert

    def upsert(**kwargs):
        result = original(**kwargs)
        first = kwargs["payloads"][0]["id"]
        transaction.on_commit(lambda: committed.append(first))  # this page's own transaction (its writer's)
        return result

    monkeypatch.setattr(imports, "orders_upsert", upsert)
    progress = []

    # when
    run = run_all(store, client_for(woo, SlowPageTwo), progress=lambda run, _: progress.append(run.pages_done))

    # then the pages were committed, and counted, 1 to 5
    assert committed == [1, 101, 201, 301, 401]
    assert progress == [1, 2, 3, 4, 5]
    assert (run.state, run.created, run.last_woo_id) == (RunState.DONE, 500, 500)


# -- a page that fails, and resuming -------------------------------------------------------------------------------


def test_a_page_failing_for_good_stops_the_import_there_and_nothing_after_it_is_written(woo, caplog):
    # given 500 orders, page 3 answering 500 to every attempt (1 + 2 retries), pages 4 and 5 fine
    woo.add_orders([order_payload(i) for i in range(1, 501)])
    woo.fail_page(3, 3, status=500, body=HTML_500)
    store = make_store(woo, concurrency=4)

    # when
    with caplog.at_level(logging.WARNING, logger="fulfillment"):
        run = run_all(store, client_for(woo))

    # then pages 1 and 2 are written and counted, nothing of pages 3-5, and the reason names the page
    error = f"GET orders: HTTP 500, the answer is not JSON (an error page?): {HTML_500}"
    assert (run.state, run.pages_done, run.pages_total, run.orders_seen, run.created, run.last_woo_id) == (
        RunState.FAILED, 2, 5, 200, 200, 200)
    assert run.error == f"Stopped at page 3: {error}"
    assert stored_ids(store) == list(range(1, 201))
    assert f"import {run.pk} of store woo stopped at page 3 (2 pages written): {error}" in caplog.messages
    assert [m for m in caplog.messages if m.startswith("WooCommerce")] == [
        f"WooCommerce {client_for(woo).host}: page 3: {error}; retry {n}/2 in 0.0 s" for n in (1, 2)]


def test_a_resumed_import_starts_after_the_last_page_it_wrote(woo):
    # given an import that stopped at page 3 of 5
    woo.add_orders([order_payload(i) for i in range(1, 501)])
    woo.fail_page(3, 3, status=500, body=HTML_500)
    store = make_store(woo, concurrency=4)
    client = client_for(woo)
    run = run_all(store, client)
    assert (run.state, run.pages_done) == (RunState.FAILED, 2)
    woo.requests.clear()

    # when it is resumed once the shop answers again
    run = import_run_execute(run=import_run_resume(run=run, queue=False), client=client)

    # then it read page 2 again to check nothing moved, then pages 3-5; pages 1 and 2 were not written again
    assert pages_asked(woo)[0] == 2 and sorted(pages_asked(woo)[1:]) == [3, 4, 5]
    assert counters(run) == {"state": RunState.DONE, "error": "", "pages_done": 5, "pages_total": 5,
                             "orders_seen": 500, "created": 500, "updated": 0, "unchanged": 0, "last_woo_id": 500}
    assert stored_ids(store) == list(range(1, 501))


def test_a_resumed_import_starts_earlier_when_orders_were_deleted_meanwhile(woo):
    # given an import that wrote pages 1-2 (orders 1-200) and stopped at page 3
    woo.add_orders([order_payload(i) for i in range(1, 501)])
    woo.fail_page(3, 3, status=500, body=HTML_500)
    store = make_store(woo, concurrency=4)
    client = client_for(woo)
    run = run_all(store, client)
    # and 150 orders of the first pages deleted in the shop since: orders 201-350 are now on pages 1-2
    for woo_id in range(1, 151):
        del woo.orders[woo_id]
    woo.requests.clear()

    # when it is resumed
    run = import_run_execute(run=import_run_resume(run=run, queue=False), client=client)

    # then it went back to page 1 (pages 2 and 1 end beyond order 200) and missed none of 201-500
    assert pages_asked(woo)[:2] == [2, 1]
    assert run.state == RunState.DONE
    assert stored_ids(store) == list(range(1, 501))
    assert (run.created, run.pages_done, run.pages_total) == (500, 4, 4)


def counters(run):
    return {name: getattr(run, name) for name in ("state", "error", "pages_done", "pages_total", "orders_seen",
                                                  "created", "updated", "unchanged", "last_woo_id")}


def test_only_a_failed_import_can_be_resumed(woo):
    store = make_store(woo)
    run = import_run_create(store=store, mode=ImportMode.ALL)

    with pytest.raises(ImportRequestError) as error:
        import_run_resume(run=run)

    assert str(error.value) == f"Only a failed import can be resumed; import {run.pk} is Queued."
    run.refresh_from_db()
    assert run.state == RunState.QUEUED


def test_the_command_resumes_a_failed_import(woo):
    woo.add_orders([order_payload(i) for i in range(1, 301)])
    store = make_store(woo)
    run = import_run_create(store=store, mode=ImportMode.ALL)
    ImportRun.objects.filter(pk=run.pk).update(state=RunState.FAILED, error="Stopped at page 2: down",
                                               pages_done=1, pages_total=3, orders_seen=100, created=100,
                                               last_woo_id=100)
    out = StringIO()

    call_command("import_orders", "woo", "--resume", str(run.pk), stdout=out)

    # its counters carry on from where it stopped; page 1 was read only to check that the pages had not moved
    assert out.getvalue() == "Done: 300 orders in 3 pages — 300 created, 0 updated, 0 unchanged, 0 failed\n"
    assert stored_ids(store) == list(range(101, 301))
    run.refresh_from_db()
    assert (run.state, run.error, run.finished_at is not None) == (RunState.DONE, "", True)


def test_the_admin_resumes_the_selected_failed_imports(woo, admin_client, django_capture_on_commit_callbacks):
    store = make_store(woo)
    failed = import_run_create(store=store, mode=ImportMode.ALL)
    ImportRun.objects.filter(pk=failed.pk).update(state=RunState.FAILED, error="Stopped at page 1: down")
    done = import_run_create(store=store, mode=ImportMode.ALL)
    ImportRun.objects.filter(pk=done.pk).update(state=RunState.DONE)
    woo.add_orders([order_payload(1)])

    with django_capture_on_commit_callbacks(execute=True):
        response = admin_client.post(reverse("admin:fulfillment_importrun_changelist"), {
            "action": "resume_selected", "_selected_action": [failed.pk, done.pk]}, follow=True)

    html = response.content.decode()
    assert "1 import queued again." in html
    assert f"Only a failed import can be resumed; import {done.pk} is Done." in html
    failed.refresh_from_db()
    assert (failed.state, failed.error, failed.created) == (RunState.DONE, "", 1)


# -- throttling ----------------------------------------------------------------------------------------------------


def test_429s_slow_the_import_down_honour_retry_after_and_it_succeeds(woo, caplog):
    # given a host letting 2 requests through at once and answering the others 429, Retry-After 1 s
    woo.add_orders([order_payload(i) for i in range(1, 801)])
    woo.delay, woo.throttle_above, woo.throttle_retry_after = 0.1, 2, "1"
    store = make_store(woo, concurrency=4)

    # when
    with caplog.at_level(logging.WARNING, logger="fulfillment.woocommerce"):
        run = run_all(store, client_for(woo))

    # then every order is imported
    assert (run.state, run.created, run.failed) == (RunState.DONE, 800, 0)
    assert stored_ids(store) == list(range(1, 801))
    # the first 429s (4 asked at once, 2 let through) halved the requests in flight, once for that round
    assert woo.throttled
    throttled_logs = [m for m in caplog.messages if "429" in m]
    assert "2 request(s) at once from now" in throttled_logs[0]
    # nothing was sent in the second after the first 429 (but the requests sent at the same time as it)
    first = woo.throttled[0]
    assert [t for t in woo.arrivals if first + 0.3 < t < first + 0.95] == []
    assert len(woo.throttled) < 8  # it did not keep hammering the host


def test_a_503_with_retry_after_is_waited_for_and_the_page_asked_again(woo):
    # given page 2 answered 503 (maintenance mode) with Retry-After 1 twice
    woo.add_orders([order_payload(i) for i in range(1, 301)])
    woo.fail_page(2, 2, status=503, headers={"Retry-After": "1"})
    store = make_store(woo, concurrency=2)

    # when
    started = time.monotonic()
    run = run_all(store, client_for(woo))

    # then it waited a second each time and carried on
    assert time.monotonic() - started >= 2
    assert (run.state, run.created) == (RunState.DONE, 300)
    assert [left for _, left, _ in woo.conditional_failures] == [0]


def test_a_retry_after_given_as_an_http_date_is_honoured(woo):
    woo.add_orders([order_payload(1)])
    when = timezone.now() + timedelta(seconds=2)
    woo.fail_next(1, status=429, body={"code": "too_many_requests", "message": "Slow down", "data": {"status": 429}},
                  headers={"Retry-After": when.strftime("%a, %d %b %Y %H:%M:%S GMT")})
    client = client_for(woo)

    started = time.monotonic()
    pages = list(OrderPages(client, {"orderby": "id"}, concurrency=2))

    assert [len(p.items) for p in pages] == [1]
    assert time.monotonic() - started >= 0.9  # the date is to the second


def test_throttled_for_longer_than_it_waits_fails_at_that_page(woo, settings):
    settings.WOO_MAX_THROTTLE_RETRIES = 2
    woo.add_orders([order_payload(i) for i in range(1, 201)])
    woo.fail_page(1, 3, status=429, body='{"code": "too_many", "message": "Slow down", "data": {"status": 429}}',
                  content_type="application/json", headers={"Retry-After": "0"})
    store = make_store(woo)

    run = run_all(store, client_for(woo))

    assert (run.state, run.pages_done, run.error) == (
        RunState.FAILED, 0, "Stopped at page 1: GET orders: HTTP 429 too_many: Slow down")
    assert Order.objects.count() == 0


# -- paging without the headers ------------------------------------------------------------------------------------


def test_pages_without_paging_headers_are_asked_ahead_until_one_is_not_full(woo):
    # given a host that drops X-WP-Total(Pages): 300 orders, so page 4 is past the end (WordPress answers 400)
    woo.add_orders([order_payload(i) for i in range(1, 301)])
    woo.hide_paging_headers = True
    pages = OrderPages(client_for(woo), {"orderby": "id", "order": "asc"}, concurrency=3)

    got = list(pages)

    assert [(p.number, len(p.items), p.total_pages) for p in got] == [(1, 100, None), (2, 100, None), (3, 100, None)]
    assert pages.max_in_flight <= 3
    assert 4 in pages_asked(woo)  # asked ahead; past the end, it ends the listing


# -- the reconcile -------------------------------------------------------------------------------------------------


def test_the_reconcile_reads_its_pages_several_at_once_and_moves_the_watermark(woo):
    # given 350 orders changed since the last sync, in a shop answering in 0.1 s
    store = make_store(woo, concurrency=3)
    now = timezone.now().replace(microsecond=0)
    Store.objects.filter(pk=store.pk).update(sync_watermark=now - timedelta(minutes=10))
    store.refresh_from_db()
    woo.add_orders([order_payload(i, created=now - timedelta(minutes=5), modified=now - timedelta(minutes=1))
                    for i in range(1, 351)])
    woo.delay = 0.1

    # when
    outcome = store_sync(store=store, now=now)

    # then: four pages of live orders read three at a time, one (empty) page of the trash, all mirrored, and the
    # window's count did not change, so the watermark moved
    assert (outcome.error, outcome.requests, len(outcome.result.created)) == ("", 5, 350)
    assert woo.max_in_flight == 3
    assert outcome.watermark_moved is True
    assert stored_ids(store) == list(range(1, 351))
