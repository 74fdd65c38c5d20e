"""WooCommerce refuses our key (401/403): the store's pushes wait, in order, none fails, and staff are told."""

from datetime import timedelta

import pytest
from django.urls import reverse
from django.utils import timezone

from fulfillment.choices import EventType, PushState
from fulfillment.models import OrderEvent, Store, StorePush
from fulfillment.services.orders import order_add_note, order_change_status, order_update_shipping_address
from fulfillment.services.push_dispatch import pushes_dispatch, stores_with_due_pushes
from tests.factories import StoreFactory
from tests.fulfillment.pushes import AUTH_ERROR, NEW_ADDRESS, later, mirrored, sent_requests

KEY_REFUSED = f"PUT orders/17: {AUTH_ERROR}"


@pytest.fixture(autouse=True)
def fast_password_hashing(settings):
    settings.PASSWORD_HASHERS = ["django.contrib.auth.hashers.MD5PasswordHasher"]


@pytest.fixture
def other_store(woo):
    """A second store on the same shop, whose key works."""
    return StoreFactory(slug="other", base_url=woo.url, consumer_key=woo.consumer_key,
                        consumer_secret=woo.consumer_secret)


def changes_for_two_orders(woo, store, other_store, user):
    """Four changes on two orders of the store with the bad key, one on the other store."""
    first, second = mirrored(woo, store, 17, status="processing"), mirrored(woo, store, 18, status="processing")
    order_change_status(order=first, status="on-hold", user=user)
    order_add_note(order=second, note="Photo received.", customer_note=True, user=user)
    order_add_note(order=first, note="Waiting for the customer.", customer_note=False, user=user)
    order_change_status(order=second, status="completed", user=user)
    order_change_status(order=mirrored(woo, other_store, 30, status="processing"), status="completed", user=user)


def test_a_refused_key_holds_every_push_of_the_store_fails_none_and_the_others_go(woo, woo_store, other_store,
                                                                                  ops):
    # Given a store whose key was revoked, with four pushes on two orders, and another store whose key works
    Store.objects.filter(pk=woo_store.pk).update(consumer_secret="cs_revoked")
    changes_for_two_orders(woo, woo_store, other_store, ops)

    # When they are dispatched
    before = timezone.now()
    counts = pushes_dispatch()

    # Then the bad store was asked once and stopped; the other store's push went out
    assert counts == {"key_refused": 1, "sent": 1}
    assert sent_requests(woo) == [("PUT", "orders/30")]
    # and nothing failed: every push of the bad store waits, the first with WooCommerce's reason
    pushes = list(StorePush.objects.filter(store=woo_store).order_by("pk").values_list(
        "state", "attempts", "auto_attempts", "last_error"))
    assert pushes == [(PushState.PENDING, 1, 0, KEY_REFUSED), (PushState.PENDING, 0, 0, ""),
                      (PushState.PENDING, 0, 0, ""), (PushState.PENDING, 0, 0, "")]
    assert not OrderEvent.objects.filter(type=EventType.PUSH_FAILED).exists()
    # and the store says why, and when it tries again (in 30 s: the key has just been refused)
    woo_store.refresh_from_db()
    assert woo_store.push_auth_error == KEY_REFUSED
    assert before <= woo_store.push_auth_failing_since <= timezone.now()
    assert woo_store.push_auth_retry_at - woo_store.push_auth_failing_since == timedelta(seconds=30)
    since = timezone.localtime(woo_store.push_auth_failing_since).strftime("%Y-%m-%d %H:%M")
    assert woo_store.key_refused_warning() == (
        f"WooCommerce refused our key: {KEY_REFUSED} (since {since}). Changes for WooCommerce wait until the key "
        "works again: check the REST API key in the shop and in this store's settings.")
    assert woo_store.health_warnings()[0] == woo_store.key_refused_warning()
    other_store.refresh_from_db()
    assert other_store.push_auth_error == ""


def test_pushes_held_by_a_refused_key_wait_without_knocking_and_go_in_order_once_it_works(woo, woo_store,
                                                                                        other_store, ops):
    # Given a store whose key was refused a moment ago
    Store.objects.filter(pk=woo_store.pk).update(consumer_secret="cs_revoked")
    changes_for_two_orders(woo, woo_store, other_store, ops)
    pushes_dispatch()
    woo.requests.clear()
    woo_store.refresh_from_db()
    first_retry = woo_store.push_auth_retry_at

    # When the worker runs again before the store's next try
    counts = pushes_dispatch(now=first_retry - timedelta(seconds=1))

    # Then the shop is not asked at all, and nothing changes
    assert counts == {"waiting": 4}
    assert woo.requests == []
    assert woo_store.pk not in stores_with_due_pushes(now=first_retry - timedelta(seconds=1))

    # When the key is still refused at the next try
    Store.objects.filter(pk=woo_store.pk).update(push_auth_failing_since=timezone.now() - timedelta(minutes=5))
    assert pushes_dispatch(now=first_retry + timedelta(seconds=1)) == {"key_refused": 1}

    # Then the store waits longer (as long as the key has been refused) and still nothing failed
    woo_store.refresh_from_db()
    wait = woo_store.push_auth_retry_at - timezone.now()
    assert timedelta(minutes=4, seconds=50) < wait < timedelta(minutes=5, seconds=10)
    assert StorePush.objects.get(order__woo_id=17, kind="status").attempts == 2
    assert set(StorePush.objects.filter(store=woo_store).values_list("state", flat=True)) == {PushState.PENDING}

    # When the shop's owner restores the key
    Store.objects.filter(pk=woo_store.pk).update(consumer_secret=woo.consumer_secret)
    counts = pushes_dispatch(now=later(10))

    # Then the four go out, each order's in the order they were made, and the warning is gone
    assert counts == {"sent": 4}
    assert sent_requests(woo) == [("PUT", "orders/17"), ("POST", "orders/18/notes"), ("POST", "orders/17/notes"),
                                  ("PUT", "orders/18")]
    assert (woo.orders[17]["status"], woo.orders[18]["status"]) == ("on-hold", "completed")
    woo_store.refresh_from_db()
    assert (woo_store.push_auth_error, woo_store.push_auth_failing_since, woo_store.push_auth_retry_at) == (
        "", None, None)
    assert not OrderEvent.objects.filter(type=EventType.PUSH_FAILED).exists()


def test_a_403_holds_the_pushes_as_a_401_does(woo, woo_store, ops):
    # Given a key that may only read (WooCommerce answers 403 to a write)
    order = mirrored(woo, woo_store, 17, status="processing")
    order_update_shipping_address(order=order, address=NEW_ADDRESS, user=ops)
    woo.fail_next(1, status=403, body={"code": "woocommerce_rest_cannot_edit",
                                       "message": "Sorry, you are not allowed to edit this resource.",
                                       "data": {"status": 403}})

    # When it is dispatched
    assert pushes_dispatch() == {"key_refused": 1}

    # Then it waits, and the order keeps the new address
    push = StorePush.objects.get()
    assert (push.state, push.last_error) == (
        PushState.PENDING,
        "PUT orders/17: HTTP 403 woocommerce_rest_cannot_edit: Sorry, you are not allowed to edit this resource.")
    order.refresh_from_db()
    assert order.shipping["address_1"] == "Prinsengracht 263"


def test_new_keys_saved_in_the_store_admin_send_the_held_pushes_at_once(woo, woo_store, admin_client, ops,
                                                                      django_capture_on_commit_callbacks):
    # Given a store whose key was refused, its push held back for the next try
    Store.objects.filter(pk=woo_store.pk).update(consumer_secret="cs_revoked")
    order = mirrored(woo, woo_store, 17, status="processing")
    order_change_status(order=order, status="completed", user=ops)
    pushes_dispatch()
    woo.requests.clear()

    # When staff enter the new secret in the store's settings
    form = {"name": woo_store.name, "slug": woo_store.slug, "base_url": woo_store.base_url, "timezone": "UTC",
            "currency": "EUR", "language": "en", "consumer_key": "", "consumer_secret": woo.consumer_secret,
            "webhook_secret": "",
            "auto_submit_minutes": "0", "complete_when_shipped": "on", "silence_alert_minutes": "1440",
            "fetch_concurrency": "4"}
    with django_capture_on_commit_callbacks(execute=True):
        response = admin_client.post(reverse("admin:fulfillment_store_change", args=[woo_store.pk]), form)

    # Then the held push is sent at once, and the warning is gone
    assert response.status_code == 302
    assert sent_requests(woo) == [("PUT", "orders/17")]
    assert StorePush.objects.get().state == PushState.SENT
    woo_store.refresh_from_db()
    assert (woo_store.consumer_secret, woo_store.push_auth_error) == (woo.consumer_secret, "")


def test_store_admin_without_a_key_change_does_not_touch_the_held_pushes(woo, woo_store, admin_client, ops,
                                                                       django_capture_on_commit_callbacks):
    # Given a store whose key was refused
    Store.objects.filter(pk=woo_store.pk).update(consumer_secret="cs_revoked")
    order = mirrored(woo, woo_store, 17, status="processing")
    order_change_status(order=order, status="completed", user=ops)
    pushes_dispatch()
    woo_store.refresh_from_db()
    retry_at = woo_store.push_auth_retry_at

    # When staff change another setting (the secrets left blank keep the stored ones)
    form = {"name": "Renamed", "slug": woo_store.slug, "base_url": woo_store.base_url, "timezone": "UTC",
            "currency": "EUR", "language": "en", "consumer_key": "", "consumer_secret": "", "webhook_secret": "",
            "auto_submit_minutes": "0", "complete_when_shipped": "on", "silence_alert_minutes": "1440",
            "fetch_concurrency": "4"}
    with django_capture_on_commit_callbacks(execute=True) as callbacks:
        admin_client.post(reverse("admin:fulfillment_store_change", args=[woo_store.pk]), form)

    # Then the next try stays as planned, and nothing is dispatched
    woo_store.refresh_from_db()
    assert (woo_store.name, woo_store.push_auth_retry_at) == ("Renamed", retry_at)
    assert callbacks == []
    assert StorePush.objects.get().state == PushState.PENDING


def test_the_warning_shows_on_the_pushes_list_the_store_list_and_the_dashboard(woo, woo_store, admin_client, ops):
    # Given a store whose key was refused
    Store.objects.filter(pk=woo_store.pk).update(consumer_secret="cs_revoked")
    order = mirrored(woo, woo_store, 17, status="processing")
    order_change_status(order=order, status="completed", user=ops)
    pushes_dispatch()
    woo_store.refresh_from_db()
    warning = woo_store.key_refused_warning()

    # When staff open the pushes list, the stores list and the home page
    pages = [admin_client.get(reverse(name)).content.decode()
             for name in ("admin:fulfillment_storepush_changelist", "admin:fulfillment_store_changelist",
                          "admin:index")]

    # Then each says WooCommerce refused our key, and why
    from django.utils.html import escape

    assert [escape(warning) in page for page in pages] == [True, True, True]
    assert f'<p class="errornote">⚠ {escape(warning)}</p>' in pages[0]
