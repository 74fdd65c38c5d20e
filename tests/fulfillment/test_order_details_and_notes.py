"""Two things of WooCommerce's own order page: emailing the order details to the customer (through the outbox),
and WooCommerce's notes of the order (payment, stock, plugins), read when the order page asks."""

import pytest
from django.urls import reverse

from fulfillment.choices import EventType, PushKind, PushState
from fulfillment.models import OrderEvent, StorePush
from fulfillment.errors import OrderActionError
from fulfillment.services.orders import order_send_details
from fulfillment.services.push_dispatch import push_retry, pushes_dispatch
from tests.fulfillment.pushes import later, mirrored, sent_requests

GATEWAY_TIMEOUT = "<html><body><h1>504 Gateway Time-out</h1></body></html>"


def test_order_details_are_emailed_by_woocommerce_once(woo, woo_store, support,
                                                       django_capture_on_commit_callbacks):
    # Given an order of the shop
    order = mirrored(woo, woo_store, 17, email="anna@example.com")

    # When support has the order details sent, and the outbox runs
    with django_capture_on_commit_callbacks(execute=False):
        order_send_details(order=order, user=support)
    assert pushes_dispatch() == {"sent": 1}

    # Then WooCommerce was asked once, the timeline says who asked and to which address
    assert sent_requests(woo) == [("POST", "orders/17/actions/send_order_details")]
    assert woo.details_sent == [(17, "anna@example.com")]
    push = StorePush.objects.get()
    assert (push.kind, push.state, push.created_by) == (PushKind.ORDER_DETAILS, PushState.SENT, support)
    assert push.response == {"message": "Order details sent to anna@example.com, via REST API."}
    event = OrderEvent.objects.get(type=EventType.ORDER_DETAILS)
    assert event.user == support
    assert event.message == "WooCommerce is asked to email the order details to anna@example.com"


def test_an_order_without_an_email_address_is_refused_and_nothing_is_queued(woo, woo_store, support):
    order = mirrored(woo, woo_store, 17)
    order.billing = {**order.billing, "email": ""}
    order.customer_email = ""
    order.save(update_fields=["billing", "customer_email"])

    with pytest.raises(OrderActionError, match="This order has no email address"):
        order_send_details(order=order, user=support)

    assert not StorePush.objects.exists()
    assert not OrderEvent.objects.filter(type=EventType.ORDER_DETAILS).exists()


def test_details_whose_answer_was_lost_are_not_sent_again_until_staff_say_so(woo, woo_store, support):
    # Given a request for the details whose answer was lost at a gateway (the mail may be out)
    order = mirrored(woo, woo_store, 17)
    order_send_details(order=order, user=support)
    woo.fail_next(1, status=504, body=GATEWAY_TIMEOUT)
    assert pushes_dispatch() == {"retrying": 1}

    # When the outbox runs again
    assert pushes_dispatch(now=later()) == {"failed": 1}

    # Then it did not send again, and says what to check
    push = StorePush.objects.get()
    assert push.state == PushState.FAILED
    assert push.last_error.startswith("WooCommerce may have emailed the order details already")
    assert woo.details_sent == []  # the 504 came before the shop; nothing was sent at all

    # When support, having looked, retries it
    push_retry(push=push, user=support)
    assert pushes_dispatch(now=later(120)) == {"sent": 1}

    # Then it goes out once
    assert woo.details_sent == [(17, order.customer_email)]


def test_the_order_page_sends_the_details_for_support_and_refuses_finance(woo, woo_store, support, finance, client):
    order = mirrored(woo, woo_store, 17)
    url = reverse("admin:fulfillment_order_action", args=[order.pk, "send_details"])

    client.force_login(finance)
    assert client.post(url).status_code == 403
    assert not StorePush.objects.exists()

    client.force_login(support)
    response = client.post(url)
    assert response.status_code == 302
    assert StorePush.objects.get().kind == PushKind.ORDER_DETAILS
    page = client.get(reverse("admin:fulfillment_order_change", args=[order.pk])).content.decode()
    assert 'id="send-details-form"' in page
    # WooCommerce's notes are asked for by a link, not on every view of the page
    assert reverse("admin:fulfillment_order_woo_notes", args=[order.pk]) in page
    assert ("GET", "orders/17/notes") not in sent_requests(woo)


def test_woocommerce_notes_are_shown_as_text_in_the_stores_time(woo, woo_store, support, client):
    # Given an order with a payment note from a plugin (HTML) and a customer note, in the shop
    order = mirrored(woo, woo_store, 17)
    woo_store.timezone = "Europe/Amsterdam"
    woo_store.save(update_fields=["timezone"])
    woo.notes[17] = [
        {"id": 1, "author": "system", "date_created_gmt": "2026-11-20T09:15:00", "customer_note": False,
         "note": 'Payment via <a href="https://mollie.example/tr_1">Mollie</a> (tr_1).<br>Stock reduced: Mug 2→1'},
        {"id": 2, "author": "Anna", "date_created_gmt": "2026-11-20T10:00:00", "customer_note": True,
         "note": "We are printing your book."},
    ]

    # When support's order page asks for them
    client.force_login(support)
    response = client.get(reverse("admin:fulfillment_order_woo_notes", args=[order.pk]))

    # Then they are listed, newest first, as text (no link of the shop's), in the store's time
    assert response.status_code == 200
    html = response.content.decode()
    assert "Payment via Mollie (tr_1).Stock reduced: Mug 2→1" in html
    assert "<a href" not in html
    assert html.index("We are printing your book.") < html.index("Payment via Mollie")
    assert "2026-11-20 10:15 CET" in html and "2026-11-20 11:00 CET" in html
    assert "to the customer" in html and "private" in html


def test_woocommerce_notes_of_a_shop_that_is_down_say_so(woo, woo_store, support, client):
    order = mirrored(woo, woo_store, 17)
    woo.fail_next(1)

    client.force_login(support)
    response = client.get(reverse("admin:fulfillment_order_woo_notes", args=[order.pk]))

    assert response.status_code == 502
    assert "WooCommerce did not give the notes: " in response.content.decode()


def test_woocommerce_notes_need_the_permission_to_see_the_order(woo, woo_store, client):
    from tests.factories import UserFactory

    order = mirrored(woo, woo_store, 17)
    client.force_login(UserFactory(username="nobody"))

    response = client.get(reverse("admin:fulfillment_order_woo_notes", args=[order.pk]))

    assert response.status_code == 403
    assert ("GET", "orders/17/notes") not in sent_requests(woo)
