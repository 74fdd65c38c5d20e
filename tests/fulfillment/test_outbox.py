from datetime import timedelta
from io import StringIO

import pytest
from django.core.management import call_command
from django.db import transaction
from django.utils import timezone

from fulfillment.choices import EventSource, EventType, PushKind, PushState, status_label
from fulfillment.models import Order, OrderEvent, Store, StorePush
from fulfillment.services import push_dispatch as outbox
from fulfillment.services.mirror import orders_upsert
from fulfillment.errors import OrderActionError
from fulfillment.services.orders import (
    order_add_note,
    order_change_status,
    order_update_shipping_address,
)
from fulfillment.pushes import PushError
from fulfillment.services.push_dispatch import backoff, push_retry, pushes_dispatch
from tests.factories import OrderFactory, UserFactory
from tests.fulfillment.pushes import (
    AUTH_ERROR,
    DOWN,
    INVALID_STATUS,
    NEW_ADDRESS,
    later,
    mirrored,
    refuse_next,
    sent_requests,
    staff,
)


@pytest.fixture(autouse=True)
def fast_password_hashing(settings):
    # Staff users and admin_client are made with a password: the default hasher costs half a second each.
    settings.PASSWORD_HASHERS = ["django.contrib.auth.hashers.MD5PasswordHasher"]


@pytest.fixture
def user(db):
    return UserFactory(username="support")


# -- the services write the push with the local change ---------------------------------------------


def test_change_status_writes_the_push_and_the_event_with_the_change(woo, woo_store, user,
                                                                     django_capture_on_commit_callbacks):
    # Given a processing order
    order = mirrored(woo, woo_store, 17, status="processing")

    # When support completes it
    with django_capture_on_commit_callbacks() as callbacks:
        order_change_status(order=order, status="completed", user=user, note="sent by courier")

    # Then the order, its event and its push are written together, and sending waits for the commit
    order.refresh_from_db()
    assert order.status == "completed"
    push = StorePush.objects.get()
    assert (push.store, push.order, push.kind, push.payload) == (woo_store, order, PushKind.STATUS,
                                                                 {"status": "completed"})
    assert (push.state, push.attempts, push.created_by, push.last_error) == (PushState.PENDING, 0, user, "")
    assert push.next_attempt_at <= timezone.now()
    event = OrderEvent.objects.get(type=EventType.STATUS_CHANGED)
    assert (event.user, event.source, event.data) == (user, EventSource.STAFF,
                                                      {"before": "processing", "after": "completed"})
    assert event.message == "Processing → Completed: sent by courier"
    assert len(callbacks) == 1
    assert woo.requests == []


def test_change_status_is_sent_to_the_shop_after_the_commit(woo, woo_store, user,
                                                            django_capture_on_commit_callbacks):
    # Given a processing order
    order = mirrored(woo, woo_store, 17, status="processing")

    # When support completes it and the transaction commits
    with django_capture_on_commit_callbacks(execute=True):
        order_change_status(order=order, status="completed", user=user)

    # Then the queued task sent it, the shop has it and the timeline says so
    push = StorePush.objects.get()
    assert (push.state, push.attempts, push.last_error) == (PushState.SENT, 1, "")
    assert push.sent_at is not None
    assert push.response["status"] == "completed"
    assert sent_requests(woo) == [("PUT", "orders/17")]
    assert woo.orders[17]["status"] == "completed"
    sent = OrderEvent.objects.get(type=EventType.PUSH_SENT)
    assert (sent.source, sent.message, sent.data) == (
        EventSource.PUSH, "Status sent to WooCommerce (attempt 1)", {"push_id": push.pk, "kind": "status"},
    )
    # the shop's answer is mirrored: same status, so no second status event
    order.refresh_from_db()
    assert order.status == "completed"
    assert order.raw["date_modified_gmt"] == woo.orders[17]["date_modified_gmt"]
    assert OrderEvent.objects.filter(type=EventType.STATUS_CHANGED).count() == 1


def test_add_note_writes_a_push_and_the_shop_gets_the_note(woo, woo_store, user,
                                                           django_capture_on_commit_callbacks):
    # Given an order
    order = mirrored(woo, woo_store, 17)

    # When support adds a note for the customer
    with django_capture_on_commit_callbacks() as callbacks:
        order_add_note(order=order, note="  Your mug ships tomorrow.  ", customer_note=True, user=user)

    # Then an event and a push are written
    push = StorePush.objects.get()
    assert (push.kind, push.payload, push.created_by) == (
        PushKind.NOTE, {"note": "Your mug ships tomorrow.", "customer_note": True}, user,
    )
    event = OrderEvent.objects.get(type=EventType.NOTE_ADDED)
    assert (event.user, event.message, event.data) == (user, "Your mug ships tomorrow.", {"customer_note": True})
    assert woo.requests == []

    # And when the commit's task runs, the shop has the note
    callbacks[0]()
    assert sent_requests(woo) == [("POST", "orders/17/notes")]
    assert [(n["note"], n["customer_note"]) for n in woo.notes[17]] == [("Your mug ships tomorrow.", True)]
    push.refresh_from_db()
    assert (push.state, push.response) == (PushState.SENT, woo.notes[17][0])


def test_empty_note_is_refused_and_writes_nothing(woo, woo_store, user, django_capture_on_commit_callbacks):
    order = mirrored(woo, woo_store, 17)

    with django_capture_on_commit_callbacks() as callbacks, pytest.raises(OrderActionError) as raised:
        order_add_note(order=order, note="   ", customer_note=False, user=user)

    assert str(raised.value) == "The note is empty."
    assert raised.value.errors == {"note": "Write the note."}
    assert StorePush.objects.count() == 0
    assert OrderEvent.objects.exclude(type=EventType.CREATED).count() == 0
    assert callbacks == []


def test_update_shipping_address_writes_a_push_and_the_shop_gets_it(woo, woo_store, user,
                                                                    django_capture_on_commit_callbacks):
    # Given an order shipping to Vienna
    order = mirrored(woo, woo_store, 17, country="AT", city="Wien")

    # When support corrects the address
    with django_capture_on_commit_callbacks(execute=True):
        order_update_shipping_address(order=order, address=NEW_ADDRESS, user=user)

    # Then the order, its event and its push carry the cleaned address
    cleaned = {**NEW_ADDRESS, "country": "NL"}
    push = StorePush.objects.get()
    assert (push.kind, push.payload, push.created_by) == (PushKind.ADDRESS, {"shipping": cleaned}, user)
    event = OrderEvent.objects.get(type=EventType.ADDRESS_CHANGED)
    assert event.user == user
    assert event.data["after"] == cleaned
    assert (event.data["before"]["city"], event.data["before"]["country"]) == ("Wien", "AT")
    # and the shop has it
    assert push.state == PushState.SENT
    assert sent_requests(woo) == [("PUT", "orders/17")]
    assert {k: woo.orders[17]["shipping"][k] for k in cleaned} == cleaned
    order.refresh_from_db()
    assert (order.city, order.country, order.shipping["address_1"]) == ("Amsterdam", "NL", "Prinsengracht 263")


@pytest.mark.parametrize(("address", "errors"), [
    ({**NEW_ADDRESS, "first_name": "", "address_1": "  ", "postcode": None},
     {"first_name": "This field is required.", "address_1": "This field is required.",
      "postcode": "This field is required."}),
    ({**NEW_ADDRESS, "country": "Netherlands"},
     {"country": "Netherlands is not a country code: use the two-letter ISO code, e.g. NL, FR, IT, GB."}),
    ({**NEW_ADDRESS, "country": "N1"}, {"country": "N1 is not a country code: use the two-letter ISO code, e.g. NL, "
                                                  "FR, IT, GB."}),
    ({**NEW_ADDRESS, "country": "zz"}, {"country": "zz is not a country code: use the two-letter ISO code, e.g. NL, "
                                                  "FR, IT, GB."}),
    ({**NEW_ADDRESS, "country": "CA", "state": " "}, {"state": "Addresses in CA need a state or province."}),
    ({"city": "Amsterdam"},
     {"first_name": "This field is required.", "last_name": "This field is required.",
      "address_1": "This field is required.", "postcode": "This field is required.",
      "country": "This field is required."}),
])
def test_incomplete_or_wrong_address_is_refused_per_field_and_writes_nothing(
        woo, woo_store, user, address, errors, django_capture_on_commit_callbacks):
    # Given an order shipping to Vienna
    order = mirrored(woo, woo_store, 17, country="AT", city="Wien")
    shipping = dict(order.shipping)

    # When support saves a wrong address
    with django_capture_on_commit_callbacks() as callbacks, pytest.raises(OrderActionError) as raised:
        order_update_shipping_address(order=order, address=address, user=user)

    # Then each wrong field is named, and nothing is written or sent
    assert str(raised.value) == "The address was not saved: correct the fields marked below."
    assert raised.value.errors == errors
    order.refresh_from_db()
    assert (order.shipping, order.city, order.country) == (shipping, "Wien", "AT")
    assert StorePush.objects.count() == 0
    assert OrderEvent.objects.exclude(type=EventType.CREATED).count() == 0
    assert callbacks == []


@pytest.mark.parametrize(("before", "after"), [
    ("refunded", "processing"),
    ("processing", "processing"),
    ("completed", "pending"),
    ("checkout-draft", "processing"),
])
def test_rejected_transition_raises_and_writes_nothing(woo, woo_store, user, before, after,
                                                       django_capture_on_commit_callbacks):
    # Given an order in a status that cannot go to `after`
    order = mirrored(woo, woo_store, 17, status=before)

    # When staff try anyway
    with django_capture_on_commit_callbacks() as callbacks, pytest.raises(OrderActionError) as raised:
        order_change_status(order=order, status=after, user=user)

    # Then it is refused, and no push, no event, no task
    assert str(raised.value).startswith("An order in status ")
    assert str(raised.value).endswith(f" cannot be moved to {status_label(after)}.")
    order.refresh_from_db()
    assert order.status == before
    assert StorePush.objects.count() == 0
    assert OrderEvent.objects.exclude(type=EventType.CREATED).count() == 0
    assert callbacks == []


def test_refunded_to_processing_names_both_statuses(woo, woo_store, user):
    order = mirrored(woo, woo_store, 17, status="refunded")

    with pytest.raises(OrderActionError) as raised:
        order_change_status(order=order, status="processing", user=user)

    assert str(raised.value) == "An order in status Refunded cannot be moved to Processing."


def test_trashed_order_cannot_change_status(woo, woo_store, user):
    order = OrderFactory(store=woo_store, woo_id=17, status="processing", trashed=True)

    with pytest.raises(OrderActionError):
        order_change_status(order=order, status="completed", user=user)

    assert StorePush.objects.count() == 0


def test_custom_status_may_go_back_to_processing(woo, woo_store, user, django_capture_on_commit_callbacks):
    # Given an order in a status the shop registered itself
    order = mirrored(woo, woo_store, 17, status="custom-printing")

    # When staff move it back to processing
    with django_capture_on_commit_callbacks(execute=True):
        order_change_status(order=order, status="processing", user=user)

    # Then it is allowed and sent
    assert StorePush.objects.get().state == PushState.SENT
    assert woo.orders[17]["status"] == "processing"


def test_rolled_back_transaction_leaves_no_push(woo, woo_store, user, django_capture_on_commit_callbacks):
    # Given an order
    order = mirrored(woo, woo_store, 17, status="processing")

    # When the status change is part of a transaction that fails afterwards
    with django_capture_on_commit_callbacks(execute=True) as callbacks, pytest.raises(RuntimeError):
        with transaction.atomic():
            order_change_status(order=order, status="completed", user=user)
            order_add_note(order=order, note="Completed by hand", customer_note=False, user=user)
            raise RuntimeError("the rest of the action failed")

    # Then neither change nor push nor event survives, and nothing was sent
    order.refresh_from_db()
    assert order.status == "processing"
    assert StorePush.objects.count() == 0
    assert OrderEvent.objects.exclude(type=EventType.CREATED).count() == 0
    assert callbacks == []
    assert woo.requests == []


# -- sending, retrying, failing ----------------------------------------------------------------------


def test_backoff_doubles_from_30_seconds_up_to_30_minutes(monkeypatch):
    monkeypatch.setattr(outbox.random, "random", lambda: 0.0)

    assert [backoff(n) for n in range(0, 9)] == [30, 30, 60, 120, 240, 480, 960, 1800, 1800]


def test_backoff_jitter_adds_at_most_a_tenth(monkeypatch):
    monkeypatch.setattr(outbox.random, "random", lambda: 0.999)

    assert backoff(1) == pytest.approx(30 * 1.0999)
    assert backoff(20) == pytest.approx(1800 * 1.0999)


def test_push_waits_while_the_shop_answers_503_and_is_sent_when_it_is_back(woo, woo_store, user, monkeypatch):
    # Given a status push, and a shop that answers 503
    monkeypatch.setattr(outbox.random, "random", lambda: 0.0)
    order = mirrored(woo, woo_store, 17, status="processing")
    order_change_status(order=order, status="completed", user=user)
    woo.fail_next(1, status=503)

    # When it is dispatched
    before = timezone.now()
    counts = pushes_dispatch()

    # Then it will be retried in 30 s, with the reason kept, and nothing is lost
    assert counts == {"retrying": 1}
    push = StorePush.objects.get()
    assert (push.state, push.attempts, push.last_error) == (PushState.RETRYING, 1, f"PUT orders/17: {DOWN}")
    assert before + timedelta(seconds=30) <= push.next_attempt_at <= timezone.now() + timedelta(seconds=30)
    assert woo.orders[17]["status"] == "processing"
    assert not OrderEvent.objects.filter(type__in=[EventType.PUSH_SENT, EventType.PUSH_FAILED]).exists()

    # And a dispatch before that time leaves it alone
    assert pushes_dispatch() == {"waiting": 1}
    assert woo.requests == []

    # And once the time has passed and the shop is back, it is sent
    assert pushes_dispatch(now=push.next_attempt_at + timedelta(seconds=1)) == {"sent": 1}
    push.refresh_from_db()
    assert (push.state, push.attempts, push.last_error) == (PushState.SENT, 2, "")
    assert sent_requests(woo) == [("PUT", "orders/17")]
    assert woo.orders[17]["status"] == "completed"
    assert OrderEvent.objects.get(type=EventType.PUSH_SENT).message == "Status sent to WooCommerce (attempt 2)"


def test_each_failed_attempt_waits_twice_as_long(woo, woo_store, user, monkeypatch):
    # Given a note push and a shop down for three attempts
    monkeypatch.setattr(outbox.random, "random", lambda: 0.0)
    order = mirrored(woo, woo_store, 17)
    order_add_note(order=order, note="Checking the print file.", customer_note=False, user=user)
    woo.fail_next(3)

    # When it is dispatched each time it is due
    waits = []
    for _ in range(3):
        push = StorePush.objects.get()
        pushes_dispatch(now=push.next_attempt_at + timedelta(seconds=1))
        push.refresh_from_db()
        waits.append(round((push.next_attempt_at - timezone.now()).total_seconds()))

    # Then it waited 30, 60, 120 s, and is still there to be sent
    assert waits == [30, 60, 120]
    assert (push.state, push.attempts) == (PushState.RETRYING, 3)
    assert pushes_dispatch(now=later()) == {"sent": 1}
    assert [n["note"] for n in woo.notes[17]] == ["Checking the print file."]


def test_pushes_of_one_order_go_out_in_creation_order_after_a_failure(woo, woo_store, user):
    # Given three changes to one order: status, note, address
    order = mirrored(woo, woo_store, 17, status="processing")
    order_change_status(order=order, status="on-hold", user=user)
    order_add_note(order=order, note="Waiting for the customer's photo.", customer_note=True, user=user)
    order_update_shipping_address(order=order, address=NEW_ADDRESS, user=user)
    first, second, third = StorePush.objects.order_by("pk")
    # and a shop that fails the first attempt
    woo.fail_next(1)

    # When they are dispatched: the first fails, the others must not overtake it
    assert pushes_dispatch() == {"retrying": 1}
    assert list(StorePush.objects.order_by("pk").values_list("state", "attempts")) == [
        (PushState.RETRYING, 1), (PushState.PENDING, 0), (PushState.PENDING, 0),
    ]
    assert woo.requests == []

    # And later all go, in the order they were made
    assert pushes_dispatch(now=later()) == {"sent": 3}
    assert sent_requests(woo) == [("PUT", "orders/17"), ("POST", "orders/17/notes"), ("PUT", "orders/17")]
    assert woo.orders[17]["status"] == "on-hold"
    assert woo.notes[17][0]["note"] == "Waiting for the customer's photo."
    assert woo.orders[17]["shipping"]["address_1"] == "Prinsengracht 263"
    sent_at = [p.sent_at for p in StorePush.objects.order_by("pk")]
    assert sent_at == sorted(sent_at)


def test_a_retryable_error_on_one_order_does_not_hold_up_the_others(woo, woo_store, user):
    # Given two pushes for order 17 and one for order 18
    first_order = mirrored(woo, woo_store, 17, status="processing")
    second_order = mirrored(woo, woo_store, 18, status="processing")
    order_change_status(order=first_order, status="completed", user=user)
    order_add_note(order=first_order, note="Thank you!", customer_note=True, user=user)
    order_change_status(order=second_order, status="on-hold", user=user)
    # and a host that throttles the first request (429 with a JSON body: the shop itself is up)
    woo.fail_next(1, status=429, body={"code": "too_many_requests", "message": "Slow down.", "data": {"status": 429}})

    # When they are dispatched
    counts = pushes_dispatch()

    # Then order 17 waits behind its failed push, and order 18 is sent
    assert counts == {"retrying": 1, "waiting": 1, "sent": 1}
    assert sent_requests(woo) == [("PUT", "orders/18")]
    assert list(StorePush.objects.order_by("pk").values_list("order__woo_id", "state")) == [
        (17, PushState.RETRYING), (17, PushState.PENDING), (18, PushState.SENT),
    ]
    assert StorePush.objects.get(state=PushState.RETRYING).last_error == (
        "PUT orders/17: HTTP 429 too_many_requests: Slow down."
    )


def test_wrong_keys_hold_the_push_without_failing_it_and_tell_staff(woo, woo_store, user):
    # Given a store whose consumer secret is wrong, and a status change
    Store.objects.filter(pk=woo_store.pk).update(consumer_secret="cs_wrong")
    order = mirrored(woo, woo_store, 17, status="processing")
    order_change_status(order=order, status="completed", user=user)

    # When it is dispatched
    assert pushes_dispatch() == {"key_refused": 1}

    # Then it waits (not failed), with WooCommerce's code and message, and the store says why
    push = StorePush.objects.get()
    assert (push.state, push.attempts, push.auto_attempts, push.last_error) == (
        PushState.PENDING, 1, 0, f"PUT orders/17: {AUTH_ERROR}")
    assert push.sent_at is None
    assert not OrderEvent.objects.filter(type=EventType.PUSH_FAILED).exists()
    woo_store.refresh_from_db()
    assert woo_store.push_auth_error == f"PUT orders/17: {AUTH_ERROR}"
    assert woo_store.health_warnings()[0].startswith(f"WooCommerce refused our key: PUT orders/17: {AUTH_ERROR}")
    # and the order keeps the change: it is still to be told to WooCommerce
    order.refresh_from_db()
    assert order.status == "completed"

    # And once the keys are right, it goes out by itself
    Store.objects.filter(pk=woo_store.pk).update(consumer_secret=woo.consumer_secret)
    assert pushes_dispatch(now=later()) == {"sent": 1}
    assert sent_requests(woo) == [("PUT", "orders/17")]
    assert woo.orders[17]["status"] == "completed"
    woo_store.refresh_from_db()
    assert (woo_store.push_auth_error, woo_store.push_auth_failing_since, woo_store.push_auth_retry_at) == (
        "", None, None)
    assert woo_store.key_refused_warning() == ""


def test_shop_error_that_is_not_retryable_fails_the_push(woo, woo_store, user):
    # Given a status the shop does not know (the fake, like WooCommerce, answers 400 rest_invalid_param)
    order = mirrored(woo, woo_store, 17, status="processing")
    StorePush.objects.create(store=woo_store, order=order, kind=PushKind.STATUS, payload={"status": "shipped"},
                             next_attempt_at=timezone.now())

    # When it is dispatched
    assert pushes_dispatch() == {"failed": 1}

    # Then it failed with the shop's reason
    push = StorePush.objects.get()
    assert (push.state, push.last_error) == (
        PushState.FAILED, "PUT orders/17: HTTP 400 rest_invalid_param: Invalid parameter(s): status",
    )
    assert woo.orders[17]["status"] == "processing"


def test_admin_retry_requeues_a_failed_push_and_it_is_sent(woo, woo_store, user, admin_client,
                                                           django_capture_on_commit_callbacks):
    # Given a push the shop refused (a plugin rejected the status for a while), fixed since
    order = mirrored(woo, woo_store, 17, status="processing")
    order_change_status(order=order, status="completed", user=user)
    refuse_next(woo, INVALID_STATUS)
    pushes_dispatch()
    push = StorePush.objects.get()
    refused = "PUT orders/17: HTTP 400 rest_invalid_param: Invalid parameter(s): status"
    assert (push.state, push.last_error) == (PushState.FAILED, refused)

    # When staff retry it from the pushes list
    with django_capture_on_commit_callbacks(execute=True) as callbacks:
        response = admin_client.post("/admin/fulfillment/storepush/",
                                     {"action": "retry_selected", "_selected_action": [push.pk]}, follow=True)

    # Then it is queued again and sent
    assert response.status_code == 200
    assert [str(m) for m in response.context["messages"]] == ["1 push queued again."]
    assert len(callbacks) == 1
    push.refresh_from_db()
    assert (push.state, push.attempts, push.last_error) == (PushState.SENT, 2, "")
    assert sent_requests(woo) == [("PUT", "orders/17")]
    assert woo.orders[17]["status"] == "completed"
    order.refresh_from_db()
    assert order.status == "completed"
    timeline = OrderEvent.objects.filter(type__in=[EventType.PUSH_FAILED, EventType.PUSH_RETRIED,
                                                   EventType.PUSH_SENT]).order_by("pk")
    assert [(e.type, e.source, e.user and e.user.username) for e in timeline] == [
        (EventType.PUSH_FAILED, EventSource.PUSH, None),
        (EventType.PUSH_RETRIED, EventSource.STAFF, "admin"),
        (EventType.PUSH_SENT, EventSource.PUSH, None),
    ]
    assert timeline[1].message == f"Status: sent again after: {refused}"


def test_admin_retry_leaves_pushes_that_did_not_fail(woo, woo_store, user, admin_client,
                                                     django_capture_on_commit_callbacks):
    # Given a push that was sent
    order = mirrored(woo, woo_store, 17, status="processing")
    order_change_status(order=order, status="completed", user=user)
    pushes_dispatch()
    push = StorePush.objects.get()

    # When staff select it for a retry
    with django_capture_on_commit_callbacks(execute=True) as callbacks:
        response = admin_client.post("/admin/fulfillment/storepush/",
                                     {"action": "retry_selected", "_selected_action": [push.pk]}, follow=True)

    # Then nothing is queued or sent again
    assert [str(m) for m in response.context["messages"]] == ["0 pushes queued again."]
    assert callbacks == []
    assert not OrderEvent.objects.filter(type=EventType.PUSH_RETRIED).exists()
    push.refresh_from_db()
    assert (push.state, push.attempts) == (PushState.SENT, 1)
    assert sent_requests(woo) == [("PUT", "orders/17")]


def test_admin_retry_needs_a_permission_to_make_changes(woo, woo_store, user, client):
    # Given a failed push, and a staff member who may only view pushes
    from django.contrib.auth.models import Permission

    order = mirrored(woo, woo_store, 17, status="processing")
    order_change_status(order=order, status="completed", user=user)
    refuse_next(woo, INVALID_STATUS)
    pushes_dispatch()
    push = StorePush.objects.get()
    user.user_permissions.add(Permission.objects.get(codename="view_storepush"))
    client.force_login(user)

    # When they try to retry it
    response = client.post("/admin/fulfillment/storepush/",
                           {"action": "retry_selected", "_selected_action": [push.pk]})

    # Then the action is not theirs, and the push stays failed
    assert response.status_code == 200
    assert "retry_selected" not in response.content.decode()
    push.refresh_from_db()
    assert push.state == PushState.FAILED
    assert not OrderEvent.objects.filter(type=EventType.PUSH_RETRIED).exists()


def test_push_retry_refuses_a_push_that_did_not_fail(woo, woo_store, user, django_capture_on_commit_callbacks):
    order = mirrored(woo, woo_store, 17, status="processing")
    order_change_status(order=order, status="completed", user=user)
    push = StorePush.objects.get()

    with django_capture_on_commit_callbacks() as callbacks, pytest.raises(PushError) as raised:
        push_retry(push=push, user=staff("operations"))

    assert str(raised.value) == "Only a failed push can be retried; this one is Waiting to be sent."
    assert callbacks == []
    assert not OrderEvent.objects.filter(type=EventType.PUSH_RETRIED).exists()
    push.refresh_from_db()
    assert push.state == PushState.PENDING


def test_push_claimed_by_a_worker_that_died_is_sent_again_later(woo, woo_store, user):
    # Given a push a worker claimed and never finished
    order = mirrored(woo, woo_store, 17, status="processing")
    order_change_status(order=order, status="completed", user=user)
    StorePush.objects.update(state=PushState.SENDING, claimed_at=timezone.now(), attempts=1)

    # Then it is left alone while the claim is fresh, and sent once it is older than the claim timeout
    assert pushes_dispatch() == {"waiting": 1}
    assert woo.requests == []
    assert pushes_dispatch(now=later(11)) == {"sent": 1}
    assert sent_requests(woo) == [("PUT", "orders/17")]
    assert StorePush.objects.get().attempts == 2


def test_dispatch_pushes_command_sends_what_is_due(woo, woo_store, user):
    order = mirrored(woo, woo_store, 17, status="processing")
    order_change_status(order=order, status="completed", user=user)
    out = StringIO()

    call_command("dispatch_pushes", stdout=out)
    call_command("dispatch_pushes", stdout=out)

    assert out.getvalue() == "sent: 1\nnothing due\n"
    assert sent_requests(woo) == [("PUT", "orders/17")]


def test_woocommerce_down_for_an_hour_loses_nothing_and_sends_each_push_once(woo, woo_store, user):
    # Given ten changes across three orders while the shop is down
    orders = {woo_id: mirrored(woo, woo_store, woo_id, status="processing") for woo_id in (17, 18, 19)}
    order_change_status(order=orders[17], status="on-hold", user=user)
    order_add_note(order=orders[18], note="Proof sent to the customer.", customer_note=True, user=user)
    order_add_note(order=orders[17], note="Waiting for a better photo.", customer_note=True, user=user)
    order_update_shipping_address(order=orders[19], address=NEW_ADDRESS, user=user)
    order_change_status(order=orders[18], status="completed", user=user)
    order_change_status(order=orders[17], status="processing", user=user)
    order_add_note(order=orders[19], note="Address corrected by phone.", customer_note=False, user=user)
    order_add_note(order=orders[17], note="Photo received, printing.", customer_note=False, user=user)
    order_change_status(order=orders[19], status="completed", user=user)
    order_change_status(order=orders[17], status="completed", user=user)
    expected = {
        17: [("PUT", "orders/17"), ("POST", "orders/17/notes"), ("PUT", "orders/17"), ("POST", "orders/17/notes"),
             ("PUT", "orders/17")],
        18: [("POST", "orders/18/notes"), ("PUT", "orders/18")],
        19: [("PUT", "orders/19"), ("POST", "orders/19/notes"), ("PUT", "orders/19")],
    }
    assert StorePush.objects.count() == 10
    woo.fail_next(1000, status=503)

    # When the worker dispatches every ten minutes for an hour
    start = timezone.now()
    for minute in range(0, 60, 10):
        pushes_dispatch(now=start + timedelta(minutes=minute))

    # Then nothing reached the shop, nothing is lost, and each round knocked only once
    assert woo.requests == []
    assert 1000 - len(woo.failures) == 6
    assert StorePush.objects.filter(state__in=[PushState.PENDING, PushState.RETRYING]).count() == 10
    assert not OrderEvent.objects.filter(type__in=[EventType.PUSH_SENT, EventType.PUSH_FAILED]).exists()

    # When the shop is back
    woo.failures.clear()
    counts = pushes_dispatch(now=start + timedelta(minutes=70))

    # Then all ten are sent, each exactly once, each order's in the order they were made
    assert counts == {"sent": 10}
    assert len(woo.requests) == 10
    for woo_id, calls in expected.items():
        assert [c for c in sent_requests(woo) if c[1].startswith(f"orders/{woo_id}")] == calls
    assert set(StorePush.objects.values_list("state", flat=True)) == {PushState.SENT}
    assert OrderEvent.objects.filter(type=EventType.PUSH_SENT).count() == 10
    assert {i: woo.orders[i]["status"] for i in expected} == {17: "completed", 18: "completed", 19: "completed"}
    assert [n["note"] for n in woo.notes[17]] == ["Waiting for a better photo.", "Photo received, printing."]
    assert woo.orders[19]["shipping"]["address_1"] == "Prinsengracht 263"
    assert dict(Order.objects.values_list("woo_id", "status")) == {17: "completed", 18: "completed",
                                                                   19: "completed"}

    # And another round sends nothing again
    assert pushes_dispatch(now=start + timedelta(minutes=80)) == {}
    assert len(woo.requests) == 10


# -- a dispatch reads what is due, in batches ------------------------------------------------------


def test_a_dispatch_reads_only_the_due_pushes_in_batches_and_keeps_each_orders_order_across_them(
        woo, woo_store, user, django_assert_max_num_queries):
    # Given 40 orders whose pushes wait for their next attempt after the shop was down (not due for an hour)
    waiting = [mirrored(woo, woo_store, 100 + n, status="processing") for n in range(40)]
    for order in waiting:
        order_change_status(order=order, status="completed", user=user)
    StorePush.objects.update(state=PushState.RETRYING, attempts=1, next_attempt_at=later(60))
    # and three orders with due pushes: 17 behind a waiting push of its own, 18 and 19 with two each
    behind = mirrored(woo, woo_store, 17, status="processing")
    order_change_status(order=behind, status="on-hold", user=user)
    StorePush.objects.filter(order=behind).update(state=PushState.RETRYING, attempts=1, next_attempt_at=later(60))
    order_add_note(order=behind, note="Waits for the status.", customer_note=False, user=user)
    for woo_id in (18, 19):
        order = mirrored(woo, woo_store, woo_id, status="processing")
        order_change_status(order=order, status="completed", user=user)
        order_add_note(order=order, note=f"Order {woo_id} is on its way.", customer_note=False, user=user)
    # and a shop that refuses the first of order 18's pushes for good (its note must then not overtake it)
    refuse_next(woo, INVALID_STATUS)

    # When one dispatch runs, reading two due pushes at a time
    counts = pushes_dispatch(batch=2)

    # Then the 41 waiting pushes and order 17's note stay where they are, untouched and not read one by one
    # (order 18's note, read in the batch after its status failed, is left out as held: the next run counts it)
    assert counts["waiting"] == 41 + 1
    assert counts["failed"] == 1 and counts["sent"] == 2
    # and order 19's status went before its note; order 18's note was not sent after its status failed
    assert sent_requests(woo) == [("PUT", "orders/19"), ("POST", "orders/19/notes")]
    assert StorePush.objects.filter(order=behind, kind=PushKind.NOTE, state=PushState.PENDING).exists()

    # And the next dispatch holds order 18's note (a note must not overtake the status it speaks of, which failed
    # for good: staff retry or discard it), and one that finds nothing to send reads no push: its queries do not
    # grow with the 42 waiting
    assert pushes_dispatch(batch=2) == {"waiting": 42, "held": 1}
    with django_assert_max_num_queries(2):
        assert pushes_dispatch(batch=2) == {"waiting": 42, "held": 1}
    assert sent_requests(woo) == [("PUT", "orders/19"), ("POST", "orders/19/notes")]


def test_a_shop_found_down_at_its_first_push_stops_the_dispatch_after_one_small_read(woo, woo_store, user):
    # Given 120 orders whose status pushes are due, and a shop that answers 503 to everything
    for n in range(120):
        order_change_status(order=mirrored(woo, woo_store, 300 + n, status="processing"), status="completed",
                            user=user)
    woo.fail_next(count=1000)

    # When a dispatch runs
    from django.db import connection
    from django.test.utils import CaptureQueriesContext
    with CaptureQueriesContext(connection) as queries:
        counts = pushes_dispatch()

    # Then it read a first batch of 50 pushes (not 500 with their orders), tried the oldest and stopped there: the
    # next read leaves the stopped shop out
    reads = [q["sql"] for q in queries.captured_queries if "fulfillment_storepush" in q["sql"]
             and q["sql"].rstrip().split(" ORDER BY ")[-1].startswith('"fulfillment_storepush"."id" ASC LIMIT')]
    assert [sql.rsplit(" ", 1)[-1] for sql in reads] == ["50", "200"]
    assert 'NOT ("fulfillment_storepush"."store_id" IN' in reads[1]
    assert counts["retrying"] == 1
    assert StorePush.objects.filter(state=PushState.RETRYING).count() == 1
    assert StorePush.objects.filter(state=PushState.PENDING).count() == 119
