from django.core.cache import cache

from fulfillment.selectors import status_counts, status_counts_refresh
from tests.factories import OrderFactory, StoreFactory


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
    with django_assert_num_queries(1):
        assert status_counts() == {"completed": 1}
    with django_assert_num_queries(0):
        assert status_counts() == {"completed": 1}
