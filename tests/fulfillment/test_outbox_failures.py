"""Pushes WooCommerce refuses for good: the order takes WooCommerce's value back, a later value supersedes an older
one (which can then no longer be retried into WooCommerce), and retries stop after a while."""

from datetime import timedelta

import pytest
from django.utils import timezone

from fulfillment.choices import EventSource, EventType, PushKind, PushState
from fulfillment.models import Order, OrderEvent, Store, StorePush
from fulfillment.services import push_dispatch as outbox
from fulfillment.services.orders import order_add_note, order_change_status, order_update_shipping_address
from fulfillment.pushes import PushError
from fulfillment.services.push_dispatch import push_retry, pushes_dispatch
from tests.fulfillment import production
from tests.fulfillment.pushes import (
    DOWN,
    INVALID_SHIPPING,
    INVALID_STATUS,
    NEW_ADDRESS,
    later,
    mirrored,
    refuse_next,
    sent_requests,
)

REFUSED_STATUS = "PUT orders/17: HTTP 400 rest_invalid_param: Invalid parameter(s): status"
REFUSED_SHIPPING = "PUT orders/17: HTTP 400 rest_invalid_param: Invalid parameter(s): shipping"


@pytest.fixture(autouse=True)
def fast_password_hashing(settings):
    settings.PASSWORD_HASHERS = ["django.contrib.auth.hashers.MD5PasswordHasher"]


def status_events(order, source):
    return list(OrderEvent.objects.filter(order=order, type=EventType.STATUS_CHANGED, source=source)
                .order_by("pk").values_list("data", "message"))


# -- a refused status or address: the order takes WooCommerce's value back ---------------------------------------


def test_refused_status_gives_the_order_the_status_woocommerce_has(woo, woo_store, ops):
    # Given a processing order that operations put on hold, and a shop that refuses the change
    order = mirrored(woo, woo_store, 17, status="processing")
    order_change_status(order=order, status="on-hold", user=ops)
    refuse_next(woo, INVALID_STATUS)

    # When it is dispatched
    assert pushes_dispatch() == {"failed": 1}

    # Then the order is processing again, as in WooCommerce, and the timeline says why
    order.refresh_from_db()
    assert order.status == "processing"
    assert woo.orders[17]["status"] == "processing"
    assert status_events(order, EventSource.PUSH) == [(
        {"before": "on-hold", "after": "processing"},
        f"On hold → Processing: WooCommerce refused the status change to On hold: {REFUSED_STATUS}; "
        "back to Processing",
    )]
    push = StorePush.objects.get()
    assert (push.state, push.last_error, push.superseded_by) == (PushState.FAILED, REFUSED_STATUS, None)


def test_refused_status_moves_the_countdown_with_the_status(woo, ops, settings):
    # Given an in-app order whose countdown runs, put on hold by operations (countdown paused)
    store = Store.objects.create(slug="dasto", name="Dastomize", base_url=woo.url, consumer_key=woo.consumer_key,
                                 consumer_secret=woo.consumer_secret, webhook_secret="s3cret",
                                 auto_submit_minutes=90)
    order = production.mirrored(store, 17, woo=woo, source=EventSource.WEBHOOK)
    assert order.countdown_due_at is not None
    order_change_status(order=order, status="on-hold", user=ops)
    order.refresh_from_db()
    assert (order.countdown_due_at, order.countdown_paused_seconds is not None) == (None, True)
    refuse_next(woo, INVALID_STATUS)

    # When WooCommerce refuses the on-hold
    pushes_dispatch()

    # Then the order is processing again and its countdown runs again
    order.refresh_from_db()
    assert order.status == "processing"
    assert (order.countdown_due_at is not None, order.countdown_paused_seconds) == (True, None)
    countdown = OrderEvent.objects.filter(order=order, type=EventType.COUNTDOWN).order_by("pk")
    assert [(e.source, e.message) for e in countdown][-2:] == [(EventSource.STAFF, "countdown paused"),
                                                               (EventSource.PUSH, "countdown resumed")]


def test_refused_address_gives_the_order_the_address_woocommerce_has(woo, woo_store, support):
    # Given an order shipping to Vienna, corrected to Amsterdam by support, and a shop that refuses the change
    order = mirrored(woo, woo_store, 17, country="AT", city="Wien")
    order_update_shipping_address(order=order, address=NEW_ADDRESS, user=support)
    refuse_next(woo, INVALID_SHIPPING)

    # When it is dispatched
    assert pushes_dispatch() == {"failed": 1}

    # Then the order ships to Vienna again, as in WooCommerce, and the timeline says why
    order.refresh_from_db()
    assert order.shipping == woo.orders[17]["shipping"]
    assert (order.city, order.country, order.shipping["address_1"]) == ("Wien", "AT", "Hauptstraße 2")
    event = OrderEvent.objects.get(type=EventType.ADDRESS_CHANGED, source=EventSource.PUSH)
    assert event.user is None
    assert event.message == (
        f"WooCommerce refused the shipping address change to Prinsengracht 263, 1016 GV Amsterdam, NL: "
        f"{REFUSED_SHIPPING}; back to Hauptstraße 2, 1010 Wien, AT")
    assert (event.data["before"]["city"], event.data["after"]["city"]) == ("Amsterdam", "Wien")


def test_refused_status_keeps_a_later_change_that_waits_and_is_superseded_by_it(woo, woo_store, ops):
    # Given an order put on hold, then completed, while the shop refuses the first change
    order = mirrored(woo, woo_store, 17, status="processing")
    order_change_status(order=order, status="on-hold", user=ops)
    order_change_status(order=order, status="completed", user=ops)
    on_hold, completed = StorePush.objects.order_by("pk")
    refuse_next(woo, INVALID_STATUS)

    # When they are dispatched
    assert pushes_dispatch() == {"failed": 1, "waiting": 1}

    # Then the order keeps the completed status that waits to be sent, and the refused one is superseded by it
    order.refresh_from_db()
    assert order.status == "completed"
    assert status_events(order, EventSource.PUSH) == []
    on_hold.refresh_from_db()
    assert (on_hold.state, on_hold.superseded_by, on_hold.last_error) == (PushState.SUPERSEDED, completed,
                                                                           REFUSED_STATUS)
    assert OrderEvent.objects.filter(type=EventType.PUSH_FAILED).count() == 1

    # And the later one goes out next
    assert pushes_dispatch() == {"sent": 1}
    assert woo.orders[17]["status"] == "completed"


def test_refused_status_after_the_field_changed_otherwise_changes_nothing(woo, woo_store, ops):
    # Given a status push, after which the order was changed again here without a status push (a full refund)
    order = mirrored(woo, woo_store, 17, status="processing")
    order_change_status(order=order, status="on-hold", user=ops)
    Order.objects.filter(pk=order.pk).update(status="refunded")
    refuse_next(woo, INVALID_STATUS)

    # When the status push is refused
    pushes_dispatch()

    # Then the order keeps what it has now
    order.refresh_from_db()
    assert order.status == "refunded"
    assert status_events(order, EventSource.PUSH) == []


# -- a later value supersedes an older one: the older can no longer be retried --------------------------------------


def test_retry_of_a_status_that_a_later_one_replaced_is_refused_and_names_it(woo, woo_store, ops,
                                                                            django_capture_on_commit_callbacks):
    # Given an on-hold push the shop refused, then a completed push that was sent
    order = mirrored(woo, woo_store, 17, status="processing")
    order_change_status(order=order, status="on-hold", user=ops)
    refuse_next(woo, INVALID_STATUS)
    pushes_dispatch()
    on_hold = StorePush.objects.get()
    assert on_hold.state == PushState.FAILED
    order_change_status(order=order, status="completed", user=ops)
    completed = StorePush.objects.latest("pk")
    assert pushes_dispatch() == {"sent": 1}
    on_hold.refresh_from_db()
    assert (on_hold.state, on_hold.superseded_by) == (PushState.SUPERSEDED, completed)
    woo.requests.clear()

    # When operations retry the on-hold one
    with django_capture_on_commit_callbacks(execute=True) as callbacks, pytest.raises(PushError) as raised:
        push_retry(push=on_hold, user=ops)

    # Then it is refused, naming the later push; WooCommerce and the order stay completed
    assert str(raised.value) == (
        f"Push #{on_hold.pk} (status: On hold) was replaced by a later one, push #{completed.pk} (Completed, sent): "
        "sending it again would set WooCommerce back to older data. Make the change again on the order page if it "
        "is still wanted.")
    assert callbacks == []
    assert woo.requests == []
    assert woo.orders[17]["status"] == "completed"
    order.refresh_from_db()
    assert order.status == "completed"
    on_hold.refresh_from_db()
    assert on_hold.state == PushState.SUPERSEDED
    assert not OrderEvent.objects.filter(type=EventType.PUSH_RETRIED).exists()


def test_admin_retry_of_an_address_that_a_later_one_replaced_is_refused_and_shown_superseded(
        woo, woo_store, admin_client, support, django_capture_on_commit_callbacks):
    # Given an address push the shop refused, then another address for the same order, still waiting
    order = mirrored(woo, woo_store, 17)
    order_update_shipping_address(order=order, address=NEW_ADDRESS, user=support)
    refuse_next(woo, INVALID_SHIPPING)
    pushes_dispatch()
    first = StorePush.objects.get()
    order_update_shipping_address(order=order, address={**NEW_ADDRESS, "address_1": "Keizersgracht 1"}, user=support)
    second = StorePush.objects.latest("pk")

    # When staff select the first for a retry in the pushes list
    with django_capture_on_commit_callbacks(execute=True):
        response = admin_client.post("/admin/fulfillment/storepush/",
                                     {"action": "retry_selected", "_selected_action": [first.pk]}, follow=True)

    # Then the refusal names the later push, nothing is queued, and the list shows it superseded
    assert [str(m) for m in response.context["messages"]] == [
        f"Push #{first.pk} (shipping address: Prinsengracht 263, 1016 GV Amsterdam, NL) was replaced by a later "
        f"one, push #{second.pk} (Keizersgracht 1, 1016 GV Amsterdam, NL, waiting to be sent): sending it again "
        "would set WooCommerce back to older data. Make the change again on the order page if it is still wanted.",
        "0 pushes queued again.",
    ]
    first.refresh_from_db()
    assert first.state == PushState.SUPERSEDED
    assert f"<td class=\"field-state_shown\">Superseded by push #{second.pk}</td>" in response.content.decode()
    assert not OrderEvent.objects.filter(type=EventType.PUSH_RETRIED).exists()


def test_a_note_can_be_retried_after_later_notes_were_sent(woo, woo_store, support,
                                                           django_capture_on_commit_callbacks):
    # Given a note the shop refused, then another note that was sent
    order = mirrored(woo, woo_store, 17)
    order_add_note(order=order, note="Proof approved.", customer_note=False, user=support)
    refuse_next(woo, {"code": "woocommerce_rest_missing_note", "message": "Cannot create order note.",
                      "data": {"status": 400}})
    pushes_dispatch()
    order_add_note(order=order, note="Printing.", customer_note=False, user=support)
    pushes_dispatch()
    first = StorePush.objects.earliest("pk")
    assert first.state == PushState.FAILED

    # When support retries the first
    with django_capture_on_commit_callbacks(execute=True):
        push_retry(push=first, user=support)

    # Then it is sent: a note adds, it replaces nothing
    first.refresh_from_db()
    assert (first.state, first.superseded_by) == (PushState.SENT, None)
    assert [n["note"] for n in woo.notes[17]] == ["Printing.", "Proof approved."]


# -- giving up ---------------------------------------------------------------------------------------------------


def test_a_push_failing_for_three_days_and_twenty_attempts_is_given_up(woo, woo_store, ops):
    # Given a status push tried 19 times since it was queued three days ago, and a shop still down
    order = mirrored(woo, woo_store, 17, status="processing")
    order_change_status(order=order, status="completed", user=ops)
    StorePush.objects.update(state=PushState.RETRYING, attempts=19, auto_attempts=19,
                             queued_at=timezone.now() - timedelta(days=3, minutes=1))
    woo.fail_next(1, status=503)

    # When the 20th attempt fails
    assert pushes_dispatch() == {"failed": 1}

    # Then it is failed with the reason, for staff to retry; the order takes WooCommerce's status back
    push = StorePush.objects.get()
    assert (push.state, push.attempts, push.last_error) == (
        PushState.FAILED, 20, f"gave up after 20 attempts: PUT orders/17: {DOWN}")
    failed = OrderEvent.objects.get(type=EventType.PUSH_FAILED)
    assert failed.message == f"Status not accepted by WooCommerce: gave up after 20 attempts: PUT orders/17: {DOWN}"
    order.refresh_from_db()
    assert order.status == "processing"

    # And staff can retry it: it starts a new round of attempts
    push = push_retry(push=push, user=ops)
    assert (push.state, push.auto_attempts, push.attempts, push.last_error) == (PushState.PENDING, 0, 20, "")
    assert timezone.now() - push.queued_at < timedelta(minutes=1)
    assert pushes_dispatch() == {"sent": 1}
    assert woo.orders[17]["status"] == "completed"


@pytest.mark.parametrize(("attempts", "age"), [(19, timedelta(days=4)), (40, timedelta(days=2, hours=23))])
def test_a_push_is_not_given_up_before_twenty_attempts_and_three_days(woo, woo_store, ops, attempts, age,
                                                                      monkeypatch):
    # Given a status push with many attempts, or a long time, but not both
    monkeypatch.setattr(outbox.random, "random", lambda: 0.0)
    order = mirrored(woo, woo_store, 17, status="processing")
    order_change_status(order=order, status="completed", user=ops)
    StorePush.objects.update(state=PushState.RETRYING, attempts=attempts - 1, auto_attempts=attempts - 1,
                             queued_at=timezone.now() - age)
    woo.fail_next(1, status=503)

    # When the next attempt fails
    assert pushes_dispatch() == {"retrying": 1}

    # Then it will be tried again in 30 minutes
    push = StorePush.objects.get()
    assert (push.state, push.auto_attempts, push.last_error) == (PushState.RETRYING, attempts,
                                                                  f"PUT orders/17: {DOWN}")
    assert timedelta(minutes=29) < push.next_attempt_at - timezone.now() <= timedelta(minutes=30)
    assert not OrderEvent.objects.filter(type=EventType.PUSH_FAILED).exists()
    assert sent_requests(woo) == []
    assert pushes_dispatch(now=later(31)) == {"sent": 1}


def test_the_migration_marks_what_existing_pushes_already_are(woo, woo_store, ops):
    # Given pushes from before: a failed status with a later status, a failed note with a later note, a failed
    # address alone, and a note tried once and still retrying
    import importlib

    from django.apps import apps

    order = mirrored(woo, woo_store, 17)

    def old_push(kind, state, attempts=1):
        return StorePush.objects.create(store=woo_store, order=order, kind=kind, payload={}, state=state,
                                        attempts=attempts, next_attempt_at=timezone.now())

    replaced, also_replaced, newest = (old_push(PushKind.STATUS, PushState.FAILED),
                                       old_push(PushKind.STATUS, PushState.FAILED),
                                       old_push(PushKind.STATUS, PushState.SENT))
    note, _ = old_push(PushKind.NOTE, PushState.FAILED), old_push(PushKind.NOTE, PushState.SENT)
    address = old_push(PushKind.ADDRESS, PushState.FAILED)
    retrying = old_push(PushKind.NOTE, PushState.RETRYING, attempts=3)
    StorePush.objects.update(auto_attempts=0, maybe_sent=False)

    # When the migration's data step runs
    importlib.import_module("fulfillment.migrations.0017_outbox_exactness").forwards(apps, None)

    # Then only the replaced status pushes are superseded, by the newest, and the retrying note will look first
    states = {p.pk: (p.state, p.superseded_by_id, p.maybe_sent, p.auto_attempts, p.queued_at == p.created_at)
              for p in StorePush.objects.all()}
    assert states[replaced.pk] == (PushState.SUPERSEDED, newest.pk, False, 1, True)
    assert states[also_replaced.pk] == (PushState.SUPERSEDED, newest.pk, False, 1, True)
    assert states[note.pk] == (PushState.FAILED, None, False, 1, True)
    assert states[address.pk] == (PushState.FAILED, None, False, 1, True)
    assert states[retrying.pk] == (PushState.RETRYING, None, True, 3, True)
    assert states[newest.pk][:2] == (PushState.SENT, None)
