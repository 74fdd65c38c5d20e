import hashlib
import json
from datetime import UTC, datetime, timedelta
from decimal import Decimal

import pytest
from django.utils import timezone
from django.utils.html import escape

from fulfillment.choices import DeliveryState, EventSource, EventType
from fulfillment.models import Order, OrderEvent, OrderLine, Store, WebhookDelivery
from fulfillment.services.webhooks import signature_for
from tests.conftest import on_postgres
from tests.factories import StoreFactory
from tests.woo_payloads import SAMPLE_DELIVERY, SAMPLE_PING, order_payload

pytestmark = pytest.mark.django_db


def url(store):
    return f"/webhooks/woocommerce/{store.slug}/"


def encode(payload):
    return payload if isinstance(payload, bytes) else json.dumps(payload).encode()


def deliver(client, store, payload, *, topic="order.updated", secret=None, signature=None, delivery_id="d-1"):
    """POST a delivery as WooCommerce does: raw JSON body, signed with the store's secret unless told otherwise."""
    body = encode(payload)
    headers = {
        "X-WC-Webhook-Source": "https://shop.example.com/",
        "X-WC-Webhook-Topic": topic,
        "X-WC-Webhook-Resource": topic.split(".")[0],
        "X-WC-Webhook-Event": topic.split(".")[-1],
        "X-WC-Webhook-ID": "2",
        "X-WC-Webhook-Delivery-ID": delivery_id,
        "User-Agent": "WooCommerce/9.9.5 Hookshot (WordPress/6.9)",
    }
    if signature is None:
        signature = signature_for(body, secret or store.webhook_secret)
    if signature:
        headers["X-WC-Webhook-Signature"] = signature
    return client.post(url(store), data=body, content_type="application/json", headers=headers)


def deliver_and_apply(client, store, payload, capture, **kwargs):
    with capture(execute=True):
        response = deliver(client, store, payload, **kwargs)
    return response


def at(minutes):
    return datetime(2026, 11, 10, 12, 0, tzinfo=UTC) + timedelta(minutes=minutes)


def test_real_ping_is_answered_and_stores_nothing(client, store, django_capture_on_commit_callbacks):
    # Given the ping WooCommerce 9.9 sent when the webhook was created (form body, no X-WC-Webhook-* headers)
    headers = dict(SAMPLE_PING["headers"])

    # When it reaches us
    with django_capture_on_commit_callbacks() as callbacks:
        response = client.post(url(store), data=SAMPLE_PING["body"], content_type=headers["Content-Type"],
                               headers={"User-Agent": headers["User-Agent"]})

    # Then WooCommerce gets its 200 and nothing is stored or queued
    assert (response.status_code, response.content) == (200, b"pong")
    assert WebhookDelivery.objects.count() == 0
    assert Order.objects.count() == 0
    assert callbacks == []
    store.refresh_from_db()
    assert store.last_webhook_at is None


def test_signed_delivery_is_stored_raw_and_applied(client, store, django_capture_on_commit_callbacks):
    # Given a new order in the shop
    payload = order_payload(17, status="processing", created=at(0), modified=at(1))
    body = encode(payload)

    # When its order.created delivery arrives with a good signature
    response = deliver_and_apply(client, store, body, django_capture_on_commit_callbacks, topic="order.created",
                                 delivery_id="42bcc046b911127287c5ff1d39c243fc")

    # Then it is stored exactly as received
    assert (response.status_code, response.content) == (200, b"stored")
    delivery = WebhookDelivery.objects.get()
    assert delivery.store == store
    assert delivery.topic == "order.created"
    assert delivery.webhook_id == "2"
    assert delivery.delivery_id == "42bcc046b911127287c5ff1d39c243fc"
    assert delivery.body == body.decode()
    assert delivery.body_sha256 == hashlib.sha256(body).hexdigest()
    assert delivery.repeats == 0
    # and applied to the mirror
    assert (delivery.state, delivery.error, delivery.woo_id) == (DeliveryState.APPLIED, "", 17)
    assert delivery.applied_at is not None
    order = Order.objects.get()
    assert (order.store, order.woo_id, order.number, order.status) == (store, 17, "17", "processing")
    assert (order.customer_name, order.customer_email) == ("Ben Schmidt", "customer17@example.com")
    assert (order.created_at, order.modified_at) == (at(0), at(1))
    assert order.total == Decimal("40.08")
    assert order.raw == payload
    assert list(OrderLine.objects.values_list("woo_line_id", flat=True)) == [171]
    events = list(OrderEvent.objects.values_list("order_id", "type", "source"))
    assert events == [(order.pk, EventType.CREATED, EventSource.WEBHOOK)]


def test_delivery_without_signature_is_refused_and_nothing_is_stored(client, store,
                                                                     django_capture_on_commit_callbacks):
    # Given a JSON order posted without X-WC-Webhook-Signature
    with django_capture_on_commit_callbacks(execute=True) as callbacks:
        response = deliver(client, store, order_payload(17), signature="")

    # Then it is refused, and nothing is stored, queued or applied
    assert response.status_code == 401
    assert response.json() == {"error": "missing X-WC-Webhook-Signature"}
    assert callbacks == []
    assert WebhookDelivery.objects.count() == 0
    assert Order.objects.count() == 0
    assert OrderEvent.objects.count() == 0
    store.refresh_from_db()
    assert store.last_webhook_at is None


def test_ping_body_with_webhook_headers_but_no_signature_is_refused(client, store):
    # Given a form body that looks like a ping but carries a topic (a real ping never does)
    response = client.post(url(store), data="webhook_id=1", content_type="application/x-www-form-urlencoded",
                           headers={"X-WC-Webhook-Topic": "order.updated"})

    # Then it is treated as an unsigned delivery
    assert response.status_code == 401
    assert response.json() == {"error": "missing X-WC-Webhook-Signature"}
    assert WebhookDelivery.objects.count() == 0


@pytest.mark.parametrize("how", ["other secret", "other body", "garbage"])
def test_delivery_with_a_wrong_signature_is_refused_and_nothing_is_stored(client, store, how,
                                                                          django_capture_on_commit_callbacks):
    # Given a delivery whose signature does not match the store's secret and the body
    payload = order_payload(17)
    signature = {
        "other secret": signature_for(encode(payload), "not-the-store-secret"),
        "other body": signature_for(encode({**payload, "total": "0.01"}), store.webhook_secret),
        "garbage": "bm90IGEgc2lnbmF0dXJl",
    }[how]

    # When it arrives
    with django_capture_on_commit_callbacks(execute=True) as callbacks:
        response = deliver(client, store, payload, signature=signature)

    # Then it is refused and leaves no trace
    assert response.status_code == 401
    assert response.json() == {"error": "bad signature"}
    assert callbacks == []
    assert WebhookDelivery.objects.count() == 0
    assert Order.objects.count() == 0
    store.refresh_from_db()
    assert store.last_webhook_at is None


def test_same_delivery_twice_is_acknowledged_and_applied_once(client, store, django_capture_on_commit_callbacks):
    # Given a delivery that was stored and applied
    payload = order_payload(17, created=at(0), modified=at(1))
    first = deliver_and_apply(client, store, payload, django_capture_on_commit_callbacks, topic="order.created")

    # When WooCommerce sends the very same delivery again
    with django_capture_on_commit_callbacks(execute=True) as callbacks:
        second = deliver(client, store, payload, topic="order.created")

    # Then both get 200, one row counts the repeat and nothing is applied twice
    assert (first.status_code, first.content) == (200, b"stored")
    assert (second.status_code, second.content) == (200, b"duplicate")
    assert callbacks == []
    delivery = WebhookDelivery.objects.get()
    assert (delivery.repeats, delivery.state) == (1, DeliveryState.APPLIED)
    assert Order.objects.count() == 1
    assert list(OrderEvent.objects.values_list("type", flat=True)) == [EventType.CREATED]


def test_same_order_under_another_topic_is_stored_but_changes_nothing(client, store,
                                                                       django_capture_on_commit_callbacks):
    # Given an order.created delivery that was applied
    payload = order_payload(17, created=at(0), modified=at(1))
    deliver_and_apply(client, store, payload, django_capture_on_commit_callbacks, topic="order.created")

    # When an order.updated delivery carries the same version of the order
    response = deliver_and_apply(client, store, payload, django_capture_on_commit_callbacks, topic="order.updated")

    # Then it is kept as its own delivery, and the mirror writes no second event
    assert (response.status_code, response.content) == (200, b"stored")
    assert list(WebhookDelivery.objects.order_by("pk").values_list("topic", "state", "repeats")) == [
        ("order.created", DeliveryState.APPLIED, 0),
        ("order.updated", DeliveryState.APPLIED, 0),
    ]
    assert list(OrderEvent.objects.values_list("type", flat=True)) == [EventType.CREATED]


def test_update_delivery_changes_the_mirror_and_writes_a_status_event(client, store,
                                                                      django_capture_on_commit_callbacks):
    # Given an order mirrored from its order.created delivery
    deliver_and_apply(client, store, order_payload(17, status="processing", created=at(0), modified=at(1)),
                      django_capture_on_commit_callbacks, topic="order.created")

    # When the shop completes it
    deliver_and_apply(client, store, order_payload(17, status="completed", created=at(0), modified=at(5)),
                      django_capture_on_commit_callbacks)

    # Then the mirror follows and the timeline says so
    order = Order.objects.get()
    assert (order.status, order.modified_at) == ("completed", at(5))
    assert list(WebhookDelivery.objects.values_list("state", flat=True)) == [DeliveryState.APPLIED] * 2
    changed = OrderEvent.objects.get(type=EventType.STATUS_CHANGED)
    assert (changed.source, changed.data) == (EventSource.WEBHOOK, {"before": "processing", "after": "completed"})


def test_out_of_order_delivery_does_not_overwrite_newer_data(client, store, django_capture_on_commit_callbacks):
    # Given the newer version of an order arrived first
    newer = order_payload(17, status="completed", created=at(0), modified=at(10), customer_note="second")
    deliver_and_apply(client, store, newer, django_capture_on_commit_callbacks)

    # When an older version arrives late
    older = order_payload(17, status="processing", created=at(0), modified=at(5), customer_note="first")
    response = deliver_and_apply(client, store, older, django_capture_on_commit_callbacks)

    # Then it is acknowledged and kept, marked stale, and the mirror keeps the newer data
    assert response.status_code == 200
    late = WebhookDelivery.objects.get(body=json.dumps(older))
    assert (late.state, late.error, late.woo_id) == (DeliveryState.STALE, "", 17)
    order = Order.objects.get()
    assert (order.status, order.modified_at, order.customer_note) == ("completed", at(10), "second")
    assert order.raw == newer
    assert list(OrderEvent.objects.values_list("type", flat=True)) == [EventType.CREATED]


def test_deleted_order_is_marked_trashed_and_kept(client, store, django_capture_on_commit_callbacks):
    # Given a mirrored order with its line
    deliver_and_apply(client, store, order_payload(17, created=at(0), modified=at(1)),
                      django_capture_on_commit_callbacks, topic="order.created")

    # When WooCommerce says it was deleted (trashed)
    response = deliver_and_apply(client, store, {"id": 17}, django_capture_on_commit_callbacks,
                                 topic="order.deleted")

    # Then every row stays, the order is marked trashed and the timeline says so
    assert response.status_code == 200
    delivery = WebhookDelivery.objects.get(topic="order.deleted")
    assert (delivery.state, delivery.error, delivery.woo_id) == (DeliveryState.APPLIED, "", 17)
    order = Order.objects.get()
    assert order.trashed is True
    assert order.status == "processing"
    assert OrderLine.objects.filter(order=order).count() == 1
    trashed = OrderEvent.objects.get(type=EventType.TRASHED)
    assert (trashed.order, trashed.source, trashed.data) == (order, EventSource.WEBHOOK, {"trashed": True})


def test_late_older_update_does_not_untrash_a_deleted_order(client, store, django_capture_on_commit_callbacks):
    # Given an order deleted in the shop
    deliver_and_apply(client, store, order_payload(17, created=at(0), modified=at(1)),
                      django_capture_on_commit_callbacks, topic="order.created")
    deliver_and_apply(client, store, {"id": 17}, django_capture_on_commit_callbacks, topic="order.deleted")

    # When an update from before the deletion arrives late
    late = order_payload(17, status="completed", created=at(0), modified=at(2))
    deliver_and_apply(client, store, late, django_capture_on_commit_callbacks)

    # Then it is ignored: the order stays trashed
    assert WebhookDelivery.objects.get(topic="order.updated").state == DeliveryState.STALE
    order = Order.objects.get()
    assert (order.trashed, order.status) == (True, "processing")
    assert not OrderEvent.objects.filter(type=EventType.RESTORED).exists()


def test_restored_order_comes_back(client, store, django_capture_on_commit_callbacks):
    # Given an order deleted in the shop
    deliver_and_apply(client, store, order_payload(17, created=at(0), modified=at(1)),
                      django_capture_on_commit_callbacks, topic="order.created")
    deliver_and_apply(client, store, {"id": 17}, django_capture_on_commit_callbacks, topic="order.deleted")

    # When the shop restores it (its modification date is the restore)
    restored_at = timezone.now().replace(microsecond=0) + timedelta(seconds=5)
    restored = order_payload(17, status="on-hold", created=at(0), modified=restored_at)
    deliver_and_apply(client, store, restored, django_capture_on_commit_callbacks, topic="order.restored")

    # Then it is back, with the restored data and a timeline entry
    assert WebhookDelivery.objects.get(topic="order.restored").state == DeliveryState.APPLIED
    order = Order.objects.get()
    assert (order.trashed, order.status, order.modified_at) == (False, "on-hold", restored_at)
    back = OrderEvent.objects.get(type=EventType.RESTORED)
    assert (back.source, back.data) == (EventSource.WEBHOOK, {"trashed": False})


def test_restore_delivered_after_the_usual_delay_still_brings_the_order_back(client, store,
                                                                             django_capture_on_commit_callbacks):
    # Given an order mirrored long ago, whose deletion delivery we have just received
    deliver_and_apply(client, store, order_payload(17, created=at(0), modified=at(1)),
                      django_capture_on_commit_callbacks, topic="order.created")
    deliver_and_apply(client, store, {"id": 17}, django_capture_on_commit_callbacks, topic="order.deleted")

    # When the restore arrives: it happened in the shop 30 s ago, after the deletion, but deliveries come
    # 20-60 s after the change, so its date is older than our receipt of the deletion
    restored_at = timezone.now().replace(microsecond=0) - timedelta(seconds=30)
    restored = order_payload(17, status="processing", created=at(0), modified=restored_at)
    deliver_and_apply(client, store, restored, django_capture_on_commit_callbacks, topic="order.restored")

    # Then the order is back all the same
    assert WebhookDelivery.objects.get(topic="order.restored").state == DeliveryState.APPLIED
    order = Order.objects.get()
    assert (order.trashed, order.modified_at) == (False, restored_at)
    assert OrderEvent.objects.filter(type=EventType.RESTORED).count() == 1


def test_order_deleted_again_after_a_restore_is_trashed_again(client, store, django_capture_on_commit_callbacks):
    # Given an order that was deleted, then restored
    deliver_and_apply(client, store, order_payload(17, created=at(0), modified=at(1)),
                      django_capture_on_commit_callbacks, topic="order.created")
    deliver_and_apply(client, store, {"id": 17}, django_capture_on_commit_callbacks, topic="order.deleted",
                      delivery_id="a1")
    restored = order_payload(17, created=at(0), modified=timezone.now().replace(microsecond=0))
    deliver_and_apply(client, store, restored, django_capture_on_commit_callbacks, topic="order.restored")

    # When the shop deletes it again (the same body, {"id": 17}, in a new delivery)
    response = deliver_and_apply(client, store, {"id": 17}, django_capture_on_commit_callbacks,
                                 topic="order.deleted", delivery_id="b2")

    # Then it is not mistaken for a repeat: the order is trashed again
    assert (response.status_code, response.content) == (200, b"stored")
    assert list(WebhookDelivery.objects.filter(topic="order.deleted").order_by("pk")
                .values_list("delivery_id", "state", "repeats")) == [
        ("a1", DeliveryState.APPLIED, 0), ("b2", DeliveryState.APPLIED, 0),
    ]
    assert Order.objects.get().trashed is True
    assert list(OrderEvent.objects.exclude(type=EventType.CREATED).order_by("pk").values_list("type", flat=True)) == [
        EventType.TRASHED, EventType.RESTORED, EventType.TRASHED,
    ]


def test_same_deletion_delivered_twice_is_a_repeat(client, store, django_capture_on_commit_callbacks):
    # Given a mirrored order and its deletion, delivered
    deliver_and_apply(client, store, order_payload(17, created=at(0), modified=at(1)),
                      django_capture_on_commit_callbacks, topic="order.created")
    deliver_and_apply(client, store, {"id": 17}, django_capture_on_commit_callbacks, topic="order.deleted",
                      delivery_id="a1")

    # When the very same delivery comes again
    with django_capture_on_commit_callbacks(execute=True) as callbacks:
        response = deliver(client, store, {"id": 17}, topic="order.deleted", delivery_id="a1")

    # Then it is acknowledged as a repeat and applied once
    assert (response.status_code, response.content) == (200, b"duplicate")
    assert callbacks == []
    assert list(WebhookDelivery.objects.filter(topic="order.deleted").values_list("repeats", flat=True)) == [1]
    assert OrderEvent.objects.filter(type=EventType.TRASHED).count() == 1


def test_deletion_sent_again_in_a_new_delivery_changes_nothing(client, store, django_capture_on_commit_callbacks):
    # Given a deleted order
    deliver_and_apply(client, store, order_payload(17, created=at(0), modified=at(1)),
                      django_capture_on_commit_callbacks, topic="order.created")
    deliver_and_apply(client, store, {"id": 17}, django_capture_on_commit_callbacks, topic="order.deleted",
                      delivery_id="a1")
    modified_at = Order.objects.get().modified_at

    # When WooCommerce sends the deletion again in a new delivery
    deliver_and_apply(client, store, {"id": 17}, django_capture_on_commit_callbacks, topic="order.deleted",
                      delivery_id="c3")

    # Then it is kept and applied, and changes nothing
    assert WebhookDelivery.objects.get(delivery_id="c3").state == DeliveryState.APPLIED
    order = Order.objects.get()
    assert (order.trashed, order.modified_at) == (True, modified_at)
    assert OrderEvent.objects.filter(type=EventType.TRASHED).count() == 1


def test_restore_older_than_the_stored_order_does_not_bring_it_back(client, store,
                                                                    django_capture_on_commit_callbacks):
    # Given an order mirrored at its version of minute 10, then deleted
    deliver_and_apply(client, store, order_payload(17, created=at(0), modified=at(10)),
                      django_capture_on_commit_callbacks, topic="order.created")
    deliver_and_apply(client, store, {"id": 17}, django_capture_on_commit_callbacks, topic="order.deleted")

    # When a "restored" delivery carries a version older than the one we hold
    stale = order_payload(17, created=at(0), modified=at(5))
    deliver_and_apply(client, store, stale, django_capture_on_commit_callbacks, topic="order.restored")

    # Then it is ignored
    assert WebhookDelivery.objects.get(topic="order.restored").state == DeliveryState.STALE
    assert Order.objects.get().trashed is True
    assert not OrderEvent.objects.filter(type=EventType.RESTORED).exists()


def test_deletion_of_an_order_not_in_the_mirror_is_kept_with_a_note(client, store,
                                                                     django_capture_on_commit_callbacks):
    # When a deletion arrives for an order we never mirrored
    response = deliver_and_apply(client, store, {"id": 99}, django_capture_on_commit_callbacks,
                                 topic="order.deleted")

    # Then it is acknowledged and kept, and no order is invented
    assert response.status_code == 200
    delivery = WebhookDelivery.objects.get()
    assert (delivery.state, delivery.error, delivery.woo_id) == (
        DeliveryState.APPLIED, "Order not in the mirror: nothing to mark as trashed.", 99,
    )
    assert Order.objects.count() == 0
    assert OrderEvent.objects.count() == 0


@pytest.mark.parametrize(("body", "error"), [
    (b"<html><body>Fatal error</body></html>", "The body is not JSON (Expecting value at character 0)."),
    (b'{"id": 17, "status": "processing"', "The body is not JSON (Expecting ',' delimiter at character 33)."),
    (b"", "The body is not JSON (Expecting value at character 0)."),
])
def test_body_that_is_not_json_is_kept_failed_and_shown_in_the_admin(client, admin_client, store, body, error,
                                                                     django_capture_on_commit_callbacks):
    # When a signed delivery's body is not JSON
    response = deliver_and_apply(client, store, body, django_capture_on_commit_callbacks)

    # Then WooCommerce still gets 200 (never a 500 that would disable the webhook)
    assert (response.status_code, response.content) == (200, b"stored")
    # and the delivery is kept, failed, with the reason
    delivery = WebhookDelivery.objects.get()
    assert (delivery.state, delivery.error, delivery.woo_id) == (DeliveryState.FAILED, error, None)
    assert delivery.body == body.decode()
    assert Order.objects.count() == 0
    # and staff see it in the deliveries list
    page = admin_client.get("/admin/fulfillment/webhookdelivery/")
    assert page.status_code == 200
    assert escape(error) in page.content.decode()
    assert "<td class=\"field-state\">Failed</td>" in page.content.decode()
    filtered = admin_client.get("/admin/fulfillment/webhookdelivery/", {"state__exact": "failed"})
    assert escape(error) in filtered.content.decode()
    detail = admin_client.get(f"/admin/fulfillment/webhookdelivery/{delivery.pk}/change/")
    assert detail.status_code == 200
    assert escape(error) in detail.content.decode()


@pytest.mark.parametrize(("payload", "topic", "error", "woo_id"), [
    ({"foo": 1}, "order.updated", "The body is JSON but not an order: it has no numeric id.", None),
    ([{"id": 17}], "order.updated", "The body is JSON but not an order: it has no numeric id.", None),
    ({"id": "17"}, "order.created", "The body is JSON but not an order: it has no numeric id.", None),
    ({"id": 11, "name": "Photo mug", "type": "simple", "status": "publish", "price": "9.50"}, "product.updated",
     "Topic product.updated is not handled: only order topics are.", None),
    ({"id": 11, "name": "Photo mug", "type": "simple", "status": "publish", "price": "9.50"}, "order.updated",
     "Not an order we can mirror: currency is missing: this is not an order", 11),
])
def test_json_that_is_not_an_order_is_kept_with_its_error(client, admin_client, store, payload, topic, error,
                                                          woo_id, django_capture_on_commit_callbacks):
    # When a signed delivery carries JSON we cannot mirror
    response = deliver_and_apply(client, store, payload, django_capture_on_commit_callbacks, topic=topic)

    # Then it is acknowledged and kept with the reason; nothing is mirrored
    assert (response.status_code, response.content) == (200, b"stored")
    delivery = WebhookDelivery.objects.get()
    assert (delivery.topic, delivery.state, delivery.error, delivery.woo_id) == (
        topic, DeliveryState.FAILED, error, woo_id,
    )
    assert json.loads(delivery.body) == payload
    assert Order.objects.count() == 0
    assert OrderEvent.objects.count() == 0
    assert escape(error[:120]) in admin_client.get("/admin/fulfillment/webhookdelivery/").content.decode()


@pytest.mark.parametrize(("body", "error"), [(b"\x00\x01\x02 binary garbage", "The body is not JSON ("),
                                           (b"\xff\xfe{\"id\": 17}", "The body is not UTF-8 (byte 0)")],
                         ids=["nul", "not-utf8"])
def test_body_with_bytes_a_text_column_cannot_hold_is_kept_failed(client, store, body, error,
                                                                   django_capture_on_commit_callbacks):
    # When a signed delivery's body holds a NUL byte (PostgreSQL text cannot store one) or is not UTF-8
    response = deliver_and_apply(client, store, body, django_capture_on_commit_callbacks)

    # Then it is still acknowledged and kept, failed, identified by the hash of the bytes received
    assert (response.status_code, response.content) == (200, b"stored")
    delivery = WebhookDelivery.objects.get()
    assert delivery.state == DeliveryState.FAILED
    assert delivery.error.startswith(error)
    assert delivery.body_sha256 == hashlib.sha256(body).hexdigest()
    assert "\x00" not in delivery.body
    assert Order.objects.count() == 0


def test_a_nul_character_in_an_order_is_kept_as_a_replacement_character(client, store,
                                                                         django_capture_on_commit_callbacks):
    # Given an order whose customer note holds a NUL character (PHP's json_encode sends it as \u0000), which
    # PostgreSQL's text and JSON cannot hold
    payload = order_payload(17, customer_note="Gift\u0000wrap, please")

    # When its delivery is applied
    response = deliver_and_apply(client, store, payload, django_capture_on_commit_callbacks)

    # Then the order is mirrored on every database, the NUL shown as U+FFFD in its fields and raw document
    assert response.status_code == 200
    delivery = WebhookDelivery.objects.get()
    assert (delivery.state, delivery.error) == (DeliveryState.APPLIED, "")
    order = Order.objects.get()
    assert order.customer_note == "Gift\ufffdwrap, please"
    assert order.raw["customer_note"] == "Gift\ufffdwrap, please"


@pytest.mark.postgres  # SQLite stores any integer
def test_order_the_database_refuses_is_kept_failed_instead_of_stuck(client, store,
                                                                     django_capture_on_commit_callbacks):
    # Given an order whose line quantity does not fit PostgreSQL's integer column
    payload = order_payload(17)
    payload["line_items"][0]["quantity"] = 2 ** 40

    # When its delivery is applied
    response = deliver_and_apply(client, store, payload, django_capture_on_commit_callbacks)

    # Then it is acknowledged, and the delivery is kept failed with the database's reason (not left "received" by
    # a crashed task), nothing of the order written
    assert response.status_code == 200
    delivery = WebhookDelivery.objects.get()
    assert (delivery.state, delivery.woo_id) == (DeliveryState.FAILED, 17)
    assert delivery.error == 'The database refused the order: value "1099511627776" is out of range for type integer'
    assert delivery.applied_at is not None
    assert Order.objects.count() == 0
    assert OrderEvent.objects.count() == 0


def test_failed_delivery_is_not_applied_again_by_a_second_run(client, store, django_capture_on_commit_callbacks):
    # Given a failed delivery
    deliver_and_apply(client, store, {"foo": 1}, django_capture_on_commit_callbacks)
    delivery = WebhookDelivery.objects.get()
    applied_at = delivery.applied_at

    # When its task runs again (a worker retried it)
    from fulfillment.tasks import apply_delivery
    result = apply_delivery(delivery.pk)

    # Then it is left as it was
    assert result == "failed The body is JSON but not an order: it has no numeric id."
    delivery.refresh_from_db()
    assert (delivery.state, delivery.applied_at) == (DeliveryState.FAILED, applied_at)


def test_unknown_store_is_404_and_stores_nothing(client, store):
    # Given a delivery for a store slug we do not know, signed with a known store's secret
    other = Store(slug="unknown", webhook_secret=store.webhook_secret)

    # When it arrives
    response = deliver(client, other, order_payload(17), secret=store.webhook_secret)

    # Then it is 404 and nothing is stored
    assert response.status_code == 404
    assert WebhookDelivery.objects.count() == 0


def test_get_is_not_allowed(client, store):
    response = client.get(url(store))

    assert response.status_code == 405
    assert response["Allow"] == "POST"
    assert WebhookDelivery.objects.count() == 0


def test_delivery_is_checked_with_its_own_store_secret(client, django_capture_on_commit_callbacks):
    # Given two stores with different secrets
    first = StoreFactory(slug="first", webhook_secret="secretfirst")
    second = StoreFactory(slug="second", webhook_secret="secretsecond")

    # When the first store's delivery is posted to the second store's URL
    response = deliver(client, second, order_payload(17), secret=first.webhook_secret)

    # Then it is refused there, and accepted at its own URL, for its own store
    assert response.status_code == 401
    ok = deliver_and_apply(client, first, order_payload(17), django_capture_on_commit_callbacks)
    assert ok.status_code == 200
    assert list(Order.objects.values_list("store__slug", "woo_id")) == [("first", 17)]


def test_delivery_records_when_the_store_last_sent_one(client, store):
    # Given a store that never sent a webhook
    before = timezone.now()

    # When a delivery arrives
    deliver(client, store, order_payload(17))

    # Then the store records it
    store.refresh_from_db()
    assert before <= store.last_webhook_at <= timezone.now()


def test_last_webhook_at_is_written_at_most_once_a_minute(client, store):
    # Given a store that received a webhook 30 s ago
    recent = timezone.now() - timedelta(seconds=30)
    Store.objects.filter(pk=store.pk).update(last_webhook_at=recent)

    # When another delivery arrives
    deliver(client, store, order_payload(17))

    # Then the row is not written again
    store.refresh_from_db()
    assert store.last_webhook_at == recent


def test_last_webhook_at_moves_when_older_than_a_minute(client, store):
    # Given a store whose last webhook came 2 minutes ago
    Store.objects.filter(pk=store.pk).update(last_webhook_at=timezone.now() - timedelta(minutes=2))
    before = timezone.now()

    # When a delivery arrives
    deliver(client, store, order_payload(17))

    # Then it moves on
    store.refresh_from_db()
    assert store.last_webhook_at >= before


def test_refused_delivery_does_not_count_as_news_from_the_store(client, store):
    # Given a store silent for two days
    silent_since = timezone.now() - timedelta(days=2)
    Store.objects.filter(pk=store.pk).update(last_webhook_at=silent_since)

    # When a delivery with a wrong signature arrives
    deliver(client, store, order_payload(17), secret="wrong")

    # Then the store still counts as silent
    store.refresh_from_db()
    assert store.last_webhook_at == silent_since


def test_real_woocommerce_delivery_maps(client, store, django_capture_on_commit_callbacks):
    # Given the order.updated delivery captured from a WooCommerce 9.9.5 shop, re-signed with our store's secret
    headers = dict(SAMPLE_DELIVERY["headers"])
    body = SAMPLE_DELIVERY["body"].encode()
    sent = {name: value for name, value in headers.items() if name.startswith("X-WC-Webhook-")}
    sent["X-WC-Webhook-Signature"] = signature_for(body, store.webhook_secret)
    sent["User-Agent"] = headers["User-Agent"]

    # When it is posted as WooCommerce posted it
    with django_capture_on_commit_callbacks(execute=True):
        response = client.post(url(store), data=body, content_type=headers["Content-Type"], headers=sent)

    # Then it is stored with WooCommerce's headers and mirrored field by field
    assert (response.status_code, response.content) == (200, b"stored")
    delivery = WebhookDelivery.objects.get()
    assert (delivery.topic, delivery.webhook_id, delivery.delivery_id) == (
        "order.updated", "2", "42bcc046b911127287c5ff1d39c243fc",
    )
    assert (delivery.state, delivery.error, delivery.woo_id) == (DeliveryState.APPLIED, "", 42)
    assert delivery.body == SAMPLE_DELIVERY["body"]
    order = Order.objects.get()
    assert (order.woo_id, order.number, order.status, order.created_via) == (42, "42", "completed", "rest-api")
    assert (order.customer_name, order.customer_email) == ("Jonas Fischer", "jonas.99@example.com")
    assert (order.city, order.state, order.country) == ("Amsterdam", "", "NL")
    assert order.customer_woo_id == 0
    assert order.customer_note == "demo order 99"
    assert (order.currency, order.total, order.total_tax) == ("EUR", Decimal("53.13"), Decimal("9.23"))
    assert (order.shipping_total, order.shipping_tax) == (Decimal("4.90"), Decimal("1.03"))
    assert (order.payment_method, order.payment_method_title) == ("bacs", "Direct bank transfer")
    # the *_gmt dates are the ones stored (the local ones are an hour ahead)
    assert order.created_at == datetime(2026, 11, 21, 22, 41, 56, tzinfo=UTC)
    assert order.modified_at == datetime(2026, 11, 21, 22, 41, 57, tzinfo=UTC)
    assert order.paid_at == order.completed_at == datetime(2026, 11, 21, 22, 41, 57, tzinfo=UTC)
    assert order.shipping["address_1"] == "Hauptstraße 100"
    assert order.raw == json.loads(SAMPLE_DELIVERY["body"])
    lines = list(OrderLine.objects.order_by("woo_line_id").values_list("woo_line_id", "sku", "quantity", "total"))
    assert lines[:2] == [(104, "DEMO-001", 1, Decimal("9.50")), (105, "DEMO-005", 1, Decimal("29.50"))]
    assert order.item_count == sum(line[2] for line in lines)
    created = OrderEvent.objects.get()
    assert (created.type, created.source, created.data) == (EventType.CREATED, EventSource.WEBHOOK,
                                                            {"status": "completed"})


def test_real_woocommerce_delivery_with_its_original_signature_is_refused(client, store):
    # Given the captured delivery with the signature made with the capturing shop's (unknown) secret
    headers = dict(SAMPLE_DELIVERY["headers"])
    sent = {name: value for name, value in headers.items() if name.startswith("X-WC-Webhook-")}

    # When it is posted to our store, whose secret is another
    response = client.post(url(store), data=SAMPLE_DELIVERY["body"].encode(), content_type="application/json",
                           headers=sent)

    # Then the signature does not match
    assert response.status_code == 401
    assert WebhookDelivery.objects.count() == 0


# -- the stores a web process keeps for a few seconds ----------------------------------------------------------------

def test_a_burst_of_deliveries_reads_the_store_once(client, store, django_assert_num_queries):
    deliver(client, store, order_payload(1), delivery_id="d-1")  # the store is read and kept

    # then each further delivery is one INSERT (the queued task runs after the test's transaction)
    for n in range(2, 5):
        with django_assert_num_queries(1):
            assert deliver(client, store, order_payload(n), delivery_id=f"d-{n}").status_code == 200
    assert WebhookDelivery.objects.count() == 4


def test_a_secret_changed_in_the_meantime_is_honoured_at_once(client, store):
    # given a store kept by this process after a delivery
    assert deliver(client, store, order_payload(1)).status_code == 200

    # when its secret is rotated and the shop signs with the new one
    Store.objects.filter(pk=store.pk).update(webhook_secret="RotatedSecret123")
    response = deliver(client, store, order_payload(2), secret="RotatedSecret123")

    # then it is accepted, and the old secret no longer is
    assert response.status_code == 200
    assert deliver(client, store, order_payload(3)).status_code == 401
    assert WebhookDelivery.objects.count() == 2


@pytest.mark.django_db(transaction=True)  # autocommit, as in production: the foreign key is checked at once
def test_a_store_deleted_in_the_meantime_is_404(client):
    store = StoreFactory()
    assert deliver(client, store, order_payload(1)).status_code == 200  # kept (and applied: tasks run inline)
    Order.objects.all().delete()
    Store.objects.filter(pk=store.pk).delete()  # its deliveries go with it

    response = deliver(client, store, order_payload(2))

    assert response.status_code == 404
    assert WebhookDelivery.objects.count() == 0


def test_a_signed_delivery_of_another_content_type_is_refused(client, store):
    # Given a signed order posted as text/plain (WooCommerce sends its JSON as application/json)
    body = encode(order_payload(woo_id=5))
    headers = {"X-WC-Webhook-Topic": "order.updated",
               "X-WC-Webhook-Signature": signature_for(body, store.webhook_secret)}

    # When it arrives, then it is refused and nothing is stored
    response = client.post(url(store), data=body, content_type="text/plain", headers=headers)
    assert response.status_code == 415
    assert not WebhookDelivery.objects.exists()


def test_a_signed_order_with_bytes_that_are_not_utf8_is_kept_failed_not_applied(
        client, store, django_capture_on_commit_callbacks):
    # Given a signed order with bytes that are no UTF-8 in a string (read with U+FFFD it was valid, and applied)
    body = encode(order_payload(woo_id=5)).replace(b'"id": 5', b'"id": 5, "x": "\xff\xfe"', 1)

    # When it arrives, then it is acknowledged, kept failed with the reason, and no order is made
    assert deliver_and_apply(client, store, body, django_capture_on_commit_callbacks).status_code == 200
    delivery = WebhookDelivery.objects.get()
    assert delivery.state == DeliveryState.FAILED and delivery.error.startswith("The body is not UTF-8")
    assert not Order.objects.exists()


@pytest.mark.parametrize(("body", "error"), [
    (encode({**order_payload(woo_id=5), "id": 10**19}), "is no WooCommerce order id"),
    (encode({**order_payload(woo_id=5), "meta_data": json.loads('{"a":' * 3000 + "1" + "}" * 3000)}),
     "nests deeper than 64 levels"),
    (b'{"a":' * 100_000 + b"1" + b"}" * 100_000, "nests deeper than 64 levels"),
])
def test_a_signed_body_out_of_range_or_nested_thousands_deep_is_failed_not_retried_forever(
        client, store, body, error, django_capture_on_commit_callbacks):
    # Given a signed delivery whose id is past PostgreSQL's bigint (the delivery's own mark failed, so the task
    # failed and the delivery stayed received) or nested thousands deep (RecursionError in the task)
    response = deliver_and_apply(client, store, body, django_capture_on_commit_callbacks)

    # Then it is stored, and applying it fails it for good, with the reason
    assert response.status_code == 200
    delivery = WebhookDelivery.objects.get()
    assert delivery.state == DeliveryState.FAILED and error in delivery.error
    assert delivery.woo_id is None
