"""fulfillment.bulk (batch upserts as one JSON document on PostgreSQL, the ORM elsewhere) and the import's
prefetching of pages."""

import threading
from datetime import UTC, datetime
from decimal import Decimal

import pytest
from django.db import DataError

from fulfillment import bulk
from fulfillment.models import Order, OrderEvent, WebhookDelivery
from fulfillment.services.imports import prefetched
from fulfillment.services.mirror import MIRROR_FIELDS

CREATED = datetime(2026, 11, 2, 9, 30, 15, 123456, tzinfo=UTC)


def order_row(store, woo_id, **changes):
    row = {"store_id": store.pk, "woo_id": woo_id, "number": f"N{woo_id}", "status": "processing",
           "created_at": CREATED, "modified_at": CREATED, "currency": "EUR", "total": Decimal("12.3400"),
           "customer_name": "Zoë Ünal “quoted” \\ back\\slash", "billing": {"city": "Köln", "n": [1, 2.5, None]},
           "raw": {"id": woo_id, "nested": {"a": "b\"c"}}, "prices_include_tax": True}
    row.update(changes)
    return row


def test_upsert_inserts_with_defaults_and_returns_what_is_asked(store):
    # when two orders are written, one column left out of each (its default applies)
    written = bulk.upsert(Order, [order_row(store, 1), order_row(store, 2, total=Decimal("0.0001"))],
                          unique_fields=["store", "woo_id"], update_fields=MIRROR_FIELDS, returning=["woo_id", "id"])

    # then both exist, ids as the database gave them, every type intact
    ids = dict(written)
    assert sorted(ids) == [1, 2]
    first = Order.objects.get(pk=ids[1])
    assert (first.number, first.status, first.total, first.currency) == ("N1", "processing", Decimal("12.3400"), "EUR")
    assert first.created_at == CREATED and first.prices_include_tax is True
    assert first.customer_name == "Zoë Ünal “quoted” \\ back\\slash"
    assert first.billing == {"city": "Köln", "n": [1, 2.5, None]}
    assert first.raw == {"id": 1, "nested": {"a": "b\"c"}}
    assert (first.submit_status, first.submit_error, first.countdown_due_at, first.item_count) == ("", "", None, 0)
    assert first.mirrored_at is not None
    assert Order.objects.get(pk=ids[2]).total == Decimal("0.0001")


def test_upsert_updates_only_the_fields_named_on_a_conflict(store):
    # given an order with a local field set
    (_, pk), = bulk.upsert(Order, [order_row(store, 1)], unique_fields=["store", "woo_id"],
                           update_fields=MIRROR_FIELDS, returning=["woo_id", "id"])
    Order.objects.filter(pk=pk).update(submit_error="kept", mirrored_at=datetime(2020, 1, 1, tzinfo=UTC))

    # when the same order is written again with other values, the local field among them
    again = bulk.upsert(Order, [order_row(store, 1, status="completed", submit_error="overwritten?")],
                        unique_fields=["store", "woo_id"], update_fields=MIRROR_FIELDS, returning=["woo_id", "id"])

    # then it is the same row, its mirrored fields and auto_now field changed, the local one not
    assert again == [(1, pk)]
    order = Order.objects.get()
    assert (order.status, order.submit_error) == ("completed", "kept")
    assert order.mirrored_at.year == 2026


def test_plain_insert_without_returning(store):
    order = Order.objects.create(store=store, woo_id=5, number="5", status="x", created_at=CREATED,
                                 modified_at=CREATED, currency="EUR")
    assert bulk.upsert(OrderEvent, [{"order_id": order.pk, "type": "created", "data": {"k": "v"}}]) == []
    event = OrderEvent.objects.get()
    assert (event.type, event.source, event.data, event.message) == ("created", "system", {"k": "v"}, "")
    assert event.created_at is not None


def test_nothing_to_write_sends_no_query(store, django_assert_num_queries):
    with django_assert_num_queries(0):
        assert bulk.upsert(Order, [], unique_fields=["store", "woo_id"], returning=["id"]) == []


@pytest.mark.postgres  # the NUL check guards PostgreSQL's JSON path; SQLite stores NUL
def test_a_nul_character_is_refused_with_a_clear_reason(store):
    with pytest.raises(DataError, match=r"cannot contain NUL \(0x00\) bytes"):
        bulk.upsert(Order, [order_row(store, 1, customer_note="Gift\x00wrap")], unique_fields=["store", "woo_id"],
                    update_fields=MIRROR_FIELDS)
    # an escaped backslash followed by the letters u0000 is ordinary text
    bulk.upsert(Order, [order_row(store, 2, customer_note="C:\\u0000")], unique_fields=["store", "woo_id"],
                update_fields=MIRROR_FIELDS)
    assert Order.objects.get().customer_note == "C:\\u0000"


def test_insert_unless_exists_gives_the_new_id_then_none(store):
    row = {"store_id": store.pk, "topic": "order.updated", "body": "{}", "body_sha256": "a" * 64}
    first = bulk.insert_unless_exists(WebhookDelivery, row, unique_fields=["store", "topic", "body_sha256"])
    second = bulk.insert_unless_exists(WebhookDelivery, row, unique_fields=["store", "topic", "body_sha256"])
    assert first == WebhookDelivery.objects.get().pk
    assert second is None
    assert WebhookDelivery.objects.get().received_at is not None


# -- prefetched ----------------------------------------------------------------------------------------------------

def test_prefetched_yields_every_page_in_order_prepared_in_another_thread():
    threads = []

    def prepare(page):
        threads.append(threading.current_thread().name)
        return page * 10

    assert list(prefetched(iter(range(5)), prepare)) == [(0, 0), (1, 10), (2, 20), (3, 30), (4, 40)]
    assert set(threads) == {"import-prefetch"}


def test_prefetched_raises_a_fetch_error_after_the_pages_before_it():
    def pages():
        yield 1
        yield 2
        raise ConnectionError("shop down")

    got = []
    with pytest.raises(ConnectionError, match="shop down"):
        for page, _ in prefetched(pages(), lambda page: None):
            got.append(page)
    assert got == [1, 2]


def test_prefetched_stops_fetching_when_the_caller_stops():
    fetched = []
    closed = threading.Event()

    def pages():
        try:
            for n in range(1000):
                fetched.append(n)
                yield n
        finally:
            closed.set()

    for page, _ in prefetched(pages(), lambda page: None, ahead=2):
        if page == 3:
            break
    assert closed.wait(5)
    assert len(fetched) <= 3 + 1 + 2 + 1  # what was yielded, the queue, and the one page in the thread's hands


def test_an_encoded_value_is_written_from_the_json_text_it_carries(store):
    # given a raw document the caller has already serialised (the mirror's hashed text), beside ordinary values
    raw = {"id": 1, "name": "Zoë “quoted”", "lines": [{"price": 9.5}], "empty": {}}
    text = '{"empty":{},"id":1,"lines":[{"price":9.5}],"name":"Zo\\u00eb \\u201cquoted\\u201d"}'

    # when it is upserted, then upserted again changed
    (_, pk), = bulk.upsert(Order, [order_row(store, 1, raw=bulk.Encoded(raw, text))], unique_fields=["store", "woo_id"],
                           update_fields=MIRROR_FIELDS, returning=["woo_id", "id"])
    changed = {**raw, "name": "Zoë"}
    changed_text = '{"empty":{},"id":1,"lines":[{"price":9.5}],"name":"Zoë"}'
    bulk.upsert(Order, [order_row(store, 1, raw=bulk.Encoded(changed, changed_text), status="completed"),
                        order_row(store, 2, raw=bulk.Encoded({"id": 2}, '{"id":2}'))],
                unique_fields=["store", "woo_id"], update_fields=MIRROR_FIELDS)

    # then the stored documents are the values, and the other columns are as given
    first = Order.objects.get(pk=pk)
    assert first.raw == changed and first.status == "completed"
    assert first.customer_name == "Zoë Ünal “quoted” \\ back\\slash"
    assert Order.objects.get(woo_id=2).raw == {"id": 2}


def test_update_unless_newer_leaves_a_newer_stored_row_alone_and_does_not_return_it(store):
    later = datetime(2026, 11, 2, 10, 0, tzinfo=UTC)
    bulk.upsert(Order, [order_row(store, 1, modified_at=later, status="completed"),
                        order_row(store, 2, status="processing")],
                unique_fields=["store", "woo_id"], update_fields=MIRROR_FIELDS)

    # when an older version of order 1, the same version of order 2 and a new order 3 are written
    written = bulk.upsert(Order, [order_row(store, 1, status="on-hold"), order_row(store, 2, status="on-hold"),
                                  order_row(store, 3)],
                          unique_fields=["store", "woo_id"], update_fields=MIRROR_FIELDS, returning=["woo_id", "id"],
                          update_unless_newer="modified_at")

    # then order 1 keeps its newer version and is not among the rows written; 2 (as new as stored) and 3 are
    assert sorted(woo_id for woo_id, _ in written) == [2, 3]
    assert dict(Order.objects.values_list("woo_id", "status")) == {1: "completed", 2: "on-hold", 3: "processing"}
    assert Order.objects.get(woo_id=1).modified_at == later
