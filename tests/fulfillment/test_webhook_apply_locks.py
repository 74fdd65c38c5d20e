"""A delivery being applied does not hold its row: WooCommerce's repeat of it is answered at once (PostgreSQL).

bench/faults/shop_away.py found it: every delivery applied locked its row for the whole order upsert and its
followers, so a repeat (the web request counting it) and a second task applying it queued behind it, and under a
backlog the web workers and task workers waited on each other's rows.
"""

import threading

import pytest
from django.db import connection, connections, transaction

from fulfillment.choices import DeliveryState
from fulfillment.models import Order, WebhookDelivery
from fulfillment.services import webhooks
from fulfillment.services.webhooks import delivery_apply, delivery_receive, signature_for
from tests.factories import StoreFactory
from tests.fulfillment.test_webhooks import encode
from tests.woo_payloads import order_payload


def headers_for(store, body):
    return {"X-WC-Webhook-Topic": "order.updated", "X-WC-Webhook-Delivery-ID": "7",
            "X-WC-Webhook-Signature": signature_for(body, store.webhook_secret)}


@pytest.mark.postgres
@pytest.mark.django_db(transaction=True)
def test_a_repeat_of_a_delivery_being_applied_is_answered_without_waiting_for_it(monkeypatch):
    # Given a delivery whose application is under way in another connection (a slow upsert and its followers)
    store = StoreFactory(slug="busy")
    body = encode(order_payload(7001, status="processing"))
    monkeypatch.setattr("fulfillment.task_queue.async_task", lambda *args, **kwargs: None)
    first = delivery_receive(store=store, headers=headers_for(store, body), body=body)
    applying, release, outcome = threading.Event(), threading.Event(), {}
    real_apply = webhooks._apply

    def slow_apply(delivery):
        result = real_apply(delivery)
        applying.set()
        release.wait(20)
        return result

    monkeypatch.setattr(webhooks, "_apply", slow_apply)

    def worker():
        try:
            outcome["delivery"] = delivery_apply(delivery_id=first.delivery.pk)
        finally:
            connections.close_all()

    thread = threading.Thread(target=worker)
    thread.start()
    try:
        assert applying.wait(20)
        # When WooCommerce sends it again meanwhile (the web request may wait 2 s for a lock, no more)
        with transaction.atomic():
            with connection.cursor() as cursor:
                cursor.execute("SET LOCAL lock_timeout = '2s'")
            repeat = delivery_receive(store=store, headers=headers_for(store, body), body=body)
    finally:
        release.set()
        thread.join(30)

    # Then it is acknowledged as a repeat at once, and the delivery is applied once
    assert (repeat.status, repeat.message) == (200, "duplicate")
    stored = WebhookDelivery.objects.get(pk=first.delivery.pk)
    assert (stored.state, stored.repeats, stored.woo_id) == (DeliveryState.APPLIED, 1, 7001)
    assert outcome["delivery"].state == DeliveryState.APPLIED
    assert Order.objects.filter(store=store, woo_id=7001).count() == 1


@pytest.mark.django_db
def test_a_delivery_another_task_applied_meanwhile_keeps_that_tasks_mark(monkeypatch):
    # Given a delivery a second task is applying while the first one finishes it
    store = StoreFactory(slug="twice")
    body = encode(order_payload(7002, status="processing"))
    monkeypatch.setattr("fulfillment.task_queue.async_task", lambda *args, **kwargs: None)
    received = delivery_receive(store=store, headers=headers_for(store, body), body=body)
    real_apply = webhooks._apply

    def applied_by_another_meanwhile(delivery):
        result = real_apply(delivery)
        WebhookDelivery.objects.filter(pk=delivery.pk).update(state=DeliveryState.STALE, error="theirs")
        return result

    monkeypatch.setattr(webhooks, "_apply", applied_by_another_meanwhile)

    # When this task's apply ends
    delivery = delivery_apply(delivery_id=received.delivery.pk)

    # Then the other task's mark stands: nothing written over it
    assert (delivery.state, delivery.error) == (DeliveryState.STALE, "theirs")
    assert WebhookDelivery.objects.get(pk=received.delivery.pk).state == DeliveryState.STALE
