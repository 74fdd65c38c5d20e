import copy
import csv
import io
from datetime import UTC, datetime, timedelta
from decimal import Decimal
from urllib.parse import parse_qs
from zoneinfo import ZoneInfo

import pytest
from django.contrib.auth.models import Group
from django.contrib.messages import get_messages
from django.core.cache import cache
from django.db import connection
from django.test.utils import CaptureQueriesContext
from django.urls import reverse
from django.utils import timezone
from pytest_django.asserts import assertContains, assertNotContains

from accounting.models import AccountingExport, ExportRule
from fulfillment.admin.orders import OrderAdmin
from fulfillment.choices import EventSource, EventType, OrderType, PushKind, PushState, SubmitStatus
from fulfillment.models import Order, OrderEvent, Refund, Shipment, Store, StorePush
from fulfillment.selectors import dashboard, status_counts_refresh, submission_flags
from fulfillment.services.mirror import orders_upsert
from fulfillment.services.orders import order_add_note
from fulfillment.services.refunds import order_refund
from tests.conftest import on_postgres
from tests.factories import OrderFactory, OrderLineFactory, StoreFactory, UserFactory
from tests.woo_payloads import SAMPLE_ORDER, line_item, order_payload

MUGS, CANVAS = 171, 172
ACTIONS = ("status", "note", "address", "refund", "tracking")
# What each role may do on the order page, as the roles migration grants it (operations add notes too: they
# talk to customers about production).
ALLOWED = {
    "operations": {"status", "tracking", "note"},
    "support": {"note", "address"},
    "finance": {"refund"},
}
POSTS = {
    "status": {"status": "on-hold", "note": "waiting for the customer's photo"},
    "note": {"note": "Called the customer: the photo comes tomorrow.", "customer_note": "on"},
    "address": {"first_name": "Anna", "last_name": "de Vries", "company": "", "address_1": "Prinsengracht 263",
                "address_2": "2e etage", "postcode": "1016 GV", "city": "Amsterdam", "state": "", "country": "NL",
                "phone": "+31 20 555 0101"},
    "refund": {f"quantity_{MUGS}": "1", f"amount_{MUGS}": "", f"quantity_{CANVAS}": "0", f"amount_{CANVAS}": "",
               "restock": "on", "reason": "arrived broken"},
    "tracking": {"carrier": "DHL", "tracking_number": "00340434161234567890", "tracking_link": "",
                 "shipped_on": "2026-11-20", f"ship_{MUGS}": "1", f"ship_{CANVAS}": "0"},
}
EVENT_OF = {"status": EventType.STATUS_CHANGED, "note": EventType.NOTE_ADDED, "address": EventType.ADDRESS_CHANGED,
            "refund": EventType.REFUNDED, "tracking": EventType.SHIPPED}
PUSH_OF = {"status": PushKind.STATUS, "note": PushKind.NOTE, "address": PushKind.ADDRESS, "refund": PushKind.REFUND,
           "tracking": PushKind.NOTE}


@pytest.fixture(autouse=True)
def empty_cache(db):
    # Status counts, the store count and the dashboard are cached: each test starts from the database.
    cache.clear()
    yield
    cache.clear()


def staff(role=None, **kwargs):
    user = UserFactory(username=kwargs.pop("username", role or "nobody"), **kwargs)
    if role:
        user.groups.add(Group.objects.get(name=role))
    return user


def logged_in(client, user):
    client.force_login(user)
    return client


def page_url(order):
    return reverse("admin:fulfillment_order_change", args=[order.pk])


def action_url(order, action):
    return reverse("admin:fulfillment_order_action", args=[order.pk, action])


def list_url(query=""):
    return reverse("admin:fulfillment_order_changelist") + (f"?{query}" if query else "")


def totals_of(response):
    """The order page's totals table as [(label · note, amount)], as staff read it."""
    table = response.content.decode().split('id="order-totals">')[1].split("</table>")[0]
    rows = []
    for row in table.split("<tr")[1:]:
        head = row.split("<th>")[1].split("</th>")[0]
        label, _, note = head.partition("<small>")
        amount = row.split('<td class="num"')[1].split(">", 1)[1].split("</td>")[0]
        rows.append((" · ".join(p for p in (" ".join(label.split()), note.replace("</small>", "").strip()) if p),
                     amount.strip()))
    return rows


def messages_of(response):
    return [str(m) for m in get_messages(response.wsgi_request)]


def desk_order(store, woo_id=17, status="processing"):
    """An order as WooCommerce sent it: 3 mugs, a canvas in a size, shipping; 64.08 EUR with Austrian VAT.

    The figures add up as in a real order: lines 28.50 + 5.70 tax and 20.00 + 4.00 tax, shipping 4.90 + 0.98 tax
    (the captured order's flat rate): 64.08 in all, 10.68 of it tax (9.70 on the lines, 0.98 on shipping).
    """
    payload = order_payload(
        woo_id, status=status, first_name="Anna", last_name="Gruber", email="anna.gruber@example.at",
        line_items=[
            line_item(MUGS, name="Photo mug", quantity=3, total="28.50", total_tax="5.70", sku="MUG-11"),
            line_item(CANVAS, name="Canvas print", product_id=12, variation_id=31, quantity=1, total="20.00",
                      total_tax="4.00", sku="CANVAS-3040",
                      meta=[{"id": 1, "key": "pa_size", "value": "30x40", "display_key": "Size",
                             "display_value": "30 × 40 cm"}]),
        ],
        total="64.08", total_tax="10.68", cart_tax="9.70",
        tax_lines=[{**SAMPLE_ORDER["tax_lines"][0], "tax_total": "9.70", "shipping_tax_total": "0.98"}],
    )
    orders_upsert(store=store, payloads=[copy.deepcopy(payload)], source=EventSource.IMPORT)
    return Order.objects.get(store=store, woo_id=woo_id)


def test_desk_order_adds_up_as_a_real_order_does(store):
    # Given the order most tests here use, as mirrored
    order = desk_order(store)

    # Then its lines, shipping and taxes add up to its total, as in WooCommerce
    lines = sum((line.total + line.total_tax for line in order.lines.all()), Decimal("0"))
    assert (lines, order.shipping_total + order.shipping_tax) == (Decimal("58.20"), Decimal("5.88"))
    assert lines + order.shipping_total + order.shipping_tax == order.total == Decimal("64.08")
    assert sum((line.total_tax for line in order.lines.all()), Decimal("0")) + order.shipping_tax == order.total_tax


def assert_nothing_written(user, order):
    order.refresh_from_db()
    assert not OrderEvent.objects.filter(user=user).exists()
    assert not OrderEvent.objects.filter(order=order, source=EventSource.STAFF).exists()
    assert (StorePush.objects.count(), Refund.objects.count(), Shipment.objects.count()) == (0, 0, 0)
    assert (order.status, order.shipping["address_1"]) == ("processing", "Hauptstraße 2")


# -- the order page: who may do what ---------------------------------------------------------------------


@pytest.mark.parametrize("role", ["operations", "support", "finance"])
def test_every_role_sees_the_order_page_with_only_its_own_forms(client, store, role):
    # Given an order and a member of a role
    order = desk_order(store)
    user = staff(role)

    # When they open the order page
    response = logged_in(client, user).get(page_url(order))

    # Then they see it, with the forms of their actions only
    assert response.status_code == 200
    for action in ACTIONS:
        form = f'action="{action_url(order, action)}"'
        if action in ALLOWED[role]:
            assertContains(response, form)
        else:
            assertNotContains(response, form)


def test_user_in_no_group_is_refused_the_order_page_and_the_list(client, store):
    # Given a staff member without a role
    order = desk_order(store)
    user = staff()

    # When they open the order page and the list
    logged_in(client, user)
    page, listing = client.get(page_url(order)), client.get(list_url())

    # Then both are refused
    assert (page.status_code, listing.status_code) == (403, 403)


def test_non_staff_user_is_sent_to_the_login_page(client, store):
    order = desk_order(store)
    user = staff("finance", is_staff=False)

    response = logged_in(client, user).get(page_url(order))

    assert response.status_code == 302
    assert response.url.startswith(reverse("admin:login"))


@pytest.mark.parametrize(("role", "action"), [(role, action) for role in ALLOWED for action in ACTIONS])
def test_each_action_is_allowed_or_refused_by_role(client, store, role, action):
    # Given an order and a member of a role
    order = desk_order(store)
    user = staff(role)

    # When they post the action
    response = logged_in(client, user).post(action_url(order, action), POSTS[action])

    if action in ALLOWED[role]:
        # Then it is done, with an event and a push by that user
        assert response.status_code == 302, messages_of(response)
        assert response.url == page_url(order)
        assert list(OrderEvent.objects.filter(user=user).values_list("type", flat=True)) == [EVENT_OF[action]]
        assert list(StorePush.objects.values_list("kind", "created_by")) == [(PUSH_OF[action], user.pk)]
    else:
        # Then it is refused on the server and nothing is written
        assert response.status_code == 403
        assert_nothing_written(user, order)


@pytest.mark.parametrize("action", ACTIONS)
def test_user_in_no_group_is_refused_every_action(client, store, action):
    order = desk_order(store)
    user = staff()

    response = logged_in(client, user).post(action_url(order, action), POSTS[action])

    assert response.status_code == 403
    assert_nothing_written(user, order)


@pytest.mark.parametrize("action", ACTIONS)
def test_superuser_may_do_every_action(client, store, action):
    order = desk_order(store)
    user = staff(username="root", is_superuser=True)

    response = logged_in(client, user).post(action_url(order, action), POSTS[action])

    assert response.status_code == 302, messages_of(response)
    assert list(OrderEvent.objects.filter(user=user).values_list("type", flat=True)) == [EVENT_OF[action]]
    assert StorePush.objects.filter(created_by=user).count() == 1


def test_unknown_action_is_refused(client, store):
    order = desk_order(store)
    user = staff(username="root", is_superuser=True)

    response = logged_in(client, user).post(action_url(order, "delete"), {})

    assert response.status_code == 403
    assert StorePush.objects.count() == 0


def test_action_by_get_only_leads_back_to_the_page(client, store):
    order = desk_order(store)
    user = staff("support")

    response = logged_in(client, user).get(action_url(order, "note"))

    assert (response.status_code, response.url) == (302, page_url(order))
    assert not OrderEvent.objects.filter(type=EventType.NOTE_ADDED).exists()


# -- the actions' results ----------------------------------------------------------------------------------


def test_status_change_is_done_and_told_to_staff(client, store):
    # Given a processing order
    order = desk_order(store)
    user = staff("operations")

    # When operations put it on hold
    response = logged_in(client, user).post(action_url(order, "status"), POSTS["status"], follow=True)

    # Then it is on hold, the event says why and the page tells it
    order.refresh_from_db()
    assert order.status == "on-hold"
    event = OrderEvent.objects.get(type=EventType.STATUS_CHANGED)
    assert (event.user, event.message) == (user, "Processing → On hold: waiting for the customer's photo")
    assert StorePush.objects.get().payload == {"status": "on-hold"}
    assert messages_of(response) == ["Status changed to On hold; WooCommerce will be told."]


def test_cancelling_without_confirmation_is_refused_and_writes_nothing(client, store):
    # Given a processing order
    order = desk_order(store)
    user = staff("operations")

    # When operations cancel it without ticking the confirmation
    response = logged_in(client, user).post(action_url(order, "status"), {"status": "cancelled", "note": ""})

    # Then the page comes back with the reason, and nothing changed
    assert response.status_code == 400
    assert messages_of(response) == ["Please correct the fields marked below."]
    assertContains(response, "Cancelling cannot be undone in the shop: tick the box to confirm.", status_code=400)
    assert_nothing_written(user, order)


def test_cancelling_with_confirmation_cancels(client, store):
    order = desk_order(store)
    user = staff("operations")

    response = logged_in(client, user).post(action_url(order, "status"),
                                            {"status": "cancelled", "note": "customer asked", "confirm": "on"})

    assert response.status_code == 302
    order.refresh_from_db()
    assert order.status == "cancelled"
    assert StorePush.objects.get().payload == {"status": "cancelled"}
    assert OrderEvent.objects.get(user=user).message == "Processing → Cancelled: customer asked"


def test_status_not_allowed_from_the_current_one_is_refused(client, store):
    # Given a processing order (it cannot go back to pending)
    order = desk_order(store)
    user = staff("operations")

    response = logged_in(client, user).post(action_url(order, "status"), {"status": "pending"})

    assert response.status_code == 400
    assertContains(response, "Select a valid choice. pending is not one of the available choices.", status_code=400)
    assert_nothing_written(user, order)


def test_note_to_the_customer_and_private_note(client, store):
    order = desk_order(store)
    user = staff("support")
    logged_in(client, user)

    to_customer = client.post(action_url(order, "note"), POSTS["note"], follow=True)
    private = client.post(action_url(order, "note"), {"note": "Customer is a reseller."}, follow=True)

    assert messages_of(to_customer) == ["Note sent to the customer."]
    assert messages_of(private) == ["Private note added."]
    assert list(StorePush.objects.values_list("payload", flat=True)) == [
        {"note": "Called the customer: the photo comes tomorrow.", "customer_note": True},
        {"note": "Customer is a reseller.", "customer_note": False},
    ]


def test_address_correction_is_saved_and_a_wrong_one_writes_nothing(client, store):
    # Given an order and support
    order = desk_order(store)
    user = staff("support")
    logged_in(client, user)

    # When support sends an address with a country name instead of its code and no city
    wrong = client.post(action_url(order, "address"), {**POSTS["address"], "country": "Netherlands", "city": ""})

    # Then the fields are marked and nothing changed
    assert wrong.status_code == 400
    assertContains(wrong, "Ensure this value has at most 2 characters (it has 11).", status_code=400)
    assertContains(wrong, "This field is required.", status_code=400)
    assert_nothing_written(user, order)

    # When the address is right
    right = client.post(action_url(order, "address"), POSTS["address"])

    # Then the order has it
    assert right.status_code == 302
    order.refresh_from_db()
    assert (order.shipping["address_1"], order.city, order.country) == ("Prinsengracht 263", "Amsterdam", "NL")
    assert StorePush.objects.get().payload["shipping"]["postcode"] == "1016 GV"


@pytest.mark.parametrize(("change", "marked"), [
    ({"country": "ZZ"}, ("Country code", "ZZ is not a country code: use the two-letter ISO code, e.g. NL, FR, IT, GB.")),
    ({"country": "uk"}, ("Country code", "uk is not a country code: use the two-letter ISO code, e.g. NL, FR, IT, GB.")),
    ({"country": "US", "state": ""}, ("State / province", "Addresses in US need a state or province.")),
    ({"country": "IT", "state": ""}, ("State / province", "Addresses in IT need a state or province.")),
    ({"postcode": ""}, ("Postcode", "This field is required.")),
])
def test_address_with_a_wrong_country_state_or_postcode_is_refused_naming_the_field(client, store, change, marked):
    # Given an order and support
    order = desk_order(store)
    user = staff("support")

    # When support sends an address that passes the form but not the rules of its country
    response = logged_in(client, user).post(action_url(order, "address"), {**POSTS["address"], **change})

    # Then the page comes back with the message after the field's label, the field marked, and nothing written
    assert response.status_code == 400
    assert messages_of(response) == ["The address was not saved: correct the fields marked below."]
    label, message = marked
    assertContains(response, f'<p class="errornote">{label}: {message}</p>', html=True, status_code=400)
    assertContains(response, '<ul class="errorlist"', status_code=400)
    assertContains(response, message, count=2, status_code=400)  # at the field and in the list
    assert_nothing_written(user, order)


@pytest.mark.parametrize(("change", "shipping"), [
    ({"country": "us", "state": "NY", "postcode": "10001", "city": "New York"}, ("US", "NY", "10001")),
    ({"country": "IE", "state": "Dublin", "postcode": "", "city": "Dublin"}, ("IE", "Dublin", "")),  # no Eircode
    ({"country": "XK", "postcode": "10000", "city": "Prishtina"}, ("XK", "", "10000")),  # WooCommerce's Kosovo
])
def test_address_accepted_by_the_rules_of_its_country(client, store, change, shipping):
    order = desk_order(store)
    user = staff("support")

    response = logged_in(client, user).post(action_url(order, "address"), {**POSTS["address"], **change})

    assert response.status_code == 302, messages_of(response)
    order.refresh_from_db()
    assert (order.shipping["country"], order.shipping["state"], order.shipping["postcode"]) == shipping
    assert (order.country, order.state) == shipping[:2]
    assert StorePush.objects.get().payload["shipping"]["country"] == shipping[0]


def test_address_form_errors_name_the_fields_not_their_keys(client, store):
    order = desk_order(store)
    user = staff("support")

    response = logged_in(client, user).post(action_url(order, "address"),
                                            {**POSTS["address"], "city": "", "first_name": ""})

    assert response.status_code == 400
    assertContains(response, '<p class="errornote">First name: This field is required.</p>', html=True,
                   status_code=400)
    assertContains(response, '<p class="errornote">City: This field is required.</p>', html=True, status_code=400)
    assertNotContains(response, "city: ", status_code=400)
    assert_nothing_written(user, order)


def test_refund_from_the_page_records_it_with_restock_and_reason(client, store):
    order = desk_order(store)
    user = staff("finance")

    response = logged_in(client, user).post(action_url(order, "refund"), POSTS["refund"], follow=True)

    made = Refund.objects.get()
    assert (made.amount, made.restock, made.reason, made.api_refund, made.created_by) == (
        Decimal("11.40"), True, "arrived broken", False, user)
    assert messages_of(response) == ["Refund of 11.40 EUR recorded; it is being sent to WooCommerce."]


@pytest.mark.parametrize(("posted", "shown"), [
    ({f"amount_{MUGS}": "abc"}, '<div class="errornote">Enter an amount such as 12.50.</div>'),
    ({f"amount_{MUGS}": "-3"}, '<div class="errornote">An amount cannot be negative.</div>'),
    ({f"amount_{MUGS}": "1.999"}, '<div class="errornote">EUR amounts have at most 2 decimals.</div>'),
    ({f"quantity_{MUGS}": "5"}, '<div class="errornote">Only 3 left to refund on this line.</div>'),
    ({f"amount_{MUGS}": "99.00"}, '<div class="errornote">At most 34.20 is left to refund on this line.</div>'),
    ({}, '<p class="errornote">Nothing to refund: enter a quantity or an amount on at least one line.</p>'),
    ({f"quantity_{MUGS}": "1", "api_refund": "on"},
     '<p class="errornote">This store does not allow refunds through the payment gateway.</p>'),
])
def test_wrong_refund_from_the_page_shows_the_message_and_writes_nothing(client, store, posted, shown):
    # Given an order and finance
    order = desk_order(store)
    user = staff("finance")

    # When finance posts a wrong refund
    response = logged_in(client, user).post(action_url(order, "refund"), {"reason": "test", **posted})

    # Then the refund panel comes back open with the message, and nothing is written
    assert response.status_code == 400
    assert messages_of(response) == ["The refund was not made."]
    assertContains(response, shown, html=True, status_code=400)
    assertContains(response, '<details open id="refund-panel">', status_code=400)
    assert_nothing_written(user, order)


def test_refund_form_keeps_what_was_typed_when_refused(client, store):
    # Given an order and finance
    order = desk_order(store)
    user = staff("finance")

    # When finance's refund is refused
    response = logged_in(client, user).post(action_url(order, "refund"), {
        f"quantity_{MUGS}": "1", f"amount_{CANVAS}": "30.00", "restock": "on", "reason": "arrived broken"})

    # Then the form shows again what was typed, to correct and send again
    assert response.status_code == 400
    assertContains(response, f'name="quantity_{MUGS}" class="refund-qty" data-unit="11.4000" data-item="{MUGS}" '
                             'value="1"', status_code=400)
    assertContains(response, f'name="amount_{CANVAS}" class="refund-amount" data-item="{CANVAS}" '
                             'data-max="24.0000" value="30.00"', status_code=400)
    assertContains(response, '<input type="checkbox" name="restock" checked>', html=True, status_code=400)
    assertContains(response, '<input type="text" name="reason" maxlength="500" size="40" value="arrived broken">',
                   html=True, status_code=400)
    assert Refund.objects.count() == 0


def test_shipment_from_the_page_records_the_lines_posted(client, store):
    order = desk_order(store)
    user = staff("operations")

    response = logged_in(client, user).post(action_url(order, "tracking"), {
        **POSTS["tracking"], "tracking_link": "https://www.dhl.de/track?piececode=00340434161234567890",
        f"ship_{MUGS}": "3", f"ship_{CANVAS}": "1", "confirm_complete": "on"}, follow=True)

    shipment = Shipment.objects.get()
    assert (shipment.carrier, shipment.tracking_number, shipment.shipped_on.isoformat(), shipment.lines) == (
        "DHL", "00340434161234567890", "2026-11-20", [{"line_id": MUGS, "quantity": 3},
                                                       {"line_id": CANVAS, "quantity": 1}])
    assert messages_of(response) == [
        "Shipment 00340434161234567890 recorded; the customer will get the tracking number."]
    # everything has shipped: the order completes
    order.refresh_from_db()
    assert order.status == "completed"
    assert list(OrderEvent.objects.filter(user=user).order_by("pk").values_list("type", flat=True)) == [
        EventType.SHIPPED, EventType.STATUS_CHANGED]


def test_the_page_warns_and_refuses_a_completing_shipment_until_confirmed(client, store):
    # Given an order with nothing shipped, on operations' page
    order = desk_order(store)
    user = staff("operations")
    page = logged_in(client, user).get(reverse("admin:fulfillment_order_change", args=[order.pk]))
    warning = ("This ships everything left: the order will be completed, and with it exported to accounting and "
               "invoiced where the store's rules say so.")
    # Then the page says what a parcel of everything left does, beside its confirmation
    assertContains(page, f'<p class="warning">{warning}</p>', html=True)
    assertContains(page, 'name="confirm_complete"')

    # When everything is posted without the confirmation
    response = client.post(action_url(order, "tracking"), {**POSTS["tracking"], f"ship_{MUGS}": "3",
                                                           f"ship_{CANVAS}": "1"})

    # Then it is refused, the warning shown, nothing recorded and the order still processing
    assert response.status_code == 400
    assertContains(response, f"<li>{warning} Tick the box to confirm.</li>", html=True, status_code=400)
    # once, beside the box to tick: not again above the form's button
    assertContains(response, "Tick the box to confirm.", count=1, status_code=400)
    assertContains(response, "This ships everything left", count=1, status_code=400)
    assert Shipment.objects.count() == 0
    order.refresh_from_db()
    assert order.status == "processing"


def test_over_shipping_from_the_page_is_refused_and_writes_nothing(client, store):
    order = desk_order(store)
    user = staff("operations")

    response = logged_in(client, user).post(action_url(order, "tracking"), {**POSTS["tracking"], f"ship_{MUGS}": "4"})

    assert response.status_code == 400
    assert messages_of(response) == ["The shipment was not recorded."]
    # the message names the line, not our key for it
    assertContains(response, '<p class="errornote">Photo mug: Between 0 and 3.</p>', html=True, status_code=400)
    assertNotContains(response, f"quantity_{MUGS}:", status_code=400)
    assert_nothing_written(user, order)


def test_refused_shipment_names_the_fields_by_their_labels(client, store):
    order = desk_order(store)
    user = staff("operations")

    response = logged_in(client, user).post(action_url(order, "tracking"), {
        **POSTS["tracking"], "carrier": "", "tracking_link": "not a link", f"ship_{CANVAS}": "2"})

    assert response.status_code == 400
    notes = [" ".join(n.split()) for n in response.content.decode().split('<p class="errornote">')[1:]]
    assert [n.split("</p>")[0] for n in notes] == [
        "Carrier: This field is required.", "Tracking link: Enter a valid URL."]
    assert_nothing_written(user, order)

    # the carrier given, the service's own check of the lines names the line with its variation
    response = client.post(action_url(order, "tracking"), {**POSTS["tracking"], f"ship_{CANVAS}": "2"})
    assertContains(response, '<p class="errornote">Canvas print · Size: 30 × 40 cm: Between 0 and 1.</p>',
                   html=True, status_code=400)
    assert_nothing_written(user, order)


# -- what the page shows ---------------------------------------------------------------------------------


def test_page_shows_lines_totals_refunds_and_the_timeline(client, store):
    # Given an order with a refund by finance, a note by support whose push failed
    order = desk_order(store)
    finance, support = staff("finance"), staff("support")
    order_refund(order=order, amounts={}, quantities={MUGS: 1}, reason="arrived broken", restock=True, user=finance)
    order_add_note(order=order, note="Photo received.", customer_note=False, user=support)
    StorePush.objects.filter(kind=PushKind.NOTE).update(
        state=PushState.FAILED, last_error="POST orders/17/notes: HTTP 401 woocommerce_rest_authentication_error")
    at = datetime(2026, 11, 21, 9, 0, tzinfo=UTC)
    OrderEvent.objects.filter(type=EventType.CREATED).update(created_at=at)
    OrderEvent.objects.filter(type=EventType.REFUNDED).update(created_at=at + timedelta(minutes=1))
    Refund.objects.update(created_at=at + timedelta(minutes=1))
    StorePush.objects.filter(kind=PushKind.REFUND).update(created_at=at + timedelta(minutes=2))
    OrderEvent.objects.filter(type=EventType.NOTE_ADDED).update(created_at=at + timedelta(minutes=3))
    StorePush.objects.filter(kind=PushKind.NOTE).update(created_at=at + timedelta(minutes=4))

    # When support opens the page
    response = logged_in(client, support).get(page_url(order))

    # Then the lines show SKU, variation, quantity and what has shipped
    assert response.status_code == 200
    assertContains(response, '<td>MUG-11</td><td></td><td class="num">3</td><td class="num">28.50 EUR</td>'
                             '<td class="num">5.70 EUR</td><td class="num">0 / 3</td>', html=True)
    assertContains(response, '<td>CANVAS-3040</td><td>Size: 30 × 40 cm</td><td class="num">1</td>'
                             '<td class="num">20.00 EUR</td><td class="num">4.00 EUR</td><td class="num">0 / 1</td>',
                   html=True)
    # the shipping with the items, the totals as WooCommerce adds them up, and what was refunded so far
    assertContains(response, '<tr class="charge shipping" data-item="7"><td colspan="4">Shipping: Flat rate</td>'
                             '<td class="num">4.90 EUR</td><td class="num">0.98 EUR</td><td></td></tr>', html=True)
    assert totals_of(response) == [
        ("Items subtotal", "48.50 EUR"), ("Shipping · Flat rate", "4.90 EUR"),
        ("VAT AT (20 %) · 0.98 EUR of it on shipping", "10.68 EUR"), ("Order total", "64.08 EUR"),
        ("Refunded · 11.40 EUR not yet confirmed by WooCommerce", "−11.40 EUR"), ("Net payment", "52.68 EUR"),
    ]
    assertContains(response, '<td class="num" id="refunded-so-far">−11.40 EUR</td>', html=True)
    refund_row = response.content.decode().split('<p class="refund">')[1].split("</p>")[0]
    assert " ".join(refund_row.split()) == (
        "2026-11-21 10:01 CET · <strong>11.40 EUR</strong> · arrived broken · Waiting to be sent to WooCommerce "
        "· restocked · finance")
    # and the timeline, newest first: events with who did them, pushes with their state
    timeline = response.context["timeline"]
    assert [(e["kind"], e["label"], e["user"], e["source"], e["message"]) for e in timeline] == [
        ("push", "→ WooCommerce: Note", support, "Failed",
         "POST orders/17/notes: HTTP 401 woocommerce_rest_authentication_error"),
        ("event", "Note added", support, "Staff", "Photo received."),
        ("push", "→ WooCommerce: Refund", finance, "Waiting to be sent", ""),
        ("event", "Refunded", finance, "Staff", "11.40 EUR (1 × Photo mug) — arrived broken · restocked"),
        ("event", "Order received", None, "Import", "Order #17 received (Processing)"),
    ]
    # the times in the store's timezone (Europe/Amsterdam), named: the order's, the timeline's
    assertContains(response, "2026-11-01 11:17 CET · Shop ", count=1)
    assertContains(response, '<time datetime="2026-11-21T09:04:00+00:00">2026-11-21 10:04 CET</time>', html=True)
    assertContains(response, '<span class="source">Failed · support</span>', html=True)
    assertContains(response, '<span class="source">Waiting to be sent · finance</span>', html=True)
    assertContains(response, '<span class="source">Staff · finance</span>', html=True)
    assertContains(response, "Retry in the outbox", count=1)


def test_page_shows_billing_beside_shipping_and_links_to_the_shop(client):
    # Given a shop (its URL with a trailing slash) and an order billed to a company, shipped to a person, with a
    # line whose product WooCommerce no longer knows (product id 0)
    store = StoreFactory(base_url="https://fotocadeau.example/")
    order = desk_order(store)
    order.billing = {**order.billing, "first_name": "Karl", "last_name": "Huber", "company": "Huber & Söhne GmbH",
                     "address_1": "Ringstraße 5", "address_2": "Stiege 2", "postcode": "8010", "city": "Graz",
                     "state": "", "country": "AT"}
    order.save(update_fields=["billing"])
    order.lines.filter(woo_line_id=CANVAS).update(product_id=0)
    user = staff("support")

    # When support opens the order page
    response = logged_in(client, user).get(page_url(order))

    # Then both addresses are shown, each under its heading
    assertContains(response, '<address class="shipping-address">Anna Gruber<br>Hauptstraße 2<br>1010 Wien<br>AT'
                             '</address>', html=True)
    assertContains(response, '<address class="billing-address">Karl Huber<br>Huber &amp; Söhne GmbH<br>'
                             'Ringstraße 5, Stiege 2<br>8010 Graz<br>AT</address>', html=True)
    assertContains(response, "<h3>Billing address</h3>", html=True)
    # a link to the order in the shop's admin (the classic URL: WooCommerce redirects it when HPOS is on)
    assertContains(response, '<a href="https://fotocadeau.example/wp-admin/post.php?post=17&amp;action=edit" '
                             'class="woo-edit" target="_blank" rel="noopener">Edit in WooCommerce</a>', html=True)
    # and one to the product of each line that has one
    assertContains(response, '<a href="https://fotocadeau.example/?p=11" class="woo-product" target="_blank" '
                             'rel="noopener">View product</a>', html=True)
    assertContains(response, "View product", count=1)


def test_page_says_when_no_billing_address_was_given(client, store):
    order = desk_order(store)
    Order.objects.filter(pk=order.pk).update(billing={"email": "anna.gruber@example.at"})
    user = staff("support")

    response = logged_in(client, user).get(page_url(order))

    assertContains(response, '<address class="billing-address"><span class="quiet">None given</span></address>',
                   html=True)


def test_timeline_says_who_reads_each_note_and_what_an_address_correction_changed(client, store):
    # Given an order, and support adding a note to the customer, a private note, and correcting the address
    order = desk_order(store)
    user = staff("support")
    logged_in(client, user)
    client.post(action_url(order, "note"), POSTS["note"])
    client.post(action_url(order, "note"), {"note": "Customer is a reseller."})
    client.post(action_url(order, "address"), POSTS["address"])
    changes = ("Last name: Gruber → de Vries · Address: Hauptstraße 2 → Prinsengracht 263 · Address line 2: — → "
               "2e etage · Postcode: 1010 → 1016 GV · City: Wien → Amsterdam · Country code: AT → NL · "
               "Phone: +49 30 100001 → +31 20 555 0101")

    # When support opens the page
    response = client.get(page_url(order))

    # Then each note and its push say who reads it, and the correction says what changed, field by field
    entries = [(e["kind"], e["label"], e["audience"], e["message"]) for e in response.context["timeline"]
               if e["user"] == user]
    assert sorted(entries) == sorted([
        ("event", "Note added", "to the customer", "Called the customer: the photo comes tomorrow."),
        ("push", "→ WooCommerce: Note", "to the customer", ""),
        ("event", "Note added", "private", "Customer is a reseller."),
        ("push", "→ WooCommerce: Note", "private", ""),
        ("event", "Shipping address changed", "", changes),
        ("push", "→ WooCommerce: Shipping address", "", ""),
    ])
    assertContains(response, '<span class="audience">to the customer</span>', count=2)
    assertContains(response, '<span class="audience">private</span>', count=2)
    assertContains(response, f'<div class="message">{changes}</div>', html=True)
    # and the event keeps the same words for the record
    assert OrderEvent.objects.get(type=EventType.ADDRESS_CHANGED).message == changes


def test_timeline_shows_an_older_address_correction_from_its_data_in_the_staff_language(client, store):
    # Given an address correction recorded before events said what changed (data only, no message)
    order = desk_order(store)
    OrderEvent.objects.create(order=order, type=EventType.ADDRESS_CHANGED, source=EventSource.STAFF,
                              data={"before": {"city": "Wien", "postcode": "1010"},
                                    "after": {"city": "Graz", "postcode": "1010"}})
    user = staff("support")

    # When support opens the page, in English and in Dutch
    english = logged_in(client, user).get(page_url(order))
    dutch = client.get(page_url(order), HTTP_ACCEPT_LANGUAGE="nl")

    # Then the change is spelled out from the data, with the labels of the staff's language
    assert [e["message"] for e in english.context["timeline"] if e["type"] == EventType.ADDRESS_CHANGED] == [
        "City: Wien → Graz"]
    assert [e["message"] for e in dutch.context["timeline"] if e["type"] == EventType.ADDRESS_CHANGED] == [
        "Plaats: Wien → Graz"]


# -- the order list ----------------------------------------------------------------------------------------


def many_orders(count=150):
    """Orders with lines across two stores, every column filled in differently."""
    stores = [StoreFactory(slug="nl", name="Fotocadeau NL"), StoreFactory(slug="it", name="Regali Foto IT")]
    statuses = ["processing", "completed", "on-hold", "cancelled", "awaiting-print"]
    types = [OrderType.IN_APP, OrderType.AMAZON, OrderType.SHINEON, OrderType.OTHER]
    start = datetime(2026, 10, 1, 8, 0, tzinfo=UTC)
    for i in range(count):
        failed = i % 7 == 0
        order = OrderFactory(
            store=stores[i % 2], woo_id=10_000 + i, status=statuses[i % len(statuses)], order_type=types[i % 4],
            created_at=start + timedelta(hours=5 * i), customer_name=f"Client {i}", city=["Roma", "Utrecht"][i % 2],
            state=["RM", ""][i % 2], country=["IT", "NL"][i % 2],
            submit_status=SubmitStatus.FAILED if failed else (SubmitStatus.SUBMITTED if i % 3 else SubmitStatus.NONE),
            submit_error="Printful: 503 Service unavailable" if failed else "",
        )
        for n in range(1 + i % 3):
            OrderLineFactory(order=order, woo_line_id=100_000 + i * 10 + n)
    return stores


@pytest.mark.parametrize("role", ["operations", "superuser"])
def test_list_page_of_100_rows_takes_at_most_10_queries(client, role, django_assert_max_num_queries):
    # Given 150 orders with lines across two stores
    many_orders(150)
    user = staff(username="root", is_superuser=True) if role == "superuser" else staff(role)
    logged_in(client, user)

    # When the list is shown with a cold cache, then with a warm one
    with django_assert_max_num_queries(10):
        cold = client.get(list_url())
    with django_assert_max_num_queries(10):
        warm = client.get(list_url("status=processing&store__id__exact=%d" % Store.objects.get(slug="nl").pk))
    with django_assert_max_num_queries(10):
        again = client.get(list_url())

    # Then a page holds 100 rows
    assert cold.status_code == warm.status_code == again.status_code == 200
    assert len(cold.context["cl"].result_list) == 100
    assert len(again.context["cl"].result_list) == 100
    assert cold.context["cl"].result_count == 150
    assertContains(cold, "Fotocadeau NL")


AMSTERDAM = ZoneInfo("Europe/Amsterdam")


def test_only_indexed_columns_sort_and_each_sort_reads_its_index_order(client, store):
    # Given orders in two statuses, the processing ones at different times
    for woo_id, status, hour in [(3101, "processing", 9), (3102, "completed", 10), (3103, "processing", 11),
                                 (3104, "completed", 8)]:
        OrderFactory(store=store, woo_id=woo_id, status=status, created_at=datetime(2026, 11, 2, hour, tzinfo=UTC))
    user = staff("operations")
    logged_in(client, user)
    columns = client.get(list_url()).context["cl"].list_display

    def sorted_by(o):
        response = client.get(list_url(f"o={o}"))
        return (tuple(response.context["cl"].queryset.query.order_by),
                [order.woo_id for order in response.context["cl"].result_list], response)

    # When the list is sorted by status, one way and the other
    status = columns.index("status_column")
    up, up_rows, response = sorted_by(status)
    down, down_rows, _response = sorted_by(f"-{status}")

    # Then the sort is the status index in order (newest first within a status), or exactly reversed
    assert up == ("status", "-created_at", "-id") and up_rows == [3102, 3104, 3103, 3101]
    assert down == ("-status", "created_at", "id") and down_rows == [3101, 3103, 3104, 3102]
    # and only the indexed columns offer a sort
    for column in ("order_number", "status_column", "customer", "type_column", "submit_column"):
        assertContains(response, f'class="sortable column-{column}')
    for column in ("total_payment", "items_column", "countdown_column"):
        assertContains(response, f'class="column-{column}"')
        assertNotContains(response, f'sortable column-{column}')

    # When a second column is added to the sort (the admin keeps the previous one), only the first counts
    customer = columns.index("customer")
    assert sorted_by(f"{status}.{customer}")[0] == ("status", "-created_at", "-id")
    # When the order column is sorted oldest first, its tie-breaker follows
    assert sorted_by(columns.index("order_number"))[0] == ("created_at", "id")
    # When a crafted link sorts by total (no index), the list keeps its own order
    total, total_rows, _response = sorted_by(columns.index("total_payment"))
    assert total == ("-created_at", "-id") and total_rows == [3103, 3102, 3101, 3104]


def filter_set():
    """Six orders, each differing from the first in one filter only.

    The stores are in Amsterdam (UTC+1 in November); the times are on the same side of the range's ends whether
    the days are Amsterdam's (one store filtered) or UTC's (several stores): test_created_range_follows_* tell
    the two apart.
    """
    one, two = StoreFactory(slug="nl", name="Fotocadeau NL"), StoreFactory(slug="it", name="Regali Foto IT")
    base = {"store": one, "status": "processing", "order_type": OrderType.IN_APP,
            "submit_status": SubmitStatus.FAILED, "submit_error": "Printful: 503",
            "created_at": datetime(2026, 11, 2, 9, 0, tzinfo=AMSTERDAM)}
    variants = {
        "match": {},
        "late_on_the_last_day": {"created_at": datetime(2026, 11, 3, 23, 59, tzinfo=AMSTERDAM)},
        "other_store": {"store": two},
        "other_status": {"status": "on-hold"},
        "other_type": {"order_type": OrderType.AMAZON},
        "submitted": {"submit_status": SubmitStatus.SUBMITTED, "submit_error": ""},
        "too_early": {"created_at": datetime(2026, 11, 1, 23, 59, tzinfo=AMSTERDAM)},
        "too_late": {"created_at": datetime(2026, 11, 4, 1, 0, tzinfo=AMSTERDAM)},  # midnight UTC
    }
    orders = {name: OrderFactory(woo_id=2000 + i, **{**base, **change}) for i, (name, change) in
              enumerate(variants.items())}
    return one, orders


def listed(response):
    return sorted(o.woo_id for o in response.context["cl"].result_list)


@pytest.mark.parametrize(("dropped", "also"), [
    (None, []),
    ("store__id__exact", ["other_store"]),
    ("status", ["other_status"]),
    ("order_type__exact", ["other_type"]),
    ("submit_status__exact", ["submitted"]),
    ("created_at__since", ["too_early"]),
    ("created_at__until", ["too_late"]),
])
def test_filters_combine(client, dropped, also):
    # Given orders that each differ in one filter
    store, orders = filter_set()
    user = staff("operations")
    params = {"store__id__exact": store.pk, "status": "processing", "order_type__exact": "in_app",
              "submit_status__exact": "failed", "created_at__since": "2026-11-02", "created_at__until": "2026-11-03"}
    params.pop(dropped, None)

    # When the list is filtered by all of them (but one)
    response = logged_in(client, user).get(list_url("&".join(f"{k}={v}" for k, v in params.items())))

    # Then exactly the matching orders are listed
    assert response.status_code == 200
    expected = ["match", "late_on_the_last_day", *also]
    assert listed(response) == sorted(orders[name].woo_id for name in expected)


def late_evening_orders():
    """Two stores, in Amsterdam and New York, each with an order late on 2 November local time (3 November in UTC),
    and one early on 3 November UTC."""
    amsterdam = StoreFactory(slug="nl", name="Fotocadeau NL", timezone="Europe/Amsterdam")
    new_york = StoreFactory(slug="us", name="Photo Gifts US", timezone="America/New_York")
    OrderFactory(store=amsterdam, woo_id=2101, created_at=datetime(2026, 11, 3, 0, 30, tzinfo=UTC))  # 01:30 CET
    OrderFactory(store=new_york, woo_id=2102, created_at=datetime(2026, 11, 3, 2, 0, tzinfo=UTC))  # 21:00 EST, 2nd
    OrderFactory(store=amsterdam, woo_id=2103, created_at=datetime(2026, 11, 2, 22, 30, tzinfo=UTC))  # 23:30 CET
    return amsterdam, new_york


def test_created_range_of_one_store_is_in_its_timezone_and_says_so(client):
    # Given orders around midnight in two stores' zones
    amsterdam, new_york = late_evening_orders()
    user = staff("operations")
    logged_in(client, user)

    # When each store's list is filtered to 2 November
    in_amsterdam = client.get(list_url(f"store__id__exact={amsterdam.pk}&created_at__since=2026-11-02"
                                       "&created_at__until=2026-11-02"))
    in_new_york = client.get(list_url(f"store__id__exact={new_york.pk}&created_at__since=2026-11-02"
                                      "&created_at__until=2026-11-02"))

    # Then the days are the store's, the filter says in which zone, and the times are shown in it, named
    assert listed(in_amsterdam) == [2103]
    assertContains(in_amsterdam, '<small class="help">Days in Europe/Amsterdam</small>', html=True)
    assertContains(in_amsterdam, "<strong>#2103</strong><br><small>2026-11-02 23:30 CET</small>", html=True)
    assert listed(in_new_york) == [2102]
    assertContains(in_new_york, '<small class="help">Days in America/New_York</small>', html=True)
    assertContains(in_new_york, "<strong>#2102</strong><br><small>2026-11-02 21:00 EST</small>", html=True)


def test_created_range_over_several_stores_is_in_utc_and_says_so(client):
    late_evening_orders()
    user = staff("operations")

    response = logged_in(client, user).get(list_url("created_at__since=2026-11-03&created_at__until=2026-11-03"))

    assert listed(response) == [2101, 2102]
    assertContains(response, '<small class="help">Days in UTC</small>', html=True)
    assertContains(response, "<strong>#2101</strong><br><small>2026-11-03 00:30 UTC</small>", html=True)
    assertContains(response, "<strong>#2102</strong><br><small>2026-11-03 02:00 UTC</small>", html=True)


def test_a_single_store_lists_its_own_time_without_a_store_filter(client):
    store = StoreFactory(slug="br", timezone="America/Sao_Paulo")
    OrderFactory(store=store, woo_id=2201, created_at=datetime(2026, 11, 3, 2, 0, tzinfo=UTC))
    user = staff("operations")

    response = logged_in(client, user).get(list_url("created_at__since=2026-11-02&created_at__until=2026-11-02"))

    # São Paulo has no common abbreviation: the offset is named as one from UTC
    assert listed(response) == [2201]
    assertContains(response, "<strong>#2201</strong><br><small>2026-11-02 23:00 UTC-03</small>", html=True)
    assertContains(response, '<small class="help">Days in America/Sao_Paulo</small>', html=True)


def test_failed_submission_shows_its_reason_on_hover(client, store):
    OrderFactory(store=store, woo_id=3001, submit_status=SubmitStatus.FAILED,
                 submit_error='Printful answered 503 "Service unavailable"')
    OrderFactory(store=store, woo_id=3002, submit_status=SubmitStatus.SUBMITTED)
    OrderFactory(store=store, woo_id=3003)
    user = staff("operations")

    response = logged_in(client, user).get(list_url())

    assertContains(response, '<span class="submit-failed" '
                             'title="Printful answered 503 &quot;Service unavailable&quot;">Failed</span>', html=True)
    assertContains(response, '<span class="submit-ok">Submitted</span>', html=True, count=1)
    assertContains(response, "submit-failed", count=1)


def search_set(store):
    return {
        "anna": OrderFactory(store=store, woo_id=5001, number="5001", customer_name="Anna de Vries",
                             customer_email="anna.devries@example.nl"),
        "marco": OrderFactory(store=store, woo_id=5002, number="R-2026-0042", customer_name="Marco Rossi",
                              customer_email="marco.rossi@example.it"),
        "numbered": OrderFactory(store=store, woo_id=42, number="5002", customer_name="Sophie Martin",
                                 customer_email="sophie@exemple.fr"),
    }


@pytest.mark.parametrize(("term", "expected"), [
    ("5001", ["anna"]),
    ("#5001", ["anna"]),
    ("5002", ["marco", "numbered"]),  # Marco's WooCommerce id, Sophie's order number
    ("42", ["numbered"]),
    ("R-2026-0042", ["marco"]),
    ("devries@", ["anna"]),
    ("EXAMPLE.IT", ["marco"]),
    ("Rossi", ["marco"]),
    ("de vries", ["anna"]),
    ("nobody", []),
])
def test_search_by_number_id_email_or_name(client, store, term, expected):
    orders = search_set(store)
    user = staff("support")

    response = logged_in(client, user).get(reverse("admin:fulfillment_order_changelist"), {"q": term})

    assert response.status_code == 200
    assert listed(response) == sorted(orders[name].woo_id for name in expected)


def test_status_tabs_count_orders_per_status(client):
    # Given orders in several statuses, one custom, in two stores
    one, two = StoreFactory(slug="nl"), StoreFactory(slug="it")
    for i, (store, status) in enumerate([(one, "processing"), (one, "processing"), (two, "processing"),
                                         (one, "completed"), (two, "completed"), (one, "awaiting-print")]):
        OrderFactory(store=store, woo_id=4000 + i, status=status)
    user = staff("operations")
    logged_in(client, user)

    # When the list is shown, for all stores and then for one
    everything = client.get(list_url("status=processing"))
    one_store = client.get(list_url(f"store__id__exact={one.pk}"))

    # Then each status has a tab with its count, the current one marked
    assert [(t["label"], t["count"], t["active"]) for t in everything.context["status_tabs"]] == [
        ("All", 6, False), ("Processing", 3, True), ("Completed", 2, False), ("Awaiting print", 1, False)]
    assertContains(everything,
                   '<a href="?status=processing" class="active">Processing <span class="count">3</span></a>', html=True)
    assert [(t["label"], t["count"]) for t in one_store.context["status_tabs"]] == [
        ("All", 4), ("Processing", 2), ("Completed", 1), ("Awaiting print", 1)]


def test_status_tabs_keep_the_other_filters_and_leave_the_page_number(client):
    # Given orders in two statuses in two stores
    one, two = StoreFactory(slug="nl"), StoreFactory(slug="it")
    for i, (store, status) in enumerate([(one, "processing"), (one, "on-hold"), (two, "on-hold")]):
        OrderFactory(store=store, woo_id=4100 + i, status=status, customer_name="Anna de Vries")
    user = staff("operations")
    query = (f"store__id__exact={one.pk}&q=vries&created_at__since=2026-11-01&created_at__until=2026-11-30"
             "&o=1&status=processing&p=2")

    # When page 2 of a store's processing orders, searched and within dates, is shown
    response = logged_in(client, user).get(list_url(query))

    # Then each tab links to the same list in its own status, from its first page
    tabs = {t["label"]: parse_qs(t["url"].removeprefix("?")) for t in response.context["status_tabs"]}
    kept = {"store__id__exact": [str(one.pk)], "q": ["vries"], "created_at__since": ["2026-11-01"],
            "created_at__until": ["2026-11-30"], "o": ["1"]}
    assert tabs == {"All": kept, "Processing": {**kept, "status": ["processing"]},
                    "On hold": {**kept, "status": ["on-hold"]}}
    on_hold = next(t["url"] for t in response.context["status_tabs"] if t["status"] == "on-hold")
    assertContains(response, f'href="{on_hold.replace("&", "&amp;")}"')

    # And following the tab lists the store's on-hold order only
    assert listed(client.get(list_url(on_hold.removeprefix("?")))) == [4101]


def test_status_filter_offers_every_custom_status_not_only_the_newest(client, store):
    # Given an old order in a custom status, then many newer ones in another custom status
    OrderFactory(store=store, woo_id=8000, status="in-production", created_at=datetime(2025, 1, 5, tzinfo=UTC))
    for i in range(60):
        OrderFactory(store=store, woo_id=8001 + i, status="awaiting-print")
    user = staff("operations")

    # When the list is shown
    response = logged_in(client, user).get(list_url())

    # Then the status filter offers the core statuses and both custom ones
    status_filter = response.context["cl"].filter_specs[0]
    assert status_filter.lookup_choices[-2:] == [("awaiting-print", "Awaiting print"),
                                                 ("in-production", "In production")]
    assert len(status_filter.lookup_choices) == 12
    filtered = client.get(list_url("status=in-production"))
    assert listed(filtered) == [8000]


def test_count_stops_at_the_cap_and_says_more_than(client, store, monkeypatch):
    # Given more orders than the count goes up to, over more than one page
    monkeypatch.setattr("backoffice.list_tools.COUNT_CAP", 5)
    monkeypatch.setattr(OrderAdmin, "list_per_page", 3)
    for i in range(8):
        OrderFactory(store=store, woo_id=6000 + i)
    user = staff("operations")

    # When the list is shown
    response = logged_in(client, user).get(list_url())

    # Then the count stops one past the cap and staff are told to narrow the filters
    assert response.context["cl"].paginator.count == 6
    assertContains(response, '<p class="help">More than 5 orders match: '
                             'narrow the filters to see the exact number.</p>', html=True)
    assert [o.woo_id for o in response.context["cl"].result_list] == [6007, 6006, 6005]


def test_count_under_the_cap_says_nothing_more(client, store, monkeypatch):
    monkeypatch.setattr("backoffice.list_tools.COUNT_CAP", 5)
    monkeypatch.setattr(OrderAdmin, "list_per_page", 3)
    for i in range(5):
        OrderFactory(store=store, woo_id=6000 + i)
    user = staff("operations")

    response = logged_in(client, user).get(list_url())

    assert response.context["cl"].paginator.count == 5
    assertNotContains(response, "orders match: narrow the filters")


# -- bulk actions -----------------------------------------------------------------------------------------


def bulk_orders(store):
    return [OrderFactory(store=store, woo_id=7001, status="processing"),
            OrderFactory(store=store, woo_id=7002, status="on-hold"),
            OrderFactory(store=store, woo_id=7003, status="refunded"),
            OrderFactory(store=store, woo_id=7004, status="processing")]


def selected(orders):
    return [str(o.pk) for o in orders]


def test_bulk_status_change_asks_then_applies_and_lists_the_refused(client, store):
    # Given orders in statuses that may and may not be completed
    orders = bulk_orders(store)
    user = staff("operations")
    logged_in(client, user)
    chosen = orders[:3]

    # When operations choose "change status" on three of them
    asked = client.post(list_url(), {"action": "bulk_change_status", "_selected_action": selected(chosen),
                                     "index": "0", "select_across": "0"})

    # Then an intermediate page asks for the new status, nothing changed yet
    assert asked.status_code == 200
    assert asked.templates[0].name == "admin/fulfillment/order/bulk_status.html"
    assertContains(asked, "Change the status of 3 orders:")
    assert StorePush.objects.count() == 0

    # When they apply "completed"
    applied = client.post(list_url(), {"action": "bulk_change_status", "_selected_action": selected(chosen),
                                       "select_across": "0", "status": "completed", "note": "shipped by hand",
                                       "apply": "Change status"}, follow=True)

    # Then the two that may are completed, with events and pushes by that user; the refunded one is listed
    assert messages_of(applied) == ["2 orders moved to Completed.", "Not allowed from their status: #7003 (Refunded)"]
    assert dict(Order.objects.values_list("woo_id", "status")) == {
        7001: "completed", 7002: "completed", 7003: "refunded", 7004: "processing"}
    assert sorted(OrderEvent.objects.filter(user=user).values_list("order__woo_id", "message")) == [
        (7001, "Processing → Completed: shipped by hand"), (7002, "On hold → Completed: shipped by hand")]
    assert StorePush.objects.filter(created_by=user, payload={"status": "completed"}).count() == 2


@pytest.mark.parametrize("action", ["bulk_change_status", "bulk_submit"])
def test_bulk_action_over_more_orders_than_the_cap_is_refused_and_changes_nothing(client, store, monkeypatch,
                                                                                  action):
    # Given more orders than a bulk action takes, and operations
    monkeypatch.setattr("fulfillment.admin.orders.BULK_LIMIT", 3)
    bulk_orders(store)
    user = staff("operations")

    # When they select all of them (across pages) and apply the action
    response = logged_in(client, user).post(list_url(), {
        "action": action, "_selected_action": selected(Order.objects.all()[:1]), "select_across": "1",
        "status": "completed", "apply": "Change status"}, follow=True)

    # Then they are told to narrow the list, and nothing changed, was queued or written
    assert messages_of(response) == [
        "More than 3 orders are selected; a bulk action takes at most 3. Nothing was changed: narrow the list "
        "(a status tab, a store, dates or a search) and run it again."]
    assert list(Order.objects.order_by("woo_id").values_list("status", "submit_status")) == [
        ("processing", ""), ("on-hold", ""), ("refunded", ""), ("processing", "")]
    assert (OrderEvent.objects.count(), StorePush.objects.count()) == (0, 0)


def test_bulk_status_change_of_all_within_the_cap_asks_for_exactly_those_orders(client, store, monkeypatch):
    # Given as many orders in a filtered list as a bulk action takes, and one more outside the filter
    monkeypatch.setattr("fulfillment.admin.orders.BULK_LIMIT", 3)
    orders = bulk_orders(store)
    Order.objects.filter(woo_id=7003).update(status="processing")
    user = staff("operations")
    logged_in(client, user)

    # When operations select all the processing orders and choose "change status"
    with CaptureQueriesContext(connection) as queries:
        asked = client.post(list_url("status=processing"), {
            "action": "bulk_change_status", "_selected_action": selected(orders[:1]), "select_across": "1",
            "index": "0"})

    # Then the page lists the three, carries their ids (not "select all" again) and counted nothing exactly
    assert asked.status_code == 200
    assertContains(asked, "Change the status of 3 orders:")
    assert sorted(asked.context["orders"], key=lambda o: o.pk) == sorted(
        [orders[0], orders[2], orders[3]], key=lambda o: o.pk)
    assertContains(asked, '<input type="hidden" name="select_across" value="0">', html=True)
    exact_counts = [q["sql"] for q in queries.captured_queries if '"__count"' in q["sql"] and "LIMIT" not in q["sql"]]
    assert exact_counts == []  # the list's count stops at its cap; the action reads one id more than it takes

    # When a fourth processing order arrives before they apply, the three they saw are changed, not the fourth
    late = OrderFactory(store=store, woo_id=7005, status="processing")
    applied = client.post(list_url("status=processing"), {
        "action": "bulk_change_status", "_selected_action": [str(o.pk) for o in asked.context["orders"]],
        "select_across": "0", "status": "on-hold", "apply": "Change status"}, follow=True)
    assert messages_of(applied) == ["3 orders moved to On hold."]
    assert dict(Order.objects.values_list("woo_id", "status")) == {
        7001: "on-hold", 7002: "on-hold", 7003: "on-hold", 7004: "on-hold", late.woo_id: "processing"}


def test_bulk_cancel_needs_the_confirmation(client, store):
    orders = bulk_orders(store)
    user = staff("operations")

    response = logged_in(client, user).post(list_url(), {
        "action": "bulk_change_status", "_selected_action": selected(orders[:2]), "select_across": "0",
        "status": "cancelled", "apply": "Change status"})

    assert response.status_code == 200
    assertContains(response, "Cancelling cannot be undone in the shop: tick the box to confirm.")
    assert list(Order.objects.order_by("woo_id").values_list("status", flat=True)) == [
        "processing", "on-hold", "refunded", "processing"]
    assert (OrderEvent.objects.count(), StorePush.objects.count()) == (0, 0)


@pytest.mark.parametrize("role", ["support", "finance"])
def test_bulk_status_change_needs_the_permission(client, store, role):
    # Given orders and a member of a role without "change status"
    orders = bulk_orders(store)
    user = staff(role)

    # When they post the action anyway, straight to "apply"
    response = logged_in(client, user).post(list_url(), {
        "action": "bulk_change_status", "_selected_action": selected(orders), "select_across": "0",
        "status": "completed", "apply": "Change status"})

    # Then nothing changes
    assert response.status_code in (200, 302)
    assert list(Order.objects.order_by("woo_id").values_list("status", flat=True)) == [
        "processing", "on-hold", "refunded", "processing"]
    assert (OrderEvent.objects.count(), StorePush.objects.count()) == (0, 0)


def test_export_csv_of_the_selection(client, store):
    # Given orders and finance
    orders = bulk_orders(store)
    orders[0].submit_status = SubmitStatus.SUBMITTED
    orders[0].save(update_fields=["submit_status"])
    user = staff("finance")

    # When finance exports two of them
    response = logged_in(client, user).post(list_url(), {"action": "export_csv",
                                                         "_selected_action": selected(orders[:2]),
                                                         "index": "0", "select_across": "0"})

    # Then a CSV comes back with a header and one row per order
    assert response.status_code == 200
    assert response["Content-Type"] == "text/csv; charset=utf-8"
    assert response["Content-Disposition"] == 'attachment; filename="orders.csv"'
    rows = list(csv.reader(io.StringIO(b"".join(response.streaming_content).decode())))
    assert rows == [
        ["Number", "WooCommerce id", "Store", "Status", "Created (UTC)", "Customer", "Email", "City", "State",
         "Country", "Total", "Currency", "Payment method", "Items", "Type", "Submit status"],
        ["7001", "7001", store.slug, "processing", "2026-11-01 10:00:00+00:00", "Ben Schmidt",
         "customer7001@example.com", "Wien", "", "AT", "40.08", "EUR", "Direct bank transfer", "1", "other",
         "submitted"],
        ["7002", "7002", store.slug, "on-hold", "2026-11-01 10:00:00+00:00", "Ben Schmidt",
         "customer7002@example.com", "Wien", "", "AT", "40.08", "EUR", "Direct bank transfer", "1", "other", ""],
    ]


def test_export_csv_neutralises_customer_text_a_spreadsheet_would_run_as_a_formula(client, store):
    # Given orders whose customer typed formulas into the checkout fields
    formulas = OrderFactory(store=store, woo_id=7101, customer_name='=HYPERLINK("http://evil.example","Anna")',
                            customer_email="@SUM(1+1)@example.com", city="+31 Utrecht", state="-2+3",
                            payment_method_title="\tcmd|' /C calc'!A0", total=Decimal("12.50"))
    plain = OrderFactory(store=store, woo_id=7102, customer_name="Anna-Lena Maier", city="Graz",
                         payment_method_title="PayPal")
    carriage_return = OrderFactory(store=store, woo_id=7103, customer_name="\rcarriage", city="Linz")
    user = staff("finance")

    # When finance exports them
    response = logged_in(client, user).post(list_url(), {
        "action": "export_csv", "_selected_action": selected([formulas, plain, carriage_return]),
        "index": "0", "select_across": "0"})

    # Then every cell that starts like a formula starts with an apostrophe; other cells and numbers are unchanged
    rows = list(csv.reader(io.StringIO(b"".join(response.streaming_content).decode(), newline="")))
    columns = rows[0]
    by_number = {row[0]: dict(zip(columns, row)) for row in rows[1:]}
    assert {k: by_number["7101"][k] for k in ("Customer", "Email", "City", "State", "Payment method", "Total")} == {
        "Customer": '\'=HYPERLINK("http://evil.example","Anna")', "Email": "'@SUM(1+1)@example.com",
        "City": "'+31 Utrecht", "State": "'-2+3", "Payment method": "'\tcmd|' /C calc'!A0", "Total": "12.50"}
    assert {k: by_number["7102"][k] for k in ("Customer", "City", "Payment method", "Total")} == {
        "Customer": "Anna-Lena Maier", "City": "Graz", "Payment method": "PayPal", "Total": "40.08"}
    assert by_number["7103"]["Customer"] == "'\rcarriage"


@pytest.mark.parametrize("role", ["support", "operations"])
def test_export_needs_the_export_permission(client, store, role):
    orders = bulk_orders(store)
    user = staff(role)

    response = logged_in(client, user).post(list_url(), {"action": "export_csv", "_selected_action": selected(orders),
                                                         "index": "0", "select_across": "0"})

    assert response.status_code in (200, 302)
    assert not response.get("Content-Type", "").startswith("text/csv")
    assert not getattr(response, "streaming", False)


# -- the dashboard ---------------------------------------------------------------------------------------


def test_dashboard_shows_per_store_figures_and_a_chart(client):
    # Given two stores with orders of the last days, submissions and pushes in various states
    one, two = StoreFactory(slug="nl", name="Fotocadeau NL"), StoreFactory(slug="it", name="Regali Foto IT")
    yesterday = timezone.now() - timedelta(days=1)
    waiting = OrderFactory(store=one, woo_id=1, status="processing", order_type=OrderType.IN_APP,
                           created_at=yesterday)
    OrderFactory(store=one, woo_id=2, status="processing", order_type=OrderType.IN_APP,
                 submit_status=SubmitStatus.FAILED, submit_error="Printful: 503", created_at=yesterday)
    OrderFactory(store=one, woo_id=3, status="completed", order_type=OrderType.IN_APP,
                 submit_status=SubmitStatus.SUBMITTED, created_at=yesterday)
    OrderFactory(store=two, woo_id=4, status="on-hold", created_at=yesterday)
    for state in (PushState.FAILED, PushState.RETRYING, PushState.SENT):
        StorePush.objects.create(store=one, order=waiting, kind=PushKind.NOTE, payload={}, state=state,
                                 next_attempt_at=timezone.now())
    user = staff("operations")

    # When operations open the admin's home page
    response = logged_in(client, user).get(reverse("admin:index"))

    # Then each store has its figures, statuses and an inline chart
    assert response.status_code == 200
    html = response.content.decode()
    nl, it = html.split("<h2>Fotocadeau NL</h2>")[1].split("</section>")[0], \
        html.split("<h2>Regali Foto IT</h2>")[1].split("</section>")[0]
    assert "<strong>1</strong> waiting for submission" in nl
    assert "<strong>1</strong> failed submissions" in nl
    assert "<strong>2</strong> pushes to WooCommerce failing" in nl
    assert "Processing</span> 2" in nl and "Completed</span> 1" in nl
    assert "<strong>0</strong> waiting for submission" in it
    assert "<strong>0</strong> pushes to WooCommerce failing" in it
    assert "On hold</span> 1" in it
    day = timezone.localdate(yesterday).isoformat()
    assert f"<title>{day}: 3</title>" in nl and f"<title>{day}: 1</title>" in it
    # orders per day in both; revenue per day in the first only (its orders are paid, the other's is on hold)
    assert nl.count("<svg") == 2 and it.count("<svg") == 1
    assert "<script" not in html.split('id="dashboard"')[1].split("</section>")[0]


def test_dashboard_costs_the_same_queries_for_one_store_or_many(client, django_assert_num_queries,
                                                                django_assert_max_num_queries):
    # Given one store, then seven, some exporting to accounting, with orders, pushes and export records
    def add_store(n):
        store = StoreFactory(slug=f"s{n}", name=f"Shop {n}")
        order = OrderFactory(store=store, woo_id=n, created_at=timezone.now() - timedelta(days=1))
        StorePush.objects.create(store=store, order=order, kind=PushKind.NOTE, payload={}, state=PushState.FAILED,
                                 next_attempt_at=timezone.now())
        if n % 2:
            ExportRule.objects.create(store=store)
            AccountingExport.objects.create(order=order, store=store)

    add_store(1)
    # stores, statuses (not in the tab counts' cache yet: counted, in one query for all the stores missing),
    # submission flags (and the pipeline's waiting), the pipeline's other stages, pushes, orders per day (and their
    # revenue), refunds, accounting's figures (the stores with a rule and their exports), dropshipping's; on
    # PostgreSQL one more: the table's size from its statistics (a small table is counted, not estimated)
    with django_assert_num_queries(9 + on_postgres()):
        assert len(dashboard()) == 1
    for n in range(2, 8):
        add_store(n)
    with django_assert_num_queries(9 + on_postgres()):
        rows = dashboard()
    assert [r["extra"].get("accounting-exports") for r in rows] == [
        {"open": 1, "failed": 0} if n % 2 else None for n in range(1, 8)]

    # And the admin's home page with seven stores stays within a fixed budget (session, user, permissions,
    # the dashboard — one more on PostgreSQL, as above —, the app list)
    cache.clear()
    client.force_login(staff("finance"))
    with django_assert_max_num_queries(14 + on_postgres()):
        response = client.get(reverse("admin:index"))
    assert response.content.decode().count("open accounting exports") == 4


def test_dashboard_takes_the_status_figures_from_the_tab_counts_and_groups_over_no_whole_table(client):
    # Given two stores whose status counts the every-minute task has just counted
    one, two = StoreFactory(slug="nl", name="Fotocadeau NL"), StoreFactory(slug="it", name="Regali Foto IT")
    OrderFactory.create_batch(2, store=one, status="processing", order_type=OrderType.IN_APP)
    OrderFactory(store=two, status="on-hold", submit_status=SubmitStatus.FAILED)
    status_counts_refresh()
    OrderFactory(store=one, status="completed")  # arrives after the count: the tabs show it within a minute

    # When the dashboard is computed
    with CaptureQueriesContext(connection) as queries:
        rows = dashboard()

    # Then its statuses are the list's tabs (the same cache), the flags are counted
    assert [(r["store"].slug, r["by_status"], r["pipeline"]["waiting"], r["failed_submissions"]) for r in rows] == [
        ("nl", [("processing", 2)], 2, 0), ("it", [("on-hold", 1)], 0, 1)]
    # with no GROUP BY of statuses and no query reading every order (each has a WHERE an index serves)
    sql = [q["sql"] for q in queries.captured_queries]
    assert not [q for q in sql if '"fulfillment_order"."status" AS' in q]
    on_orders = [q for q in sql if 'FROM "fulfillment_order"' in q]
    # the flags, the pipeline's stages (one UNION ALL), the orders per day
    assert len(on_orders) == 3 and all(" WHERE " in q for q in on_orders)
    # stores, flags, pipeline, pushes, orders per day, refunds, accounting's figures (the stores with a rule and
    # their exports), dropshipping's (the suppliers and their failed reservations)
    assert len(sql) == 8


def test_cached_dashboard_serves_every_language_with_no_group_by(client):
    # Given a store with orders and the dashboard shown once (in English)
    store = StoreFactory(slug="nl", name="Fotocadeau NL")
    OrderFactory.create_batch(2, store=store, status="processing", order_type=OrderType.IN_APP,
                              created_at=timezone.now() - timedelta(days=1))
    logged_in(client, staff("operations"))
    assert client.get(reverse("admin:index")).status_code == 200

    # When staff open it in other languages
    for language, waiting in [("nl", "wachten op productieopdracht"), ("fr", None), ("es", None), ("it", None)]:
        with CaptureQueriesContext(connection) as queries:
            response = client.get(reverse("admin:index"), HTTP_ACCEPT_LANGUAGE=language)

        # Then the numbers come from the one cached copy, the words in their language
        assert response.status_code == 200
        assert not [q["sql"] for q in queries.captured_queries if "GROUP BY" in q["sql"]], language
        assert response["Content-Language"] == language
        html = response.content.decode()
        assert "<strong>2</strong>" in html.split('id="dashboard"')[1]
        if waiting:
            assert f"<strong>2</strong> {waiting}" in html
            assert "Fotocadeau NL: bestellingen per dag" in html


@pytest.mark.postgres
def test_dashboard_flags_are_read_from_the_partial_and_submit_status_indexes(db):
    # Given the dashboard's flag query (on a small test table the planner would scan it: forbid that, to see
    # whether the indexes can serve it at all)
    with connection.cursor() as cursor:
        cursor.execute("SET LOCAL enable_seqscan = off")
        plan = submission_flags().explain()

    # Then PostgreSQL reads the partial index of waiting orders OR the submit status index, nothing else
    assert "order_waiting_submission_idx" in plan and "order_submit_created_idx" in plan, plan
    assert "BitmapOr" in plan and "Seq Scan" not in plan, plan


def test_dashboard_is_not_shown_to_staff_without_a_role(client, store):
    OrderFactory(store=store, woo_id=1)
    user = staff()

    response = logged_in(client, user).get(reverse("admin:index"))

    assert response.status_code == 200
    assertNotContains(response, 'id="dashboard"')


@pytest.mark.parametrize("query", ["q=%C2%B2", "q=%23%C2%B2", "store=%C2%B2", "q=" + "9" * 5000, "customer=%C2%B2"])
def test_the_order_list_searched_or_filtered_with_other_digits_is_no_500(client, store, query):
    # '²'.isdigit() is true and int('²') fails; int() refuses 5,000 digits: searches and the store filter were 500s
    desk_order(store)
    response = logged_in(client, staff(username="root", is_superuser=True)).get(
        f"/admin/fulfillment/order/?{query}")
    # Then the list answers: no order is numbered so (a filter it cannot read leads to the list with ?e=1)
    assert response.status_code in (200, 302)
    if response.status_code == 200:
        assert response.context["cl"].result_count == 0
