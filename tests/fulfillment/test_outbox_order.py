"""Order within one order past a failure: a push WooCommerce refused for good holds the order's later pushes that
must not overtake it (outbox.HOLDS: a status after a refund, a note after a status) until staff retry or discard
it; what does not depend on it (a note after a note, meta data of another app) goes on."""

import pytest
from django.urls import reverse

from fulfillment.choices import EventType, PushKind, PushState
from fulfillment.models import OrderEvent, StorePush
from fulfillment.pushes import PushError
from fulfillment.selectors import order_timeline
from fulfillment.services.orders import order_add_note, order_change_status
from fulfillment.services.outbox import push_create
from fulfillment.services.push_dispatch import push_discard, push_retry, pushes_dispatch, stores_with_due_pushes
from fulfillment.services.refunds import order_refund
from tests.fulfillment.pushes import mirrored, sent_requests, staff
from tests.fulfillment.test_outbox_retry import failed_push


@pytest.fixture(autouse=True)
def fast_password_hashing(settings):
    settings.PASSWORD_HASHERS = ["django.contrib.auth.hashers.MD5PasswordHasher"]


def held_message(failed, kind):
    return (f"Waiting behind push #{failed.pk} ({kind}), which WooCommerce did not accept: retry or discard that one "
            "in the outbox, and this one follows.")


def test_a_status_waits_behind_a_refused_refund_and_follows_it_when_finance_retry(woo, woo_store):
    # Given a refund WooCommerce refused for good, then operations complete the order
    refund = failed_push(woo, woo_store, PushKind.REFUND)
    woo.requests.clear()
    order_change_status(order=refund.order, status="completed", user=staff("operations"))
    status = StorePush.objects.get(kind=PushKind.STATUS)

    # When the pushes are dispatched, now and later
    assert pushes_dispatch() == {"held": 1}
    assert pushes_dispatch() == {"held": 1}

    # Then the status has not overtaken the refund: nothing reached the shop, and staff read why
    assert sent_requests(woo) == []
    status.refresh_from_db()
    assert (status.state, status.attempts) == (PushState.PENDING, 0)
    entry = next(e for e in order_timeline(refund.order) if e.get("push") == status)
    assert (entry["source"], entry["message"]) == ("Held", held_message(refund, "refund"))
    assert stores_with_due_pushes() == []

    # When finance retry the refund
    push_retry(push=refund, user=staff("finance"))
    assert pushes_dispatch() == {"sent": 2}

    # Then the refund goes first (looked for, then made), the status after it
    assert sent_requests(woo) == [("GET", "orders/17/refunds"), ("POST", "orders/17/refunds"), ("PUT", "orders/17")]
    assert woo.orders[17]["status"] == "completed"
    assert len(woo.refunds[17]) == 1


def test_a_note_waits_behind_a_refused_status_and_goes_once_operations_discard_it(woo, woo_store,
                                                                                   django_capture_on_commit_callbacks):
    # Given a status change WooCommerce refused for good, then a customer note about it
    status = failed_push(woo, woo_store, PushKind.STATUS)
    woo.requests.clear()
    order_add_note(order=status.order, note="Your order is complete.", customer_note=True, user=staff("support"))
    assert pushes_dispatch() == {"held": 1}
    assert sent_requests(woo) == []

    # When operations discard the refused status (they looked in WooCommerce)
    ops = staff("operations")
    with django_capture_on_commit_callbacks() as callbacks:
        push_discard(push=status, user=ops)

    # Then it is discarded with their name on the timeline, a dispatch is queued, and the note goes out once
    status.refresh_from_db()
    assert status.state == PushState.DISCARDED
    assert [(e.user, e.data["push_id"]) for e in OrderEvent.objects.filter(type=EventType.PUSH_DISCARDED)] == [
        (ops, status.pk)]
    assert len(callbacks) == 1
    assert pushes_dispatch() == {"sent": 1}
    assert sent_requests(woo) == [("POST", "orders/17/notes")]
    assert [n["note"] for n in woo.notes[17]] == ["Your order is complete."]


def test_a_failed_status_holds_the_later_note_and_refund_of_its_order_and_no_other_order(woo, woo_store):
    # Given a refused status on order 17, then a note and a refund on it, and a note on order 18
    status = failed_push(woo, woo_store, PushKind.STATUS, woo_id=17)
    woo.requests.clear()
    order_add_note(order=status.order, note="Shipped.", customer_note=True, user=staff("support"))
    line = status.order.lines.get()
    order_refund(order=status.order, amounts={}, quantities={line.woo_line_id: "1"}, reason="broken",
                 restock=False, user=staff("finance"))
    other = mirrored(woo, woo_store, 18)
    order_add_note(order=other, note="Shipped.", customer_note=True, user=staff("support"))

    # When they are dispatched
    assert pushes_dispatch() == {"held": 2, "sent": 1}

    # Then only the other order's note went
    assert sent_requests(woo) == [("POST", "orders/18/notes")]


def test_what_does_not_depend_on_a_failed_push_is_not_held(woo, woo_store):
    # Given a refused note, then another note and the invoice number written to the order's meta; and a refused
    # refund, then another refund (checked against what remained when it was made)
    note = failed_push(woo, woo_store, PushKind.NOTE, woo_id=17)
    refund = failed_push(woo, woo_store, PushKind.REFUND, woo_id=18)
    woo.requests.clear()
    order_add_note(order=note.order, note="Printing.", customer_note=False, user=staff("support"))
    push_create(order=note.order, kind=PushKind.META, payload={"meta": {"_invoice_number": "2026-0001"}})
    order_refund(order=refund.order, amounts={}, quantities={refund.order.lines.get().woo_line_id: "1"},
                 reason="again", restock=False, user=staff("finance"))

    # When they are dispatched
    assert pushes_dispatch() == {"sent": 3}

    # Then all went
    assert sent_requests(woo) == [("POST", "orders/17/notes"), ("PUT", "orders/17"), ("POST", "orders/18/refunds")]
    assert {"key": "_invoice_number", "value": "2026-0001"} in [
        {k: m[k] for k in ("key", "value")} for m in woo.orders[17]["meta_data"]]


def test_only_a_failed_push_is_discarded_and_only_by_a_role_that_may_make_the_change(woo, woo_store):
    # Given a refused refund, and a pending note behind it
    refund = failed_push(woo, woo_store, PushKind.REFUND)
    order_add_note(order=refund.order, note="Sorry!", customer_note=True, user=staff("support"))
    note = StorePush.objects.get(kind=PushKind.NOTE)

    # When support try to discard the refund, and finance the pending note
    with pytest.raises(PushError) as not_theirs:
        push_discard(push=refund, user=staff("support"))
    with pytest.raises(PushError) as not_failed:
        push_discard(push=note, user=staff("support"))

    # Then both are refused with the reason, and nothing changed
    assert str(not_theirs.value) == ("You may not discard this refund push: that needs the permission to make the "
                                     "change (fulfillment.refund_order).")
    assert str(not_failed.value) == "Only a failed push can be discarded; this one is Waiting to be sent."
    assert list(StorePush.objects.order_by("pk").values_list("state", flat=True)) == [PushState.FAILED,
                                                                                    PushState.PENDING]
    assert not OrderEvent.objects.filter(type=EventType.PUSH_DISCARDED).exists()


def test_the_outbox_list_shows_a_held_push_and_discards_the_failed_one(woo, woo_store, client):
    # Given a refused status, and a note held behind it
    status = failed_push(woo, woo_store, PushKind.STATUS)
    order_add_note(order=status.order, note="Done.", customer_note=False, user=staff("support"))
    client.force_login(staff("operations"))
    url = reverse("admin:fulfillment_storepush_changelist")

    # When operations open the outbox
    response = client.get(url)

    # Then the note says what it waits for
    assert held_message(status, "status") in response.content.decode()

    # When they discard the status from the list
    response = client.post(url, {"action": "discard_selected", "_selected_action": [status.pk]}, follow=True)

    # Then it is discarded and the note no longer held
    assert [str(m) for m in response.context["messages"]] == ["1 push discarded."]
    assert "Waiting behind push" not in response.content.decode()
    assert pushes_dispatch() == {"sent": 1}
