"""No delivery is lost: a broker that cannot take its task, a task lost on the way, a body larger than Django's limit."""

import json
import logging
from datetime import timedelta

import pytest
from django.utils import timezone
from django_q.models import Schedule
from redis.exceptions import ConnectionError as RedisConnectionError

from fulfillment.choices import DeliveryState, EventType
from fulfillment.models import Order, OrderEvent, OrderLine, WebhookDelivery
from fulfillment.services.webhooks import deliveries_requeue_lost
from fulfillment.tasks import requeue_lost_deliveries
from tests.factories import ProviderFactory
from tests.fulfillment.test_webhooks import deliver, deliver_and_apply, encode
from tests.woo_payloads import line_item, order_payload

pytestmark = pytest.mark.django_db


class Broker:
    """A broker that refuses every task while `down`, as Redis does when it is down, and records them."""

    def __init__(self, send):
        self.send, self.down, self.refused = send, True, []

    def __call__(self, func, *args, **kwargs):
        if not self.down:
            return self.send(func, *args, **kwargs)
        self.refused.append((func, args))
        raise RedisConnectionError("Error 111 connecting to 127.0.0.1:6379. Connection refused.")


@pytest.fixture
def broker(monkeypatch):
    from fulfillment import task_queue as queue

    down = Broker(queue.async_task)
    monkeypatch.setattr(queue, "async_task", down)
    return down


@pytest.fixture
def queued(monkeypatch):
    """Record the tasks queued instead of running them (a broker that takes them, a worker that has not yet)."""
    tasks = []
    monkeypatch.setattr("fulfillment.task_queue.async_task", lambda func, *args, **kwargs: tasks.append((func, args)))
    return tasks


def received_minutes_ago(delivery, minutes):
    WebhookDelivery.objects.filter(pk=delivery.pk).update(received_at=timezone.now() - timedelta(minutes=minutes))


# -- the broker is down when the delivery arrives ------------------------------------------------------------------


def test_a_delivery_whose_task_cannot_be_queued_is_stored_answered_200_and_logged(
        client, store, broker, caplog, django_capture_on_commit_callbacks):
    # When a delivery arrives while the broker is down
    with caplog.at_level(logging.WARNING, logger="fulfillment.task_queue"):
        response = deliver_and_apply(client, store, order_payload(17), django_capture_on_commit_callbacks,
                                     topic="order.created")

    # Then WooCommerce gets its 200 (a 500 would only make it send a repeat and count a failure), the delivery is
    # stored, waiting, and the failure is logged
    assert (response.status_code, response.content) == (200, b"stored")
    delivery = WebhookDelivery.objects.get()
    assert (delivery.state, delivery.applied_at, delivery.repeats) == (DeliveryState.RECEIVED, None, 0)
    assert broker.refused == [("fulfillment.tasks.apply_delivery", (delivery.pk,))]
    assert [r.getMessage() for r in caplog.records if r.name == "fulfillment.task_queue"] == [
        f"could not queue fulfillment.tasks.apply_delivery({delivery.pk},), left to its watchdog: ConnectionError: "
        "Error 111 connecting to 127.0.0.1:6379. Connection refused."
    ]
    # and nothing is applied yet
    assert Order.objects.count() == 0


def test_the_repeat_of_a_delivery_never_applied_queues_it_again(client, store, broker,
                                                                django_capture_on_commit_callbacks):
    # Given a delivery stored while the broker was down
    payload = order_payload(17)
    deliver_and_apply(client, store, payload, django_capture_on_commit_callbacks, topic="order.created")
    broker.down = False
    WebhookDelivery.objects.update(received_at=timezone.now() - timedelta(minutes=2))

    # When WooCommerce sends it again, the broker back
    response = deliver_and_apply(client, store, payload, django_capture_on_commit_callbacks, topic="order.created")

    # Then the repeat is acknowledged and the stored delivery is queued and applied, once
    assert (response.status_code, response.content) == (200, b"duplicate: queued again")
    delivery = WebhookDelivery.objects.get()
    assert (delivery.state, delivery.repeats, delivery.woo_id) == (DeliveryState.APPLIED, 1, 17)
    assert list(Order.objects.values_list("woo_id", flat=True)) == [17]
    assert list(OrderEvent.objects.values_list("type", flat=True)) == [EventType.CREATED]
    assert len(broker.refused) == 1


def test_a_repeat_within_the_minute_of_a_delivery_not_applied_yet_queues_nothing(
        client, store, queued, django_capture_on_commit_callbacks):
    # Given a delivery stored and queued a moment ago, its task not run yet
    payload = order_payload(17)
    deliver_and_apply(client, store, payload, django_capture_on_commit_callbacks)
    WebhookDelivery.objects.update(state=DeliveryState.RECEIVED)
    queued.clear()

    # When WooCommerce sends it again at once
    response = deliver_and_apply(client, store, payload, django_capture_on_commit_callbacks)

    # Then it is a plain repeat: the task queued with the delivery will apply it
    assert (response.status_code, response.content) == (200, b"duplicate")
    assert queued == []
    assert WebhookDelivery.objects.get().repeats == 1


def test_the_repeat_of_an_applied_delivery_queues_nothing(client, store, queued, django_capture_on_commit_callbacks):
    # Given a delivery applied (its task ran)
    payload = order_payload(17)
    deliver_and_apply(client, store, payload, django_capture_on_commit_callbacks)
    WebhookDelivery.objects.update(state=DeliveryState.APPLIED)
    queued.clear()

    # When WooCommerce sends it again
    response = deliver_and_apply(client, store, payload, django_capture_on_commit_callbacks)

    # Then it is a plain repeat
    assert (response.status_code, response.content) == (200, b"duplicate")
    assert queued == []
    assert WebhookDelivery.objects.get().repeats == 1


def test_the_broker_failing_on_a_repeat_still_answers_200(client, store, broker,
                                                          django_capture_on_commit_callbacks):
    # Given a delivery stored while the broker was down, two minutes ago
    payload = order_payload(17)
    deliver_and_apply(client, store, payload, django_capture_on_commit_callbacks)
    WebhookDelivery.objects.update(received_at=timezone.now() - timedelta(minutes=2))

    # When its repeat arrives with the broker still down
    response = deliver_and_apply(client, store, payload, django_capture_on_commit_callbacks)

    # Then it is acknowledged and stays waiting for the watchdog
    assert (response.status_code, response.content) == (200, b"duplicate: queued again")
    delivery = WebhookDelivery.objects.get()
    assert (delivery.state, delivery.repeats) == (DeliveryState.RECEIVED, 1)
    assert [args for _, args in broker.refused] == [(delivery.pk,), (delivery.pk,)]


# -- the watchdog ----------------------------------------------------------------------------------------------------


def test_deliveries_left_unapplied_are_queued_again_and_applied(client, store, monkeypatch,
                                                                django_capture_on_commit_callbacks):
    # Given two deliveries whose tasks were lost (a worker killed, Redis flushed) 11 and 30 minutes ago, one whose
    # task may simply still be on its way (2 minutes), and one applied long ago
    from fulfillment import task_queue as queue

    send = queue.async_task
    monkeypatch.setattr(queue, "async_task", lambda *args, **kwargs: None)  # taken by the broker, then lost
    for woo_id in (1, 2, 3, 4):
        deliver_and_apply(client, store, order_payload(woo_id), django_capture_on_commit_callbacks,
                          delivery_id=f"d-{woo_id}")
    monkeypatch.setattr(queue, "async_task", send)
    first, second, recent, applied = WebhookDelivery.objects.order_by("woo_id", "delivery_id")
    for delivery, minutes in ((first, 30), (second, 11), (recent, 2), (applied, 60)):
        received_minutes_ago(delivery, minutes)
    WebhookDelivery.objects.filter(pk=applied.pk).update(state=DeliveryState.APPLIED)

    # When the schedule's task runs
    with django_capture_on_commit_callbacks(execute=True):
        result = requeue_lost_deliveries()

    # Then the two lost ones are queued again, oldest first, and applied; the others are left alone
    assert result == "2 deliveries queued again"
    assert dict(WebhookDelivery.objects.values_list("delivery_id", "state")) == {
        "d-1": DeliveryState.APPLIED, "d-2": DeliveryState.APPLIED, "d-3": DeliveryState.RECEIVED,
        "d-4": DeliveryState.APPLIED,
    }
    assert sorted(Order.objects.values_list("woo_id", flat=True)) == [1, 2]


def test_the_watchdog_queues_the_oldest_first_and_at_most_its_limit(client, store, queued,
                                                                    django_capture_on_commit_callbacks):
    # Given three deliveries never applied
    for woo_id, minutes in ((1, 20), (2, 40), (3, 30)):
        deliver_and_apply(client, store, order_payload(woo_id), django_capture_on_commit_callbacks)
        received_minutes_ago(WebhookDelivery.objects.get(body=json.dumps(order_payload(woo_id))), minutes)
    by_woo = {json.loads(d.body)["id"]: d.pk for d in WebhookDelivery.objects.all()}
    queued.clear()

    # When the watchdog runs with room for two
    with django_capture_on_commit_callbacks(execute=True):
        ids = deliveries_requeue_lost(limit=2)

    # Then the two oldest are queued
    assert ids == [by_woo[2], by_woo[3]]
    assert queued == [("fulfillment.tasks.apply_delivery", (by_woo[2],)), ("fulfillment.tasks.apply_delivery",
                                                                          (by_woo[3],))]


def test_a_delivery_waiting_behind_a_backlog_is_not_queued_again_at_every_run(client, store, queued, settings,
                                                                              django_capture_on_commit_callbacks):
    # Given a delivery received 11 minutes ago whose task still waits behind a long queue (not lost, only late)
    settings.WEBHOOK_REQUEUE_MINUTES = 10
    deliver_and_apply(client, store, order_payload(21), django_capture_on_commit_callbacks, delivery_id="late")
    delivery = WebhookDelivery.objects.get()
    received_minutes_ago(delivery, 11)
    queued.clear()
    now = timezone.now()

    # When the watchdog runs every 5 minutes for an hour, the delivery never applied
    with django_capture_on_commit_callbacks(execute=True):
        runs = [deliveries_requeue_lost(now=now + timedelta(minutes=5 * n)) for n in range(13)]

    # Then it is queued again after 10 minutes, then after 20 more, then 40 more: 3 copies, not 13
    assert [n * 5 for n, ids in enumerate(runs) if ids] == [0, 20, 60]
    assert queued == [("fulfillment.tasks.apply_delivery", (delivery.pk,))] * 3
    delivery.refresh_from_db()
    assert delivery.requeues == 3
    assert delivery.requeue_after == now + timedelta(minutes=60 + 80)


def test_applying_a_delivery_queued_twice_applies_it_once(client, store, queued, django_capture_on_commit_callbacks):
    # Given a delivery whose first task is only late, and the watchdog's copy
    deliver_and_apply(client, store, order_payload(17), django_capture_on_commit_callbacks, topic="order.created")
    delivery = WebhookDelivery.objects.get()

    # When both run
    from fulfillment.tasks import apply_delivery

    assert apply_delivery(delivery.pk) == "applied"
    assert apply_delivery(delivery.pk) == "applied"

    # Then the order was mirrored once
    assert list(OrderEvent.objects.values_list("type", flat=True)) == [EventType.CREATED]


def test_the_watchdog_schedule_runs_every_five_minutes():
    schedule = Schedule.objects.get(name="Queue webhook deliveries whose task was lost")
    assert (schedule.func, schedule.schedule_type, schedule.minutes, schedule.repeats) == (
        "fulfillment.tasks.requeue_lost_deliveries", Schedule.MINUTES, 5, -1)


@pytest.mark.postgres
@pytest.mark.redis
@pytest.mark.django_db(transaction=True)
def test_a_delivery_lost_with_a_flushed_redis_is_queued_again_through_redis(client):
    # Given the real Redis broker, and a delivery whose task is lost: the queue is emptied before a worker took it
    from django_q.conf import Conf

    from fulfillment.task_queue import shared_broker
    from tests.factories import StoreFactory

    previous, Conf.SYNC = Conf.SYNC, False
    broker = shared_broker()
    broker.purge_queue()
    try:
        store = StoreFactory(slug="flushed")
        assert deliver(client, store, order_payload(17)).status_code == 200
        assert broker.queue_size() == 1
        broker.purge_queue()
        delivery = WebhookDelivery.objects.get()
        received_minutes_ago(delivery, 15)

        # When the watchdog runs
        ids = deliveries_requeue_lost()

        # Then its task is in Redis again
        assert ids == [delivery.pk]
        assert broker.queue_size() == 1
    finally:
        broker.purge_queue()
        Conf.SYNC = previous


# -- bodies larger than Django's DATA_UPLOAD_MAX_MEMORY_SIZE -------------------------------------------------------


def large_order(woo_id, size):
    """An order whose personalised line carries its design as meta (an SVG): a body of `size` bytes or a little more."""
    def order(paths):
        svg = "<svg xmlns='http://www.w3.org/2000/svg'>" + "<path d='M0 0L1 1'/>" * paths + "</svg>"
        return order_payload(woo_id, line_items=[line_item(woo_id * 10 + 1, meta=[
            {"id": 9001, "key": "_design_svg", "value": svg}])])

    empty = len(encode(order(0)))
    return order(-(-(size - empty) // len("<path d='M0 0L1 1'/>")))


def test_a_3_mb_delivery_is_stored_and_applied(client, store, settings, django_capture_on_commit_callbacks):
    # Given an order whose body (3 MB) is over Django's DATA_UPLOAD_MAX_MEMORY_SIZE (2.5 MB)
    payload = large_order(17, 3 * 1024 * 1024)
    body = encode(payload)
    assert settings.DATA_UPLOAD_MAX_MEMORY_SIZE < len(body) < settings.WEBHOOK_MAX_BYTES

    # When its signed delivery arrives
    response = deliver_and_apply(client, store, body, django_capture_on_commit_callbacks, topic="order.created")

    # Then it is stored exactly and applied
    assert (response.status_code, response.content) == (200, b"stored")
    delivery = WebhookDelivery.objects.get()
    assert (delivery.state, delivery.error, len(delivery.body)) == (DeliveryState.APPLIED, "", len(body))
    line = OrderLine.objects.get()
    assert line.meta == [{"id": 9001, "key": "_design_svg", "value": payload["line_items"][0]["meta_data"][0]["value"]}]


def test_a_delivery_over_the_limit_is_refused_with_413_and_logged(client, store, settings, caplog,
                                                                  django_capture_on_commit_callbacks):
    # Given a limit of 3 MB and a delivery of 3 MB and one byte more
    settings.WEBHOOK_MAX_BYTES = 3 * 1024 * 1024
    body = encode(large_order(17, 3 * 1024 * 1024 + 600))
    assert len(body) > settings.WEBHOOK_MAX_BYTES

    # When it arrives
    with caplog.at_level(logging.WARNING, logger="backoffice.request_limits"):
        with django_capture_on_commit_callbacks(execute=True) as callbacks:
            response = deliver(client, store, body, topic="order.created")

    # Then it is refused with a JSON reason and a warning naming the endpoint and the store, before its body is
    # read (backoffice/request_limits.py), and nothing is stored or queued
    assert response.status_code == 413
    assert response.json() == {"error": f"Content-Length {len(body)} is over the limit of 3145728 bytes",
                               "limit": "WEBHOOK_MAX_BYTES"}
    assert [r.getMessage() for r in caplog.records if r.name == "backoffice.request_limits"] == [
        f"request body refused with 413: Content-Length {len(body)} is over the limit of 3145728 bytes (endpoint "
        f"fulfillment:woocommerce-webhook, store slug {store.slug}, WEBHOOK_MAX_BYTES 3145728, from 127.0.0.1)"
    ]
    assert callbacks == []
    assert WebhookDelivery.objects.count() == 0
    assert Order.objects.count() == 0


def test_a_body_exactly_at_the_limit_is_stored(client, store, settings, django_capture_on_commit_callbacks):
    body = encode(order_payload(17))
    settings.WEBHOOK_MAX_BYTES = len(body)

    response = deliver_and_apply(client, store, body, django_capture_on_commit_callbacks)

    assert (response.status_code, response.content) == (200, b"stored")
    assert WebhookDelivery.objects.get().state == DeliveryState.APPLIED


def test_the_larger_limit_is_the_webhook_view_s_only(client, store):
    # Given a 3 MB body posted to another view (a provider's webhook)
    provider = ProviderFactory(store=store, webhook_token="provider-token-123")
    body = b'{"type": "package_shipped", "data": "' + b"x" * (3 * 1024 * 1024) + b'"}'

    response = client.post(f"/webhooks/providers/{provider.pk}/provider-token-123/", data=body,
                           content_type="application/json")

    # Then that view's own limit applies there (PROVIDER_WEBHOOK_MAX_BYTES, 1 MB)
    assert response.status_code == 413 and response.json()["limit"] == "PROVIDER_WEBHOOK_MAX_BYTES"


def test_a_repeat_of_a_delivery_late_in_a_backlog_queues_nothing_more(client, store, queued,
                                                                      django_capture_on_commit_callbacks):
    # Given a delivery received two minutes ago and deliveries received after it, none of them applied yet: the
    # workers are behind, its task is still in the queue
    payload = order_payload(17)
    deliver_and_apply(client, store, payload, django_capture_on_commit_callbacks)
    for woo_id in (18, 19):
        deliver_and_apply(client, store, order_payload(woo_id), django_capture_on_commit_callbacks,
                          delivery_id=f"d-{woo_id}")
    first, *later = WebhookDelivery.objects.order_by("pk")
    WebhookDelivery.objects.update(state=DeliveryState.RECEIVED)
    WebhookDelivery.objects.filter(pk=first.pk).update(received_at=timezone.now() - timedelta(minutes=2))
    WebhookDelivery.objects.exclude(pk=first.pk).update(received_at=timezone.now() - timedelta(minutes=1))
    queued.clear()

    # When WooCommerce sends it again
    response = deliver_and_apply(client, store, payload, django_capture_on_commit_callbacks)

    # Then it is a plain repeat: a second task would only lengthen the backlog
    assert (response.status_code, response.content) == (200, b"duplicate")
    assert queued == []

    # and once a delivery received after it has been applied, its task was lost: the next repeat queues it again
    WebhookDelivery.objects.filter(pk=later[-1].pk).update(state=DeliveryState.APPLIED)
    response = deliver_and_apply(client, store, payload, django_capture_on_commit_callbacks)
    assert (response.status_code, response.content) == (200, b"duplicate: queued again")
    assert [args for _, args in queued] == [(first.pk,)]
