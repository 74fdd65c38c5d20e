"""Notes and tracking items whose answer was lost (a timeout, a proxy's error page, a worker that died): the next
attempt asks WooCommerce first, so the customer never gets the same note or tracking e-mail twice."""

import time
from datetime import UTC, datetime, timedelta

from django.utils import timezone
from werkzeug.wrappers import Response

from fulfillment.choices import EventType, PushKind, PushState
from fulfillment.models import OrderEvent, Shipment, Store, StorePush
from fulfillment.services.orders import order_add_note
from fulfillment.services.push_dispatch import pushes_dispatch
from fulfillment.services.tracking import shipment_add
from tests.fakes.woocommerce import wc_date
from tests.fulfillment.pushes import later, mirrored, sent_requests, staff

NOTE = "Your photo book is at the printer."
GATEWAY_TIMEOUT = "<html><body><h1>504 Gateway Time-out</h1></body></html>"


def lose_first_answer(monkeypatch, woo, settings, method):
    """The shop makes the first note (or tracking item), but answers after our timeout."""
    settings.WOO_TIMEOUT_SECONDS = 0.3
    original = getattr(woo, method)
    calls = []

    def made_then_slow(woo_id, body):
        calls.append(body)
        answer = original(woo_id, body)
        if len(calls) == 1:
            time.sleep(0.8)
        return answer

    monkeypatch.setattr(woo, method, made_then_slow)
    return calls


def test_a_note_made_before_its_answer_was_lost_is_found_not_sent_twice(woo, woo_store, support, monkeypatch,
                                                                        settings):
    # Given a customer note whose first attempt timed out after the shop had made it
    order = mirrored(woo, woo_store, 17)
    order_add_note(order=order, note=NOTE, customer_note=True, user=support)
    calls = lose_first_answer(monkeypatch, woo, settings, "add_note")
    assert pushes_dispatch() == {"retrying": 1}
    push = StorePush.objects.get()
    assert (push.state, push.maybe_sent) == (PushState.RETRYING, True)
    assert push.last_error.endswith("did not answer within 0.3 s")

    # When it is retried
    assert pushes_dispatch(now=later()) == {"sent": 1}

    # Then the shop was asked, the note found, and no second note was made
    assert sent_requests(woo) == [("POST", "orders/17/notes"), ("GET", "orders/17/notes")]
    assert len(calls) == 1
    assert [(n["note"], n["customer_note"]) for n in woo.notes[17]] == [(NOTE, True)]
    push.refresh_from_db()
    assert (push.state, push.attempts, push.response) == (PushState.SENT, 2, woo.notes[17][0])
    assert OrderEvent.objects.filter(type=EventType.PUSH_SENT).count() == 1


def test_a_note_whose_gateway_failed_before_the_shop_is_looked_up_then_sent_once(woo, woo_store, support):
    # Given a note whose first attempt met a proxy's 504 (the shop may or may not have made it; here it did not)
    order = mirrored(woo, woo_store, 17)
    order_add_note(order=order, note=NOTE, customer_note=True, user=support)
    woo.fail_next(1, status=504, body=GATEWAY_TIMEOUT)
    assert pushes_dispatch() == {"retrying": 1}

    # When it is retried
    assert pushes_dispatch(now=later()) == {"sent": 1}

    # Then the shop was asked, had nothing, and got the note once
    assert sent_requests(woo) == [("GET", "orders/17/notes"), ("POST", "orders/17/notes")]
    assert [n["note"] for n in woo.notes[17]] == [NOTE]


def test_a_note_turned_away_by_maintenance_is_looked_for_then_sent_once(woo, woo_store, support):
    # Given a note the shop turned away (503: WordPress's maintenance page): it was not made
    order = mirrored(woo, woo_store, 17)
    order_add_note(order=order, note=NOTE, customer_note=True, user=support)
    woo.fail_next(1, status=503)
    pushes_dispatch()
    assert StorePush.objects.get().maybe_sent is False

    # When it is retried
    assert pushes_dispatch(now=later()) == {"sent": 1}

    # Then the shop is asked first (a 503 does not prove the note was not made), and the note made once (the fake
    # records only the requests that reached the shop)
    assert sent_requests(woo) == [("GET", "orders/17/notes"), ("POST", "orders/17/notes")]
    assert [n["note"] for n in woo.notes[17]] == [NOTE]


def test_a_note_made_behind_a_proxys_503_is_found_not_sent_twice(woo, woo_store, support, monkeypatch):
    # Given a shop behind a caching proxy that answers 503 when the shop runs past its timeout: the shop made the
    # customer note, and we were told 503
    order = mirrored(woo, woo_store, 17)
    order_add_note(order=order, note=NOTE, customer_note=True, user=support)
    original, calls = woo.add_note, []

    def made_then_503(woo_id, body):
        calls.append(body)
        made = original(woo_id, body)
        if len(calls) == 1:
            return Response("<html><body><h1>Error 503 Backend fetch failed</h1></body></html>", status=503,
                            content_type="text/html")
        return made

    monkeypatch.setattr(woo, "add_note", made_then_503)
    assert pushes_dispatch() == {"retrying": 1}

    # When it is retried
    assert pushes_dispatch(now=later()) == {"sent": 1}

    # Then the note is found in the shop's notes, and the customer has it once
    assert sent_requests(woo) == [("POST", "orders/17/notes"), ("GET", "orders/17/notes")]
    assert len(calls) == 1
    assert [(n["note"], n["customer_note"]) for n in woo.notes[17]] == [(NOTE, True)]
    push = StorePush.objects.get()
    assert (push.state, push.attempts, push.response) == (PushState.SENT, 2, woo.notes[17][0])


def test_a_tracking_item_made_behind_a_proxys_503_is_found_not_sent_twice(woo, woo_store, monkeypatch):
    # Given a shop with the Shipment Tracking extension behind a proxy that answered 503 after the shop made the item
    Store.objects.filter(pk=woo_store.pk).update(has_shipment_tracking=True, complete_when_shipped=False)
    woo_store.refresh_from_db()
    order = mirrored(woo, woo_store, 17)
    shipment_add(order=order, carrier="DHL", tracking_number="JJD000390007722316", user=staff("operations"))
    original = woo.add_tracking

    def made_then_503(woo_id, body):
        original(woo_id, body)
        return Response("Backend fetch failed", status=503, content_type="text/plain")

    monkeypatch.setattr(woo, "add_tracking", made_then_503)
    assert pushes_dispatch() == {"retrying": 1}
    monkeypatch.setattr(woo, "add_tracking", original)

    # When it is retried
    assert pushes_dispatch(now=later()) == {"sent": 2}

    # Then the item is found, not made twice
    assert sent_requests(woo)[:2] == [("POST", "orders/17/shipment-trackings"),
                                      ("GET", "orders/17/shipment-trackings")]
    assert len(woo.trackings[17]) == 1
    assert Shipment.objects.get().woo_tracking_id == woo.trackings[17][0]["tracking_id"]


def test_the_same_note_added_twice_on_purpose_is_sent_twice(woo, woo_store, support, monkeypatch):
    # Given the same note added twice, the second one's first attempt lost at a proxy before the shop
    order = mirrored(woo, woo_store, 17)
    order_add_note(order=order, note="Thank you!", customer_note=True, user=support)
    order_add_note(order=order, note="Thank you!", customer_note=True, user=support)
    original, calls = woo.add_note, []

    def second_lost(woo_id, body):
        calls.append(body)
        if len(calls) == 2:
            return Response(GATEWAY_TIMEOUT, status=504, content_type="text/html")
        return original(woo_id, body)

    monkeypatch.setattr(woo, "add_note", second_lost)
    assert pushes_dispatch() == {"sent": 1, "retrying": 1}

    # When the second is retried
    assert pushes_dispatch(now=later()) == {"sent": 1}

    # Then the first push's note is not taken for the second: the shop has both
    assert sent_requests(woo) == [("POST", "orders/17/notes"), ("POST", "orders/17/notes"), ("GET", "orders/17/notes"),
                                  ("POST", "orders/17/notes")]
    assert [n["note"] for n in woo.notes[17]] == ["Thank you!", "Thank you!"]
    first, second = StorePush.objects.order_by("pk")
    assert (first.response["id"], second.response["id"]) == (1001, 1002)


def test_a_note_with_the_same_text_older_than_the_push_is_not_taken_for_it(woo, woo_store, support):
    # Given the shop owner wrote the same note an hour ago, and our note's first attempt was lost at a proxy
    order = mirrored(woo, woo_store, 17)
    an_hour_ago = datetime.now(UTC) - timedelta(hours=1)
    woo.notes[17] = [{"id": 900, "author": "Shop owner", "date_created": wc_date(an_hour_ago + timedelta(hours=1)),
                      "date_created_gmt": wc_date(an_hour_ago), "note": NOTE, "customer_note": True}]
    order_add_note(order=order, note=NOTE, customer_note=True, user=support)
    woo.fail_next(1, status=504, body=GATEWAY_TIMEOUT)
    pushes_dispatch()

    # When it is retried
    assert pushes_dispatch(now=later()) == {"sent": 1}

    # Then ours is made: the old one was not ours
    assert [n["id"] for n in woo.notes[17]] == [900, 1001]
    assert StorePush.objects.get().response["id"] == 1001


def test_a_private_note_is_not_taken_for_a_customer_note_with_the_same_text(woo, woo_store, support):
    # Given our customer note lost at a proxy, and a private note with the same text made since by someone else
    order = mirrored(woo, woo_store, 17)
    order_add_note(order=order, note=NOTE, customer_note=True, user=support)
    woo.fail_next(1, status=504, body=GATEWAY_TIMEOUT)
    pushes_dispatch()
    woo.add_note(17, {"note": NOTE, "customer_note": False})

    # When it is retried
    pushes_dispatch(now=later())

    # Then the customer note is made
    assert [(n["note"], n["customer_note"]) for n in woo.notes[17]] == [(NOTE, False), (NOTE, True)]


def test_a_note_sent_by_a_worker_that_died_is_found_not_sent_again(woo, woo_store, support):
    # Given a note push claimed by a worker that died after the shop made the note
    order = mirrored(woo, woo_store, 17)
    order_add_note(order=order, note=NOTE, customer_note=True, user=support)
    woo.add_note(17, {"note": NOTE, "customer_note": True})
    StorePush.objects.update(state=PushState.SENDING, attempts=1, auto_attempts=1,
                             claimed_at=timezone.now() - timedelta(minutes=20))

    # When the pushes are dispatched again
    assert pushes_dispatch() == {"sent": 1}

    # Then the shop was only asked
    assert sent_requests(woo) == [("GET", "orders/17/notes")]
    assert len(woo.notes[17]) == 1
    push = StorePush.objects.get()
    assert (push.state, push.maybe_sent, push.response) == (PushState.SENT, True, woo.notes[17][0])


def test_a_tracking_item_made_before_its_answer_was_lost_is_found_not_sent_twice(woo, woo_store, support,
                                                                                 monkeypatch, settings):
    # Given a shop with the Shipment Tracking extension, and a parcel whose tracking item's answer is lost
    Store.objects.filter(pk=woo_store.pk).update(has_shipment_tracking=True, complete_when_shipped=False)
    woo_store.refresh_from_db()
    order = mirrored(woo, woo_store, 17)
    ops = staff("operations")
    shipment = shipment_add(order=order, carrier="DHL", tracking_number="JJD000390007722316", user=ops)
    calls = lose_first_answer(monkeypatch, woo, settings, "add_tracking")
    assert pushes_dispatch() == {"retrying": 1}
    tracking_push = StorePush.objects.get(kind=PushKind.TRACKING)
    assert (tracking_push.state, tracking_push.maybe_sent) == (PushState.RETRYING, True)

    # When it is retried
    assert pushes_dispatch(now=later()) == {"sent": 2}

    # Then the shop was asked, the item found and kept on the shipment, then the customer note went out
    assert sent_requests(woo) == [("POST", "orders/17/shipment-trackings"), ("GET", "orders/17/shipment-trackings"),
                                  ("POST", "orders/17/notes")]
    assert len(calls) == 1
    assert [t["tracking_number"] for t in woo.trackings[17]] == ["JJD000390007722316"]
    shipment.refresh_from_db()
    assert shipment.woo_tracking_id == woo.trackings[17][0]["tracking_id"]
    tracking_push.refresh_from_db()
    assert (tracking_push.state, tracking_push.response) == (PushState.SENT, woo.trackings[17][0])


def test_a_tracking_item_lost_at_a_proxy_before_the_shop_is_sent_once(woo, woo_store, support):
    # Given a tracking item whose first attempt met a proxy's 504, the shop having made nothing
    Store.objects.filter(pk=woo_store.pk).update(has_shipment_tracking=True, complete_when_shipped=False)
    woo_store.refresh_from_db()
    order = mirrored(woo, woo_store, 17)
    shipment_add(order=order, carrier="DHL", tracking_number="JJD000390007722316", user=staff("operations"))
    woo.fail_next(1, status=504, body=GATEWAY_TIMEOUT)
    pushes_dispatch()

    # When it is retried
    assert pushes_dispatch(now=later()) == {"sent": 2}

    # Then it was looked up, then made once
    assert sent_requests(woo)[:2] == [("GET", "orders/17/shipment-trackings"),
                                      ("POST", "orders/17/shipment-trackings")]
    assert len(woo.trackings[17]) == 1
    assert Shipment.objects.get().woo_tracking_id == woo.trackings[17][0]["tracking_id"]


def test_a_note_whose_backslashes_wordpress_dropped_is_still_recognised(woo, woo_store, support):
    # Given a note with a backslash, which WordPress stores through wp_unslash() (the backslash is gone)
    from fulfillment.pushes.notes import find_pushed_note

    order = mirrored(woo, woo_store, 17)
    order_add_note(order=order, note="Files are in \\\\nas\\prints", customer_note=False, user=support)
    push = StorePush.objects.get()
    made = {"id": 1001, "date_created_gmt": wc_date(datetime.now(UTC)), "note": "Files are in \\nasprints",
            "customer_note": False}

    # Then the lookup takes WooCommerce's copy for ours, and not a different text
    assert find_pushed_note([made], push) == made
    assert find_pushed_note([{**made, "note": "Files are in nas prints"}], push) is None
