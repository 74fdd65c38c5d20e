import copy
import io
import re
from datetime import date

import pytest
from django.core.management import CommandError, call_command
from django.urls import reverse
from django.utils import translation
from pytest_django.asserts import assertContains

from fulfillment.choices import EventSource, EventType, PushKind, PushState, RefundState
from fulfillment.models import Order, OrderEvent, Shipment, StaffProfile, Store, StorePush
from fulfillment.services import tracking as tracking_service
from fulfillment.services.mirror import orders_upsert
from fulfillment.errors import OrderActionError
from fulfillment.pushes.tracking import tracking_request_body
from fulfillment.selectors import left_to_ship, shipped_quantities
from fulfillment.services.tracking import shipment_add
from tests.factories import UserFactory
from tests.woo_payloads import line_item, order_payload

MUGS, CANVAS = 171, 172
DHL_LINK = "https://www.dhl.de/de/privatkunden/pakete-empfangen/verfolgen.html?piececode=00340434161234567890"
NOTE_WITH_LINK = ("Your order has shipped with DHL. Tracking number: 00340434161234567890. "
                  f"Follow it here: {DHL_LINK}")


@pytest.fixture
def ops(db):
    return UserFactory(username="oscar")


def with_tracking_extension(store, on=True):
    store.has_shipment_tracking = on
    store.save(update_fields=["has_shipment_tracking"])
    return store


def mirrored(woo, store, woo_id=17, status="processing"):
    """3 mugs and a canvas, in the fake shop and in our mirror."""
    payload = order_payload(woo_id, status=status, line_items=[
        line_item(MUGS, name="Photo mug", quantity=3, total="28.50", total_tax="5.70"),
        line_item(CANVAS, name="Canvas print", quantity=1, total="20.00", total_tax="4.00", sku="CANVAS-3040"),
    ])
    woo.add_orders([payload])
    orders_upsert(store=store, payloads=[copy.deepcopy(payload)], source=EventSource.IMPORT)
    return Order.objects.get(store=store, woo_id=woo_id)


def ship(order, user, carrier="DHL", number="00340434161234567890", link=DHL_LINK, lines=None,
         shipped_on=date(2026, 11, 20), confirm_complete=False):
    return shipment_add(order=order, carrier=carrier, tracking_number=number, tracking_link=link,
                        shipped_on=shipped_on, lines=lines, user=user, confirm_complete=confirm_complete)


def event_types(order):
    return sorted(OrderEvent.objects.filter(order=order).values_list("type", flat=True))


def shop_requests(woo):
    return [(method, path) for method, path, _ in woo.requests]


# -- recording and telling ---------------------------------------------------------------------------------


def test_shipment_is_recorded_with_its_event_and_pushes(woo, woo_store, ops, django_capture_on_commit_callbacks):
    # Given an order of a shop without the Shipment Tracking extension
    order = mirrored(woo, woo_store)

    # When operations record a parcel with the mugs
    with django_capture_on_commit_callbacks() as callbacks:
        shipment = ship(order, ops, carrier=" DHL ", number=" 00340434161234567890 ", lines={MUGS: 3})

    # Then the shipment is recorded, trimmed, with the lines in it
    shipment.refresh_from_db()
    assert (shipment.order, shipment.carrier, shipment.tracking_number, shipment.tracking_link) == (
        order, "DHL", "00340434161234567890", DHL_LINK)
    assert (shipment.shipped_on, shipment.lines, shipment.created_by, shipment.woo_tracking_id) == (
        date(2026, 11, 20), [{"line_id": MUGS, "quantity": 3}], ops, "")
    assert shipped_quantities(order) == {MUGS: 3}
    event = OrderEvent.objects.get(type=EventType.SHIPPED)
    assert (event.user, event.source, event.message, event.data) == (
        ops, EventSource.STAFF, "DHL 00340434161234567890", {"shipment_id": shipment.pk, "link": DHL_LINK})
    # and only a customer note goes to the shop, after the commit
    assert list(StorePush.objects.values_list("kind", "payload", "created_by")) == [
        (PushKind.NOTE, {"note": NOTE_WITH_LINK, "customer_note": True}, ops.pk)]
    assert len(callbacks) == 1
    assert woo.requests == []


def test_without_the_extension_the_customer_gets_a_note_and_no_tracking_item(woo, woo_store, ops,
                                                                            django_capture_on_commit_callbacks):
    # Given a shop without the Shipment Tracking extension
    order = mirrored(woo, woo_store)
    woo.shipment_tracking = False

    # When operations record a parcel and it is sent
    with django_capture_on_commit_callbacks(execute=True):
        shipment = ship(order, ops, lines={MUGS: 1})

    # Then the customer is told carrier, number and link; no tracking item is sent
    assert shop_requests(woo) == [("POST", "orders/17/notes")]
    assert [(n["note"], n["customer_note"]) for n in woo.notes[17]] == [(NOTE_WITH_LINK, True)]
    assert woo.trackings == {}
    shipment.refresh_from_db()
    assert shipment.woo_tracking_id == ""
    assert StorePush.objects.get().state == PushState.SENT


def test_with_the_extension_a_tracking_item_is_sent_too(woo, woo_store, ops, django_capture_on_commit_callbacks):
    # Given a shop with the Shipment Tracking extension
    with_tracking_extension(woo_store)
    order = mirrored(woo, woo_store)

    # When operations record a parcel with a tracking link
    with django_capture_on_commit_callbacks(execute=True):
        shipment = ship(order, ops, lines={MUGS: 2})

    # Then the shop has a tracking item (a custom provider with its link) and the customer note
    assert shop_requests(woo) == [("POST", "orders/17/shipment-trackings"), ("POST", "orders/17/notes")]
    assert woo.trackings[17] == [{"tracking_id": "3e9", "tracking_provider": "DHL", "tracking_link": DHL_LINK,
                                  "tracking_number": "00340434161234567890", "date_shipped": "2026-11-20"}]
    assert [(n["note"], n["customer_note"]) for n in woo.notes[17]] == [(NOTE_WITH_LINK, True)]
    # and the shipment keeps the tracking id
    shipment.refresh_from_db()
    assert shipment.woo_tracking_id == "3e9"
    assert list(StorePush.objects.values_list("kind", "payload", "state")) == [
        (PushKind.TRACKING, {"shipment_id": shipment.pk}, PushState.SENT),
        (PushKind.NOTE, {"note": NOTE_WITH_LINK, "customer_note": True}, PushState.SENT),
    ]


def test_store_set_for_an_extension_the_shop_lacks_fails_the_tracking_push_but_tells_the_customer(
        woo, woo_store, ops, django_capture_on_commit_callbacks):
    # Given a store said to have the Shipment Tracking extension, whose shop does not (404 rest_no_route)
    with_tracking_extension(woo_store)
    woo.shipment_tracking = False
    order = mirrored(woo, woo_store)

    # When operations record a parcel
    with django_capture_on_commit_callbacks(execute=True):
        shipment = ship(order, ops, lines={MUGS: 1})

    # Then the tracking push fails for good with the shop's reason, and the customer still gets the note
    tracking, note = StorePush.objects.order_by("pk")
    assert (tracking.kind, tracking.state) == (PushKind.TRACKING, PushState.FAILED)
    assert tracking.last_error == ("POST orders/17/shipment-trackings: HTTP 404 rest_no_route: "
                                   "No route was found matching the URL and request method.")
    assert (note.kind, note.state) == (PushKind.NOTE, PushState.SENT)
    assert [n["note"] for n in woo.notes[17]] == [NOTE_WITH_LINK]
    shipment.refresh_from_db()
    assert shipment.woo_tracking_id == ""
    assert OrderEvent.objects.get(type=EventType.PUSH_FAILED).message.startswith("Shipment tracking not accepted")


def test_a_known_carrier_without_a_link_gets_its_tracking_page(woo, woo_store, ops,
                                                               django_capture_on_commit_callbacks):
    # Given a shop with the extension, and an order shipped to Vienna (postcode 1010)
    with_tracking_extension(woo_store)
    order = mirrored(woo, woo_store)
    assert (order.shipping["postcode"], order.shipping["country"]) == ("1010", "AT")

    # When operations record a PostNL parcel without a link
    with django_capture_on_commit_callbacks(execute=True):
        shipment = ship(order, ops, carrier="postnl", number="3SABCD1234567", link="", lines={CANVAS: 1})

    # Then the carrier is named as we know it, PostNL's tracking page is the link, told to the shop and the customer
    link = "https://postnl.nl/tracktrace/?B=3SABCD1234567&P=1010&D=AT&T=C"
    assert (shipment.carrier, shipment.tracking_link) == ("PostNL", link)
    assert tracking_request_body(shipment) == {"tracking_number": "3SABCD1234567", "date_shipped": "2026-11-20",
                                               "custom_tracking_provider": "PostNL", "custom_tracking_link": link}
    assert woo.trackings[17][0]["tracking_link"] == link
    assert woo.notes[17][0]["note"] == (
        f"Your order has shipped with PostNL. Tracking number: 3SABCD1234567. Follow it here: {link}")


def test_an_unknown_carrier_without_a_link_is_named_to_the_extension(woo, woo_store, ops,
                                                                     django_capture_on_commit_callbacks):
    # Given a shop with the extension
    with_tracking_extension(woo_store)
    order = mirrored(woo, woo_store)

    # When operations record a parcel of a carrier we do not know, without a link
    with django_capture_on_commit_callbacks(execute=True):
        shipment = ship(order, ops, carrier="Fastway", number="FW-123456", link="", lines={CANVAS: 1})

    # Then the provider is sent by name (the extension may know it) and the note has no link
    assert tracking_request_body(shipment) == {"tracking_number": "FW-123456", "date_shipped": "2026-11-20",
                                               "tracking_provider": "Fastway"}
    assert woo.trackings[17][0]["tracking_provider"] == "Fastway"
    assert woo.notes[17][0]["note"] == "Your order has shipped with Fastway. Tracking number: FW-123456."


def test_shipment_of_everything_left_when_no_lines_are_given(woo, woo_store, ops):
    # Given an order with one mug already shipped
    order = mirrored(woo, woo_store)
    ship(order, ops, number="FIRST", lines={MUGS: 1})

    # When operations record a parcel without choosing lines
    shipment = ship(order, ops, number="SECOND", lines=None, confirm_complete=True)

    # Then it holds everything not shipped yet
    assert shipment.lines == [{"line_id": MUGS, "quantity": 2}, {"line_id": CANVAS, "quantity": 1}]
    assert shipped_quantities(order) == {MUGS: 3, CANVAS: 1}


# -- partial and complete shipments ----------------------------------------------------------------


def test_partial_then_full_shipment_completes_the_order(woo, woo_store, ops, django_capture_on_commit_callbacks):
    # Given a processing order of 3 mugs and a canvas
    order = mirrored(woo, woo_store)

    # When 2 mugs ship first
    with django_capture_on_commit_callbacks(execute=True):
        ship(order, ops, number="PARCEL-1", lines={MUGS: 2, CANVAS: 0})

    # Then the order is still processing, here and in the shop
    order.refresh_from_db()
    assert order.status == "processing"
    assert shipped_quantities(order) == {MUGS: 2}
    assert woo.orders[17]["status"] == "processing"
    assert not StorePush.objects.filter(kind=PushKind.STATUS).exists()

    # When the last mug and the canvas ship
    with django_capture_on_commit_callbacks(execute=True):
        ship(order, ops, number="PARCEL-2", lines={MUGS: 1, CANVAS: 1}, confirm_complete=True)

    # Then the order completes, here and in the shop, with a status event by the same user
    order.refresh_from_db()
    assert order.status == "completed"
    assert shipped_quantities(order) == {MUGS: 3, CANVAS: 1}
    status_event = OrderEvent.objects.get(type=EventType.STATUS_CHANGED)
    assert (status_event.user, status_event.message) == (ops, "Processing → Completed: everything has shipped")
    assert list(StorePush.objects.values_list("kind", "state")) == [
        (PushKind.NOTE, PushState.SENT), (PushKind.NOTE, PushState.SENT), (PushKind.STATUS, PushState.SENT)]
    assert woo.orders[17]["status"] == "completed"
    assert shop_requests(woo) == [("POST", "orders/17/notes"), ("POST", "orders/17/notes"), ("PUT", "orders/17")]


def test_order_on_hold_completes_when_everything_has_shipped(woo, woo_store, ops):
    # Given an order on hold
    order = mirrored(woo, woo_store, status="on-hold")

    # When everything ships at once
    ship(order, ops, confirm_complete=True)

    # Then it completes
    order.refresh_from_db()
    assert order.status == "completed"
    assert StorePush.objects.filter(kind=PushKind.STATUS, payload={"status": "completed"}).count() == 1


def test_order_does_not_complete_when_the_store_says_not_to(woo, woo_store, ops):
    # Given a store that completes orders by hand
    woo_store.complete_when_shipped = False
    woo_store.save(update_fields=["complete_when_shipped"])
    order = mirrored(woo, woo_store)

    # When everything ships
    ship(order, ops)

    # Then the order stays processing and no status is pushed
    order.refresh_from_db()
    assert order.status == "processing"
    assert list(StorePush.objects.values_list("kind", flat=True)) == [PushKind.NOTE]
    assert not OrderEvent.objects.filter(type=EventType.STATUS_CHANGED).exists()


def test_order_does_not_complete_while_something_remains(woo, woo_store, ops):
    # Given an order of 3 mugs and a canvas
    order = mirrored(woo, woo_store)

    # When the canvas and 2 mugs ship
    ship(order, ops, lines={MUGS: 2, CANVAS: 1})

    # Then the order stays processing
    order.refresh_from_db()
    assert order.status == "processing"
    assert not StorePush.objects.filter(kind=PushKind.STATUS).exists()


def test_pending_order_is_not_completed_by_a_shipment(woo, woo_store, ops):
    # Given an order not paid yet
    order = mirrored(woo, woo_store, status="pending")

    # When everything ships anyway
    ship(order, ops)

    # Then its status is left for staff to decide
    order.refresh_from_db()
    assert order.status == "pending"
    assert not StorePush.objects.filter(kind=PushKind.STATUS).exists()


# -- refused shipments write nothing ---------------------------------------------------------------


@pytest.mark.parametrize(("fields", "errors"), [
    ({"carrier": "  "}, {"carrier": "Name the carrier."}),
    ({"number": ""}, {"tracking_number": "Enter the tracking number."}),
    ({"carrier": "", "number": ""}, {"carrier": "Name the carrier.", "tracking_number": "Enter the tracking number."}),
    ({"link": "dhl.de/track"}, {"tracking_link": "Enter a full http(s) link."}),
    ({"link": "ftp://dhl.de/track"}, {"tracking_link": "Enter a full http(s) link."}),
    ({"lines": {MUGS: 4}}, {f"quantity_{MUGS}": "Between 0 and 3."}),
    ({"lines": {MUGS: -1}}, {f"quantity_{MUGS}": "Between 0 and 3."}),
    ({"lines": {MUGS: "two"}}, {f"quantity_{MUGS}": "Enter a whole number."}),
    ({"lines": {999: 1}}, {"quantity_999": "This line is not part of the order."}),
    ({"lines": {MUGS: 0, CANVAS: 0}}, {"__all__": "Choose at least one line for this parcel."}),
    ({"lines": {}}, {"__all__": "Choose at least one line for this parcel."}),
])
def test_wrong_shipment_is_refused_per_field_and_writes_nothing(woo, woo_store, ops, fields, errors,
                                                                django_capture_on_commit_callbacks):
    # Given an order of a shop with the extension
    with_tracking_extension(woo_store)
    order = mirrored(woo, woo_store)

    # When operations record a wrong parcel
    with django_capture_on_commit_callbacks(execute=True) as callbacks:
        with pytest.raises(OrderActionError) as raised:
            ship(order, ops, **fields)

    # Then each wrong field has its message and nothing is recorded or sent
    assert str(raised.value) == "The shipment was not recorded."
    assert raised.value.errors == errors
    assert (Shipment.objects.count(), StorePush.objects.count()) == (0, 0)
    assert event_types(order) == [EventType.CREATED]
    assert callbacks == []
    assert woo.requests == []


def test_over_shipping_a_partly_shipped_line_is_refused(woo, woo_store, ops):
    # Given 2 of the 3 mugs shipped
    order = mirrored(woo, woo_store)
    ship(order, ops, number="PARCEL-1", lines={MUGS: 2})

    # When 2 more are recorded
    with pytest.raises(OrderActionError) as raised:
        ship(order, ops, number="PARCEL-2", lines={MUGS: 2})

    # Then only 1 may go
    assert raised.value.errors == {f"quantity_{MUGS}": "Between 0 and 1."}
    assert Shipment.objects.count() == 1
    assert StorePush.objects.count() == 1


def test_duplicate_tracking_number_is_refused_and_writes_nothing(woo, woo_store, ops):
    # Given a parcel recorded with a tracking number
    order = mirrored(woo, woo_store)
    ship(order, ops, lines={MUGS: 1})

    # When the same carrier and number are recorded again
    with pytest.raises(OrderActionError) as raised:
        ship(order, ops, lines={MUGS: 1})

    # Then it is refused
    assert raised.value.errors == {"tracking_number": "This tracking number is already recorded for this order."}
    assert Shipment.objects.count() == 1
    assert StorePush.objects.count() == 1
    assert event_types(order) == [EventType.CREATED, EventType.SHIPPED]
    assert shipped_quantities(order) == {MUGS: 1}


def test_nothing_left_to_ship_is_refused(woo, woo_store, ops):
    # Given an order shipped in full
    order = mirrored(woo, woo_store)
    ship(order, ops, number="ALL-1", confirm_complete=True)
    pushes = StorePush.objects.count()

    # When another parcel is recorded
    with pytest.raises(OrderActionError) as raised:
        ship(order, ops, number="MORE-1")

    # Then there is nothing left to put in it
    assert raised.value.errors == {"__all__": "Choose what went in this parcel: nothing is left to ship."}
    assert Shipment.objects.count() == 1
    assert StorePush.objects.count() == pushes


# -- refunded items are not waited for ---------------------------------------------------------------------


def refund_mugs(order, user, quantity):
    from fulfillment.services.refunds import order_refund

    return order_refund(order=order, amounts={}, quantities={MUGS: str(quantity)}, reason="broken", restock=False,
                        user=user)


def test_refunded_items_are_not_left_to_ship_and_the_order_completes_without_them(
        woo, woo_store, ops, django_capture_on_commit_callbacks):
    # Given 3 mugs and a canvas, 2 of the mugs refunded
    order = mirrored(woo, woo_store)
    refund_mugs(order, ops, 2)
    assert left_to_ship(order) == {MUGS: 1, CANVAS: 1}

    # When the last mug and the canvas ship
    with django_capture_on_commit_callbacks(execute=True):
        ship(order, ops, lines={MUGS: 1, CANVAS: 1}, confirm_complete=True)

    # Then everything has shipped that was not refunded: the order completes, here and in the shop
    order.refresh_from_db()
    assert order.status == "completed"
    assert left_to_ship(order) == {MUGS: 0, CANVAS: 0}
    assert woo.orders[17]["status"] == "completed"
    assert OrderEvent.objects.get(type=EventType.STATUS_CHANGED).message == (
        "Processing → Completed: everything has shipped")


def test_refunded_items_cannot_be_shipped(woo, woo_store, ops):
    # Given 2 of the 3 mugs refunded
    order = mirrored(woo, woo_store)
    refund_mugs(order, ops, 2)

    # When 2 mugs are recorded in a parcel
    with pytest.raises(OrderActionError) as raised:
        ship(order, ops, lines={MUGS: 2})

    # Then only the one not refunded may go
    assert raised.value.errors == {f"quantity_{MUGS}": "Between 0 and 1."}
    assert Shipment.objects.count() == 0


def test_a_parcel_of_everything_left_leaves_out_refunded_items(woo, woo_store, ops):
    # Given 2 of the 3 mugs refunded
    order = mirrored(woo, woo_store)
    refund_mugs(order, ops, 2)

    # When a parcel is recorded without choosing lines
    shipment = ship(order, ops, lines=None, confirm_complete=True)

    # Then it holds the one mug and the canvas
    assert shipment.lines == [{"line_id": MUGS, "quantity": 1}, {"line_id": CANVAS, "quantity": 1}]


def test_a_refund_woocommerce_refused_leaves_its_items_to_ship(woo, woo_store, ops):
    # Given a refund of 2 mugs that WooCommerce refused
    order = mirrored(woo, woo_store)
    made = refund_mugs(order, ops, 2)
    made.state = RefundState.FAILED
    made.save(update_fields=["state"])

    # Then the 3 mugs are still to ship
    assert left_to_ship(order) == {MUGS: 3, CANVAS: 1}


def test_the_shipment_form_offers_what_is_neither_shipped_nor_refunded(woo, woo_store, ops, client):
    # Given 1 mug shipped and 1 refunded
    order = mirrored(woo, woo_store)
    ship(order, ops, number="FIRST", lines={MUGS: 1})
    refund_mugs(order, ops, 1)
    client.force_login(staff_user("operations"))

    # When operations open the order page
    response = client.get(reverse("admin:fulfillment_order_change", args=[order.pk]))

    # Then the parcel form offers at most the last mug and the canvas, and puts nothing in the parcel by itself
    assertContains(response, f'<input type="number" min="0" max="1" name="ship_{MUGS}" value="" class="ship-qty" '
                             f'data-left="1" aria-label="Quantity shipped Photo mug">', html=True)
    assertContains(response, f'<input type="number" min="0" max="1" name="ship_{CANVAS}" value="" class="ship-qty" '
                             f'data-left="1" aria-label="Quantity shipped Canvas print">', html=True)


# -- the same form posted twice ----------------------------------------------------------------------------


def staff_user(role):
    from tests.fulfillment.production import staff

    return staff(role)


def test_the_same_shipment_form_posted_twice_records_one_parcel(woo, woo_store, client,
                                                                django_capture_on_commit_callbacks):
    # Given an order, and operations on its page, whose shipment form carries a one-time token
    order = mirrored(woo, woo_store)
    user = staff_user("operations")
    client.force_login(user)
    page = reverse("admin:fulfillment_order_change", args=[order.pk])
    token = re.search(r'id="tracking-form">.*?name="token" value="([^"]+)"', client.get(page).content.decode(),
                      re.S).group(1)
    form = {"token": token, "carrier": "DHL", "tracking_number": "00340434161234567890", "tracking_link": "",
            "shipped_on": "2026-11-20", f"ship_{MUGS}": "1", f"ship_{CANVAS}": "0"}
    action = reverse("admin:fulfillment_order_action", args=[order.pk, "tracking"])

    # When the form is posted twice (a double click)
    with django_capture_on_commit_callbacks(execute=True):
        first = client.post(action, form)
        second = client.post(action, form)

    # Then both answers lead back to the page, and one parcel is recorded and told once
    assert (first.status_code, second.status_code) == (302, 302)
    shipment = Shipment.objects.get()
    assert (shipment.token, shipment.lines) == (token, [{"line_id": MUGS, "quantity": 1}])
    assert list(StorePush.objects.values_list("kind", flat=True)) == [PushKind.NOTE]
    assert len(woo.notes[17]) == 1
    assert OrderEvent.objects.filter(type=EventType.SHIPPED).count() == 1


def test_the_shipment_form_shown_again_after_an_error_keeps_its_token(woo, woo_store, client):
    # Given operations whose parcel was refused
    order = mirrored(woo, woo_store)
    client.force_login(staff_user("operations"))
    action = reverse("admin:fulfillment_order_action", args=[order.pk, "tracking"])
    refused = client.post(action, {"token": "form-1", "carrier": "DHL", "tracking_number": "X1-PARCEL",
                                   "tracking_link": "", "shipped_on": "2026-11-20", f"ship_{MUGS}": "4"})

    # Then the form comes back with the same token (nothing was made with it), and sent corrected it is recorded
    assert refused.status_code == 400
    assertContains(refused, '<input type="hidden" name="token" value="form-1">', html=True, status_code=400)
    client.post(action, {"token": "form-1", "carrier": "DHL", "tracking_number": "X1-PARCEL", "tracking_link": "",
                         "shipped_on": "2026-11-20", f"ship_{MUGS}": "3"})
    assert list(Shipment.objects.values_list("token", "tracking_number")) == [("form-1", "X1-PARCEL")]


def test_shipments_from_providers_need_no_token(woo, woo_store, ops):
    # Given two parcels recorded without a form (a provider's report)
    order = mirrored(woo, woo_store)
    ship(order, ops, number="PARCEL-1", lines={MUGS: 1})
    ship(order, ops, number="PARCEL-2", lines={MUGS: 1})

    # Then both are kept
    assert list(Shipment.objects.values_list("tracking_number", "token")) == [("PARCEL-1", ""), ("PARCEL-2", "")]


# -- the customer's language, not the staff member's --------------------------------------------------------


def dutch_shop(store):
    store.language = "nl"
    store.save(update_fields=["language"])
    return store


def test_the_tracking_note_is_in_the_shop_language_whatever_the_staff_member_speaks(woo, woo_store, client,
                                                                                   monkeypatch):
    # Given a Dutch shop, and a French-speaking member of operations
    dutch_shop(woo_store)
    order = mirrored(woo, woo_store)
    user = staff_user("operations")
    StaffProfile.objects.create(user=user, language="fr")
    client.force_login(user)
    languages = []
    original = tracking_service._tracking_note
    monkeypatch.setattr(tracking_service, "_tracking_note",
                        lambda shipment: languages.append(translation.get_language()) or original(shipment))

    # When they record a parcel from the order page
    response = client.post(reverse("admin:fulfillment_order_action", args=[order.pk, "tracking"]), {
        "carrier": "PostNL", "tracking_number": "3SABCD1234567", "tracking_link": "", "shipped_on": "2026-11-20",
        f"ship_{MUGS}": "3", f"ship_{CANVAS}": "1", "confirm_complete": "on"}, follow=True)

    # Then the customer's note is written in Dutch
    assert languages == ["nl"]
    assert StorePush.objects.get(kind=PushKind.NOTE).payload == {
        "note": "Je bestelling is verzonden met PostNL. Trackingnummer: 3SABCD1234567. Volg je pakket hier: "
                "https://postnl.nl/tracktrace/?B=3SABCD1234567&P=1010&D=AT&T=C", "customer_note": True}
    # while the staff member goes on reading the back-office in French
    assert response["Content-Language"] == "fr"


def test_the_tracking_note_of_an_english_shop_is_in_english_for_a_dutch_staff_member(woo, woo_store, ops):
    # Given a shop in English (the default) and a staff member working in Dutch
    assert woo_store.language == "en"
    order = mirrored(woo, woo_store)

    # When the parcel is recorded in Dutch
    with translation.override("nl"):
        ship(order, ops, carrier="DHL", number="00340434161234567890", link=DHL_LINK, lines={MUGS: 1})
        # and the staff member's language is left as it was
        assert translation.get_language() == "nl"

    # Then the note is in English
    assert StorePush.objects.get(kind=PushKind.NOTE).payload["note"] == NOTE_WITH_LINK


def test_add_store_sets_the_shop_language(db):
    # When a store is added in Italian, then updated without naming the language
    args = ["negozio", "--url", "https://negozio.example.it", "--consumer-key", "ck_1", "--consumer-secret", "cs_1",
            "--webhook-secret", "wh_1"]
    call_command("add_store", *args, "--language", "it", stdout=io.StringIO())
    call_command("add_store", *args, stdout=io.StringIO())

    # Then its language is Italian, and a language we have no translation for is refused
    assert Store.objects.get(slug="negozio").language == "it"
    with pytest.raises(CommandError):
        call_command("add_store", *args, "--language", "de", stdout=io.StringIO())
    assert Store.objects.get(slug="negozio").language == "it"


def test_the_store_admin_edits_the_shop_language(admin_client, woo_store):
    # When the store's language is changed in its admin form
    url = reverse("admin:fulfillment_store_change", args=[woo_store.pk])
    form = admin_client.get(url).context["adminform"].form
    data = {name: value for name, value in form.initial.items() if value is not None and name not in (
        "consumer_key", "consumer_secret", "webhook_secret")}
    response = admin_client.post(url, {**data, "language": "es"})

    # Then it is saved
    assert response.status_code == 302, response.context["adminform"].form.errors
    woo_store.refresh_from_db()
    assert woo_store.language == "es"


# -- a parcel that completes the order is confirmed; tracking numbers are checked -------------------------------


def test_a_parcel_of_everything_left_is_refused_without_confirmation(woo, woo_store, ops,
                                                                     django_capture_on_commit_callbacks):
    # Given a processing order of a store that completes shipped orders
    order = mirrored(woo, woo_store)

    # When everything left is recorded without the confirmation
    with django_capture_on_commit_callbacks(execute=True) as callbacks:
        with pytest.raises(OrderActionError) as raised:
            ship(order, ops, lines={MUGS: 3, CANVAS: 1})

    # Then it is refused with what it would do, and nothing is recorded, pushed or completed
    assert raised.value.errors == {"confirm_complete": (
        "This ships everything left: the order will be completed, and with it exported to accounting and invoiced "
        "where the store's rules say so. Tick the box to confirm.")}
    assert (Shipment.objects.count(), StorePush.objects.count(), callbacks) == (0, 0, [])
    order.refresh_from_db()
    assert order.status == "processing"
    assert event_types(order) == [EventType.CREATED]

    # When it is confirmed
    ship(order, ops, lines={MUGS: 3, CANVAS: 1}, confirm_complete=True)

    # Then it is recorded and the order completes
    order.refresh_from_db()
    assert order.status == "completed"
    assert Shipment.objects.count() == 1


def test_everything_left_needs_no_confirmation_when_it_does_not_complete_the_order(woo, woo_store, ops):
    # Given a store that completes orders by hand
    woo_store.complete_when_shipped = False
    woo_store.save(update_fields=["complete_when_shipped"])
    order = mirrored(woo, woo_store)

    # When everything ships without confirmation, then it is recorded
    ship(order, ops, lines={MUGS: 3, CANVAS: 1})
    assert Shipment.objects.count() == 1


def test_a_staff_tracking_number_not_of_the_carriers_form_is_refused(woo, woo_store, ops):
    # Given an order
    order = mirrored(woo, woo_store)

    # When operations type a UPS number as PostNL's
    with pytest.raises(OrderActionError) as raised:
        ship(order, ops, carrier="PostNL", number="1Z999AA10123456784", link="", lines={MUGS: 1})

    # Then it is refused with what PostNL's numbers look like, and nothing is recorded
    assert raised.value.errors == {"tracking_number": (
        "A PostNL tracking number looks like 3SABCD1234567 (letters and digits, no spaces); check the number or the "
        "carrier.")}
    assert (Shipment.objects.count(), StorePush.objects.count()) == (0, 0)


def test_a_providers_odd_tracking_number_is_kept_with_a_warning(woo, woo_store, caplog):
    # Given an order
    order = mirrored(woo, woo_store)

    # When a provider reports a PostNL parcel with a number of spaced groups that is not of PostNL's form
    with caplog.at_level("WARNING", logger="fulfillment.tracking"):
        shipment = shipment_add(order=order, carrier="PostNL", tracking_number=" 12 34 ", lines={MUGS: 1},
                                source=EventSource.PROVIDER, confirm_complete=True)

    # Then it is recorded without its spaces, with PostNL's tracking page, and a warning is logged
    assert (shipment.carrier, shipment.tracking_number) == ("PostNL", "1234")
    assert shipment.tracking_link.startswith("https://postnl.nl/tracktrace/?B=1234&")
    assert [r.getMessage() for r in caplog.records] == [
        f"order {order.pk}: PostNL tracking number '1234' from provider kept as given: A PostNL tracking number "
        "looks like 3SABCD1234567 (letters and digits, no spaces); check the number or the carrier."]


def test_a_tracking_line_field_named_with_other_digits_is_ignored_not_a_500(woo, woo_store, client):
    # Given operations posting a parcel whose line field is named with a superscript digit (was a 500)
    order = mirrored(woo, woo_store)
    client.force_login(staff_user("operations"))

    # When it is posted
    response = client.post(reverse("admin:fulfillment_order_action", args=[order.pk, "tracking"]), {
        "carrier": "PostNL", "tracking_number": "3SABCD1234567", "tracking_link": "", "shipped_on": "2026-11-20",
        "ship_²": "1"})

    # Then the field is no line's: the form is refused (no lines chosen) or the parcel recorded without it
    assert response.status_code in (302, 400)
    line_ids = set(order.lines.values_list("woo_line_id", flat=True))
    assert all(item["line_id"] in line_ids for shipment in order.shipments.all() for item in shipment.lines)
