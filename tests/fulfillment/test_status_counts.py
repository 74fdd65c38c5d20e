import pytest
from django.core.cache import cache
from django.db import connection

from fulfillment.selectors import EstimatedCounts, status_counts, status_counts_of_stores, status_counts_refresh
from tests.conftest import on_postgres
from tests.factories import OrderFactory, StoreFactory, UserFactory


def test_the_refresh_task_counts_every_store_so_requests_read_the_cache(db, django_assert_num_queries):
    # Given two stores with orders
    north, south = StoreFactory(slug="north"), StoreFactory(slug="south")
    OrderFactory.create_batch(2, store=north, status="processing")
    OrderFactory(store=south, status="on-hold")

    # When the every-minute task recounts
    assert status_counts_refresh() == 3

    # Then the list's tabs come from the cache, with no query
    with django_assert_num_queries(0):
        assert status_counts() == {"processing": 2, "on-hold": 1}
        assert status_counts(north.pk) == {"processing": 2}
        assert status_counts(south.pk) == {"on-hold": 1}


def test_without_the_task_the_first_request_counts_and_caches(db, django_assert_num_queries):
    OrderFactory(status="completed")
    cache.clear()
    # on PostgreSQL one more: the table's size from its statistics (a small table is counted, not estimated)
    with django_assert_num_queries(2 if on_postgres() else 1):
        assert status_counts() == {"completed": 1}
    with django_assert_num_queries(0):
        assert status_counts() == {"completed": 1}


def analysed_orders():
    north, south = StoreFactory(slug="north"), StoreFactory(slug="south")
    OrderFactory.create_batch(20, store=north, status="processing")
    OrderFactory.create_batch(8, store=north, status="completed")
    OrderFactory.create_batch(12, store=south, status="completed")
    with connection.cursor() as cursor:
        cursor.execute("ANALYZE fulfillment_order")
    cache.clear()
    return north, south


@pytest.mark.postgres
def test_a_large_table_without_cached_counts_shows_estimates_and_queues_the_exact_ones(
        db, settings, django_capture_on_commit_callbacks, django_assert_num_queries):
    # given a table "large" for the test, analysed, and no counts in the cache
    settings.STATUS_COUNTS_ESTIMATE_FROM = 10
    north, _south = analysed_orders()

    # when the list asks for its tabs (all stores, then one): a query of the statistics each, no count; the exact
    # counts are queued
    with django_capture_on_commit_callbacks() as queued, django_assert_num_queries(2):
        estimate = status_counts()
        store_estimate = status_counts(north.pk)

    # then the estimates come from the statistics (exact here: ANALYZE read every row)
    assert isinstance(estimate, EstimatedCounts)
    assert estimate == {"processing": 20, "completed": 20}
    assert store_estimate == {"processing": 14, "completed": 14}  # north's share of the table, spread evenly
    assert len(queued) == 1  # one refresh, whatever the number of requests meanwhile

    # when the queued refresh runs, the next requests read the exact counts from the cache
    queued[0]()
    with django_assert_num_queries(0):
        assert status_counts() == {"processing": 20, "completed": 20}
        assert not isinstance(status_counts(), EstimatedCounts)
        assert status_counts(north.pk) == {"processing": 20, "completed": 8}


@pytest.mark.postgres
def test_the_order_list_marks_estimated_tabs(client, db, settings):
    settings.STATUS_COUNTS_ESTIMATE_FROM = 10
    analysed_orders()
    client.force_login(UserFactory(username="boss", is_staff=True, is_superuser=True))

    response = client.get("/admin/fulfillment/order/")

    assert response.status_code == 200
    assert "≈ 40" in response.content.decode()  # "All"


def test_the_dashboard_reads_several_stores_counts_at_once_and_counts_only_the_missing(db,
                                                                                      django_assert_num_queries):
    # Given two stores, the task's counts of one in the cache and none of the other
    north, south = StoreFactory(slug="north"), StoreFactory(slug="south")
    OrderFactory.create_batch(2, store=north, status="processing")
    OrderFactory(store=south, status="on-hold")
    status_counts_refresh()
    cache.delete(f"order-status-counts:{south.pk}")
    OrderFactory(store=north, status="completed")  # after the count: north's cached figures stay as they were

    # When the dashboard asks for both: one query counts the missing store (PostgreSQL: and its statistics)
    with django_assert_num_queries(2 if on_postgres() else 1):
        counts = status_counts_of_stores([north.pk, south.pk])

    # Then north comes from the cache, south is counted and kept for the list's tabs
    assert counts == {north.pk: {"processing": 2}, south.pk: {"on-hold": 1}}
    with django_assert_num_queries(0):
        assert status_counts(south.pk) == {"on-hold": 1}
        assert status_counts_of_stores([north.pk, south.pk]) == counts


@pytest.mark.postgres
def test_the_dashboard_on_a_large_table_without_cached_counts_shows_estimates(
        db, settings, django_capture_on_commit_callbacks, django_assert_num_queries):
    # Given a table "large" for the test, analysed, and no counts in the cache
    settings.STATUS_COUNTS_ESTIMATE_FROM = 10
    north, south = analysed_orders()

    # When the dashboard asks for both stores: one query of the statistics, no count; the exact ones queued once
    with django_capture_on_commit_callbacks() as queued, django_assert_num_queries(1):
        counts = status_counts_of_stores([north.pk, south.pk])

    # Then each store's share of the table, spread over the statuses, marked as estimated
    assert counts == {north.pk: {"processing": 14, "completed": 14}, south.pk: {"processing": 6, "completed": 6}}
    assert all(isinstance(c, EstimatedCounts) for c in counts.values())
    assert len(queued) == 1
    queued[0]()
    with django_assert_num_queries(0):
        assert status_counts_of_stores([north.pk, south.pk]) == {
            north.pk: {"processing": 20, "completed": 8}, south.pk: {"completed": 12}}
