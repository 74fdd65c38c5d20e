"""Pages written side by side on PostgreSQL (imports.written), and two writers of the same new order at once."""

import threading
import time
from datetime import UTC, datetime, timedelta

import pytest
from django.db import transaction

from fulfillment import bulk
from fulfillment.choices import EventSource, ImportMode, RunState
from fulfillment.integrations.woocommerce.client import WooClient
from fulfillment.models import Order, OrderEvent, OrderLine
from fulfillment.services import imports
from fulfillment.services.imports import import_run_create, import_run_execute, written
from fulfillment.services.mirror import orders_upsert
from tests.factories import OrderFactory, StoreFactory
from tests.woo_payloads import order_payload

T0 = datetime(2026, 11, 3, 8, 0, tzinfo=UTC)


def test_pages_are_written_in_order_on_the_callers_connection_inside_its_transaction(db):
    # pytest-django's db fixture is a transaction: other connections would not see its rows
    threads = []

    def write(page):
        threads.append(threading.current_thread().name)
        return page * 10

    assert list(written(iter(range(4)), write, writers=2)) == [(0, 0), (1, 10), (2, 20), (3, 30)]
    assert set(threads) == {threading.current_thread().name}


@pytest.mark.postgres
@pytest.mark.django_db(transaction=True)
def test_pages_are_written_by_several_threads_and_yielded_in_order():
    threads, lock = set(), threading.Lock()

    def write(page):
        with lock:
            threads.add(threading.current_thread().name)
        return page * 10

    assert list(written(iter(range(7)), write, writers=2)) == [(n, n * 10) for n in range(7)]
    assert threads == {"import-writer-0", "import-writer-1"}
    assert not [t for t in threading.enumerate() if t.name.startswith("import-writer")]


@pytest.mark.postgres
@pytest.mark.django_db(transaction=True)
def test_a_failing_page_is_raised_after_the_pages_before_it_and_the_page_written_beside_it_is_rolled_back():
    # given pages that each write a row (an order), page 2 failing after page 3 was written beside it
    store = StoreFactory()
    started, lock, page_3_written = [], threading.Lock(), threading.Event()

    def write(page):
        with lock:
            started.append(page)
        OrderFactory(store=store, woo_id=page + 1)
        if page == 3:
            page_3_written.set()
        if page == 2:
            assert page_3_written.wait(10)
            raise ValueError("page 2 refused")
        return page

    got = []
    with pytest.raises(ValueError, match="page 2 refused"):
        for page, result in written(iter(range(10)), write, writers=2):
            got.append(result)

    # then pages 0 and 1 are counted and committed; page 3, written beside page 2, was rolled back with it, and
    # nothing later was started
    assert got == [0, 1]
    assert sorted(started) == [0, 1, 2, 3]
    assert sorted(Order.objects.filter(store=store).values_list("woo_id", flat=True)) == [1, 2]


@pytest.mark.postgres
@pytest.mark.django_db(transaction=True)
def test_pages_commit_in_page_order_even_when_a_later_one_is_ready_first():
    # given page 0 slow to write and page 1 quick, each recording when it committed
    store = StoreFactory()
    committed = []

    def write(page):
        if page == 0:
            time.sleep(0.5)
        OrderFactory(store=store, woo_id=page + 1)
        transaction.on_commit(lambda: committed.append(page))  # on this writer's connection
        return page

    assert [result for _, result in written(iter(range(4)), write, writers=2)] == [0, 1, 2, 3]

    # then page 1, ready long before page 0, committed after it
    assert committed == [0, 1, 2, 3]


@pytest.mark.postgres
@pytest.mark.django_db(transaction=True)
def test_a_page_holding_a_row_the_page_before_needs_gives_way_and_is_written_again(monkeypatch):
    # given an order that moved from page 1 to page 0 while we paged: page 1 writes it first and holds its row,
    # page 0 then needs the same row, and page 1 may not commit before page 0
    from fulfillment.services import page_writers

    monkeypatch.setattr(page_writers, "COMMIT_TURN_WAIT_SECONDS", 0.5)
    store = StoreFactory()
    OrderFactory(store=store, woo_id=7, status="pending")
    page_1_holds_it, attempts = threading.Event(), []

    def write(page):
        attempts.append(page)
        if page == 0:
            assert page_1_holds_it.wait(10)
        order = Order.objects.select_for_update().get(store=store, woo_id=7)
        order.status = f"page-{page}"[:16]
        order.save(update_fields=["status"])
        if page == 1:
            page_1_holds_it.set()
        return page

    assert [result for _, result in written(iter(range(2)), write, writers=2)] == [0, 1]

    # then page 1 rolled back to let page 0 through, was written again after it, and its version is the last
    assert attempts.count(1) == 2
    assert Order.objects.get(store=store, woo_id=7).status == "page-1"


@pytest.mark.postgres
@pytest.mark.django_db(transaction=True)
def test_a_fetch_error_is_raised_after_the_pages_being_written():
    def pages():
        yield from (0, 1, 2)
        raise ConnectionError("shop down")

    got = []
    with pytest.raises(ConnectionError, match="shop down"):
        for page, result in written(pages(), lambda page: page, writers=2):
            got.append(page)
    assert got == [0, 1, 2]


@pytest.mark.postgres
@pytest.mark.django_db(transaction=True)
def test_an_import_on_postgresql_writes_its_pages_side_by_side_and_counts_every_order(woo):
    # given a shop with 450 orders (5 pages) and a store committed for the writers' connections to see
    store = StoreFactory(slug="woo", base_url=woo.url, consumer_key=woo.consumer_key,
                         consumer_secret=woo.consumer_secret)
    woo.orders = {n: order_payload(n) for n in range(1, 451)}
    client = WooClient(base_url=woo.url, consumer_key=woo.consumer_key, consumer_secret=woo.consumer_secret,
                       retry_base=0, max_retries=2, sleep=lambda seconds: None)
    writers_seen, original = set(), imports.orders_upsert

    def upsert(**kwargs):
        writers_seen.add(threading.current_thread().name)
        return original(**kwargs)

    imports.orders_upsert = upsert
    try:
        run = import_run_execute(run=import_run_create(store=store, mode=ImportMode.ALL), client=client)
        again = import_run_execute(run=import_run_create(store=store, mode=ImportMode.ALL), client=client)
    finally:
        imports.orders_upsert = original

    # then every order is stored once with its line and its event, and both runs counted every page
    assert writers_seen == {"import-writer-0", "import-writer-1"}
    assert (run.state, run.pages_done, run.orders_seen, run.created, run.updated, run.failed) == \
        (RunState.DONE, 5, 450, 450, 0, 0)
    assert (again.state, again.pages_done, again.unchanged, again.created) == (RunState.DONE, 5, 450, 0)
    assert sorted(Order.objects.filter(store=store).values_list("woo_id", flat=True)) == list(range(1, 451))
    assert OrderLine.objects.filter(order__store=store).count() == 450
    assert OrderEvent.objects.filter(order__store=store, type="created").count() == 450


def write_at_once(store, *, first, then):
    """Two transactions mirror the same new order at once: `first` = (name, payload) looks for it (not there yet)
    and waits while `then` = (name, payload) inserts and commits it; `first` then writes. Their results, by name."""
    (first_name, first_payload), (then_name, then_payload) = first, then
    looked_up, other_written = threading.Event(), threading.Event()
    original, results = bulk.upsert, {}

    def upsert(model, rows, **kwargs):
        if model is Order and threading.current_thread().name == first_name:
            looked_up.set()
            assert other_written.wait(10)
        return original(model, rows, **kwargs)

    def run(name, payload):
        try:
            results[name] = orders_upsert(store=store, payloads=[payload], source=EventSource.IMPORT)
        finally:
            from django.db import connection

            connection.close()

    bulk.upsert = upsert
    try:
        waiting = threading.Thread(target=run, args=(first_name, first_payload), name=first_name)
        waiting.start()
        assert looked_up.wait(10)
        run(then_name, then_payload)
        other_written.set()
        waiting.join(10)
    finally:
        bulk.upsert = original
    return results


@pytest.mark.postgres
@pytest.mark.django_db(transaction=True)
def test_an_older_copy_of_a_new_order_written_at_the_same_time_as_a_newer_one_does_not_win():
    # given a new order arriving twice at once: an import holding the 10:00 version, a webhook the 10:05 one
    store = StoreFactory()
    older = order_payload(7, status="processing", created=T0, modified=T0)
    newer = order_payload(7, status="completed", created=T0, modified=T0 + timedelta(minutes=5))

    # when the import looks for the order before the webhook writes and commits the newer version
    results = write_at_once(store, first=("import", older), then=("webhook", newer))

    # then the newer version stays, the import reports its copy as stale and wrote nothing of it
    order = Order.objects.get(store=store, woo_id=7)
    assert (order.status, order.modified_at) == ("completed", T0 + timedelta(minutes=5))
    assert results["webhook"].created == [7]
    assert (results["import"].created, results["import"].stale) == ([], [7])
    assert list(OrderEvent.objects.filter(order=order).values_list("type", flat=True)) == ["created"]


@pytest.mark.postgres
@pytest.mark.django_db(transaction=True)
def test_a_newer_copy_of_a_new_order_written_over_an_older_one_inserted_meanwhile_is_an_update():
    # given a new order arriving twice at once: the webhook with the 10:05 version (its line 992 replacing line
    # 991) looks for it first, the import then inserts and commits the 10:00 version
    from tests.woo_payloads import line_item

    store = StoreFactory()
    older = order_payload(7, status="processing", created=T0, modified=T0, line_items=[line_item(991)])
    newer = order_payload(7, status="completed", created=T0, modified=T0 + timedelta(minutes=5),
                          line_items=[line_item(992)])

    results = write_at_once(store, first=("webhook", newer), then=("import", older))

    # then the newer version is stored with its own lines only; the webhook counts an update, and the order's
    # creation is on the timeline once
    order = Order.objects.get(store=store, woo_id=7)
    assert (order.status, order.item_count) == ("completed", 1)
    assert list(order.lines.values_list("woo_line_id", flat=True)) == [992]
    assert (results["import"].created, results["webhook"].updated, results["webhook"].created) == ([7], [7], [])
    assert list(OrderEvent.objects.filter(order=order).values_list("type", flat=True)) == ["created"]
