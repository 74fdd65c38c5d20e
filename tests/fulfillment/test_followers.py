"""The order followers seam: every path tells it what changed, in order, inside its transaction; failures by rule."""

from datetime import timedelta
from decimal import Decimal

import pytest
from django.db import transaction
from django.utils import timezone

from fulfillment import followers
from fulfillment.choices import EventSource, OrderStatus
from fulfillment.followers import Changed, OnFailure, OrderChange, followers_retry_due, orders_changed
from fulfillment.models import FollowerRetry, Order, OrderEvent, StorePush
from fulfillment.services.mirror import order_mark_trashed, orders_upsert
from fulfillment.services.orders import order_change_status, order_update_shipping_address
from fulfillment.services.refunds import order_refund
from tests.factories import OrderFactory, OrderLineFactory
from tests.woo_payloads import order_payload

ALL = set(Changed)


@pytest.fixture
def heard():
    """A follower that records every batch it is given (registered for the test only)."""
    batches = []
    followers.register("test-recorder", lambda changes: batches.append(changes), position=99,
                       on_failure=OnFailure.ROLLBACK, wants=ALL)
    yield batches
    followers._followers.pop("test-recorder")


@pytest.fixture
def failing():
    """Register a follower that raises, under a rule; removed after the test."""
    names = []

    def register(name, rule, position=50, wants=ALL):
        def follow(changes):
            raise RuntimeError(f"{name} is broken")

        followers.register(name, follow, position=position, on_failure=rule, wants=wants)
        names.append(name)

    yield register
    for name in names:
        followers._followers.pop(name)


def what(batches):
    return [(c.order_id, sorted(c.what), c.status_before, c.status_after) for b in batches for c in b.changes]


def test_the_registered_followers_run_in_their_stated_order():
    # The apps register theirs in ready(): the countdown, the projects, the accounting export, the reservations,
    # the invoices.
    assert [(f.name, f.position, f.on_failure) for f in followers.followers()] == [
        ("countdown", 10, OnFailure.ROLLBACK),
        ("projects", 20, OnFailure.RETRY),
        ("accounting-exports", 30, OnFailure.RETRY),
        ("reservations", 40, OnFailure.RETRY),
        ("invoices", 50, OnFailure.RETRY),
    ]


def test_a_follower_gets_only_the_changes_it_wants(db):
    seen = []
    followers.register("test-status-only", lambda changes: seen.append(changes), position=5,
                       on_failure=OnFailure.ROLLBACK, wants={Changed.STATUS})
    try:
        one, two = OrderFactory(), OrderFactory()
        with transaction.atomic():
            orders_changed([OrderChange(one.pk, frozenset({Changed.ADDRESS}), "processing", "processing"),
                            OrderChange(two.pk, frozenset({Changed.STATUS}), "processing", "on-hold")],
                           source=EventSource.STAFF)
            orders_changed([OrderChange(one.pk, frozenset({Changed.ADDRESS}), "processing", "processing")],
                           source=EventSource.STAFF)
    finally:
        followers._followers.pop("test-status-only")
    assert [(b.source, [c.order_id for c in b.changes]) for b in seen] == [("staff", [two.pk])]


def test_the_seam_refuses_to_be_called_outside_a_transaction(transactional_db):
    order = OrderFactory()
    with pytest.raises(RuntimeError, match="inside the transaction"):
        orders_changed([OrderChange(order.pk, frozenset({Changed.STATUS}), "pending", "processing")],
                       source=EventSource.STAFF)


def test_a_staff_status_change_is_followed_with_who_and_what(db, heard, ops):
    order = OrderFactory(status="processing")
    order_change_status(order=order, status=OrderStatus.ON_HOLD, user=ops)
    assert what(heard) == [(order.pk, ["status"], "processing", "on-hold")]
    assert heard[0].source == "staff" and heard[0].user_id == ops.pk


def test_an_address_correction_is_followed(db, heard, support):
    order = OrderFactory()
    order_update_shipping_address(order=order, address={**order.shipping, "city": "Graz", "postcode": "8010"},
                                  user=support)
    assert what(heard) == [(order.pk, ["address"], "processing", "processing")]


def test_a_partial_refund_is_followed_with_its_refund_and_a_full_one_with_the_status_too(db, heard, finance):
    order = OrderFactory(total=Decimal("20.00"))
    OrderLineFactory(order=order, woo_line_id=1, quantity=2, total=Decimal("20.00"))
    part = order_refund(order=order, amounts={1: "5.00"}, quantities={}, reason="", restock=False, user=finance)
    rest = order_refund(order=order, amounts={1: "15.00"}, quantities={}, reason="", restock=False, user=finance)
    assert what(heard) == [(order.pk, ["refund"], "processing", "processing"),
                           (order.pk, ["refund", "status"], "processing", "refunded")]
    assert [b.refund_ids() for b in heard] == [[part.pk], [rest.pk]]


def test_the_mirror_tells_arrivals_updates_status_trash_and_refunds_in_one_call_per_batch(woo_store, heard):
    # An arrival
    orders_upsert(store=woo_store, payloads=[order_payload(17, status="pending")], source=EventSource.WEBHOOK)
    order = Order.objects.get(woo_id=17)
    # a new version with another status and a refund made in WooCommerce, and one that is only newer
    later = timezone.now().replace(microsecond=0)
    orders_upsert(store=woo_store, payloads=[
        order_payload(17, status="processing", modified=later, refunds=[{"id": 900, "reason": "", "total": "-1.00"}]),
        order_payload(18, status="processing")], source=EventSource.RECONCILE)
    # then the shop trashes it, and restores it
    order_mark_trashed(store=woo_store, woo_id=17, source=EventSource.WEBHOOK)
    orders_upsert(store=woo_store, payloads=[order_payload(17, status="processing", modified=later)],
                  source=EventSource.WEBHOOK, read_at=timezone.now() + timedelta(seconds=1))

    other = Order.objects.get(woo_id=18)
    assert [b.source for b in heard] == ["webhook", "reconcile", "webhook", "webhook"]
    assert what(heard) == [
        (order.pk, ["arrived"], None, "pending"),
        (order.pk, ["refund", "status", "updated"], "pending", "processing"),
        (other.pk, ["arrived"], None, "processing"),
        (order.pk, ["trashed"], "processing", "processing"),
        (order.pk, ["restored", "updated"], "processing", "processing"),
    ]
    assert heard[1].refund_ids() == list(order.refunds.values_list("pk", flat=True))


def test_an_unchanged_version_is_not_followed(woo_store, heard):
    orders_upsert(store=woo_store, payloads=[order_payload(17)], source=EventSource.WEBHOOK)
    orders_upsert(store=woo_store, payloads=[order_payload(17)], source=EventSource.WEBHOOK)
    assert len(heard) == 1


def test_a_rollback_follower_failing_rolls_the_change_back(db, failing, ops):
    failing("test-broken-state", OnFailure.ROLLBACK)
    order = OrderFactory(status="processing")

    with pytest.raises(RuntimeError, match="test-broken-state is broken"):
        order_change_status(order=order, status=OrderStatus.ON_HOLD, user=ops)

    order.refresh_from_db()
    assert order.status == "processing"
    assert not OrderEvent.objects.filter(order=order).exists()
    assert not FollowerRetry.objects.exists()


def test_a_retry_follower_failing_is_recorded_and_the_change_and_the_others_stand(db, failing, ops, heard,
                                                                                  django_capture_on_commit_callbacks):
    # Given a broken follower between the projects and the accounting export (both retried on failure)
    failing("test-broken-retry", OnFailure.RETRY, position=25)
    order = OrderFactory(status="processing")

    with django_capture_on_commit_callbacks() as callbacks:
        order_change_status(order=order, status=OrderStatus.ON_HOLD, user=ops)

    # Then the status change stands, the followers after it ran, and the failure waits to be retried
    order.refresh_from_db()
    assert order.status == "on-hold"
    assert what(heard) == [(order.pk, ["status"], "processing", "on-hold")]
    retry = FollowerRetry.objects.get()
    assert (retry.follower, retry.source, retry.user_id, retry.attempts) == ("test-broken-retry", "staff", ops.pk, 1)
    assert retry.changes == [{"order_id": order.pk, "what": ["status"], "status_before": "processing",
                              "status_after": "on-hold", "refund_ids": []}]
    assert retry.error == "RuntimeError: test-broken-retry is broken"
    assert timedelta(seconds=59) < retry.next_attempt_at - timezone.now() < timedelta(seconds=67)
    # and the push to WooCommerce is written with the change, its dispatch queued after the commit
    assert list(StorePush.objects.filter(order=order).values_list("kind", "state")) == [("status", "pending")]
    assert len(callbacks) == 1


def test_a_recorded_failure_is_run_again_until_it_succeeds(db, ops):
    order = OrderFactory(status="on-hold")
    calls = []
    outcomes = [RuntimeError("still broken"), None]

    def follow(changes):
        calls.append([c.order_id for c in changes.changes])
        outcome = outcomes.pop(0)
        if outcome:
            raise outcome

    followers.register("test-flaky", follow, position=50, on_failure=OnFailure.RETRY, wants=ALL)
    try:
        FollowerRetry.objects.create(
            follower="test-flaky", source="staff", user=ops, next_attempt_at=timezone.now() - timedelta(seconds=1),
            changes=[OrderChange(order.pk, frozenset({Changed.STATUS}), "processing", "on-hold").as_json()])

        assert followers_retry_due() == (0, 1)
        retry = FollowerRetry.objects.get()
        assert (retry.attempts, retry.error) == (2, "RuntimeError: still broken")
        assert retry.next_attempt_at > timezone.now() + timedelta(seconds=110)  # 2 min after a second failure
        assert followers_retry_due() == (0, 0)  # not due yet

        assert followers_retry_due(now=retry.next_attempt_at + timedelta(seconds=1)) == (1, 0)
    finally:
        followers._followers.pop("test-flaky")
    assert calls == [[order.pk], [order.pk]]
    assert not FollowerRetry.objects.exists()


def test_a_retry_of_a_follower_no_longer_registered_says_so(db):
    FollowerRetry.objects.create(follower="gone", source="staff", changes=[], next_attempt_at=timezone.now())
    assert followers_retry_due(now=timezone.now() + timedelta(seconds=1)) == (0, 1)
    assert FollowerRetry.objects.get().error == "LookupError: no follower named 'gone' is registered any more"


def test_the_accounting_export_follower_failing_does_not_hold_up_a_webhook(woo_store, monkeypatch):
    # Given the export's follower broken (a bug, a lost connection)
    def broken(**kwargs):
        raise RuntimeError("exports down")

    monkeypatch.setattr("accounting.services.exports.exports_follow_orders", broken)

    # When an order arrives by webhook
    orders_upsert(store=woo_store, payloads=[order_payload(17)], source=EventSource.WEBHOOK)

    # Then it is mirrored, and the export waits for its retry
    assert Order.objects.filter(woo_id=17).exists()
    assert FollowerRetry.objects.get().follower == "accounting-exports"
