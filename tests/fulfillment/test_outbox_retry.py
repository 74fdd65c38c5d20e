"""Who may send a failed push again (the permission to make that change), and the links that lead staff there."""

import re
from html import unescape

import pytest
from django.urls import reverse
from django.utils import timezone

from fulfillment.choices import EventType, PushKind, PushState
from fulfillment.models import OrderEvent, Refund, Store, StorePush
from fulfillment.services.orders import order_add_note, order_change_status, order_update_shipping_address
from fulfillment.pushes import PushError
from fulfillment.services.push_dispatch import push_retry, pushes_dispatch
from fulfillment.services.refunds import order_refund
from fulfillment.services.tracking import shipment_add
from tests.factories import StoreFactory, UserFactory
from tests.fulfillment.pushes import INVALID_STATUS, NEW_ADDRESS, mirrored, refuse_next, staff

REFUND_REFUSED = {"code": "woocommerce_rest_cannot_create_order_refund", "message": "Invalid refund amount.",
                  "data": 400}
PERMISSION = {
    PushKind.STATUS: "fulfillment.change_order_status",
    PushKind.NOTE: "fulfillment.add_order_note",
    PushKind.ADDRESS: "fulfillment.change_order_address",
    PushKind.REFUND: "fulfillment.refund_order",
    PushKind.TRACKING: "fulfillment.add_tracking",
}
# Who may retry what, by the roles of migration 0004.
MAY_RETRY = {
    PushKind.STATUS: {"operations"},
    PushKind.NOTE: {"operations", "support"},
    PushKind.ADDRESS: {"support"},
    PushKind.REFUND: {"finance"},
    PushKind.TRACKING: {"operations"},
}


@pytest.fixture(autouse=True)
def fast_password_hashing(settings):
    settings.PASSWORD_HASHERS = ["django.contrib.auth.hashers.MD5PasswordHasher"]


def failed_push(woo, store, kind, woo_id=17):
    """A push of `kind` that WooCommerce refused for good, made through the service that makes such changes."""
    order = mirrored(woo, store, woo_id, status="processing")
    maker = UserFactory(username="maker")
    if kind == PushKind.STATUS:
        order_change_status(order=order, status="completed", user=maker)
    elif kind == PushKind.NOTE:
        order_add_note(order=order, note="Proof approved.", customer_note=False, user=maker)
    elif kind == PushKind.ADDRESS:
        order_update_shipping_address(order=order, address=NEW_ADDRESS, user=maker)
    elif kind == PushKind.REFUND:
        line = order.lines.get()
        order_refund(order=order, amounts={}, quantities={line.woo_line_id: "1"}, reason="broken", restock=False,
                     user=maker)
    elif kind == PushKind.TRACKING:
        Store.objects.filter(pk=store.pk).update(has_shipment_tracking=True, complete_when_shipped=False)
        order.store.refresh_from_db()
        shipment_add(order=order, carrier="DHL", tracking_number="JJD000390007722316", user=maker)
    woo.fail_next(1, status=500 if kind == PushKind.REFUND else 400,
                  body=REFUND_REFUSED if kind == PushKind.REFUND else INVALID_STATUS)
    pushes_dispatch(store_ids=[store.pk])
    push = StorePush.objects.get(order=order, kind=kind)
    assert push.state == PushState.FAILED
    return push


CASES = [(kind, role) for kind in MAY_RETRY for role in ("operations", "support", "finance")]


@pytest.mark.parametrize(("kind", "role"), CASES, ids=[f"{k}-{r}" for k, r in CASES])
def test_a_failed_push_is_retried_only_by_a_role_that_may_make_that_change(woo, woo_store, kind, role,
                                                                           django_capture_on_commit_callbacks):
    # Given a push of this kind WooCommerce refused, and a staff member of this role
    push = failed_push(woo, woo_store, kind)
    user = staff(role)

    # When they retry it
    with django_capture_on_commit_callbacks() as callbacks:
        if role in MAY_RETRY[kind]:
            push_retry(push=push, user=user)
        else:
            with pytest.raises(PushError) as raised:
                push_retry(push=push, user=user)

    # Then it is queued again with their name on the timeline, or refused naming the permission, with nothing done
    push.refresh_from_db()
    retried = OrderEvent.objects.filter(type=EventType.PUSH_RETRIED)
    if role in MAY_RETRY[kind]:
        assert push.state == PushState.PENDING
        assert [(e.user, e.data["push_id"]) for e in retried] == [(user, push.pk)]
        assert len(callbacks) == 1
    else:
        assert str(raised.value) == (
            f"You may not send this {push.get_kind_display().lower()} push again: that needs the permission to make "
            f"the change ({PERMISSION[kind]}).")
        assert push.state == PushState.FAILED
        assert not retried.exists()
        assert callbacks == []


def test_finance_retries_its_refund_from_the_pushes_list_and_operations_cannot(woo, woo_store, client,
                                                                               django_capture_on_commit_callbacks):
    # Given a refund push and a status push WooCommerce refused
    refund_push = failed_push(woo, woo_store, PushKind.REFUND, woo_id=17)
    status_push = failed_push(woo, woo_store, PushKind.STATUS, woo_id=18)
    selected = {"action": "retry_selected", "_selected_action": [refund_push.pk, status_push.pk]}

    # When operations select both for a retry
    client.force_login(staff("operations"))
    with django_capture_on_commit_callbacks():
        response = client.post(reverse("admin:fulfillment_storepush_changelist"), selected, follow=True)

    # Then only the status push is queued; the refund is refused with the reason
    assert [str(m) for m in response.context["messages"]] == [
        "You may not send this refund push again: that needs the permission to make the change "
        "(fulfillment.refund_order).",
        "1 push queued again.",
    ]
    refund_push.refresh_from_db()
    status_push.refresh_from_db()
    assert (refund_push.state, status_push.state) == (PushState.FAILED, PushState.PENDING)
    assert Refund.objects.get().state == "failed"

    # When finance select the refund
    client.force_login(staff("finance"))
    with django_capture_on_commit_callbacks(execute=True):
        response = client.post(reverse("admin:fulfillment_storepush_changelist"),
                               {"action": "retry_selected", "_selected_action": [refund_push.pk]}, follow=True)

    # Then it is queued and sent: the shop makes the refund
    assert [str(m) for m in response.context["messages"]] == ["1 push queued again."]
    refund_push.refresh_from_db()
    assert refund_push.state == PushState.SENT
    assert len(woo.refunds[17]) == 1


def test_support_is_offered_the_retry_action_and_a_viewer_is_not(woo, woo_store, client):
    from django.contrib.auth.models import Permission

    failed_push(woo, woo_store, PushKind.NOTE)
    viewer = UserFactory(username="viewer")
    viewer.user_permissions.add(Permission.objects.get(codename="view_storepush"))
    url = reverse("admin:fulfillment_storepush_changelist")

    pages = {}
    for user in (staff("support"), viewer):
        client.force_login(user)
        pages[user.username] = client.get(url).content.decode()

    assert 'value="retry_selected"' in pages["support"]
    assert 'value="retry_selected"' not in pages["viewer"]


# -- the links to the outbox --------------------------------------------------------------------------------------


def pushes_listed(client, href):
    response = client.get(unescape(href))
    assert response.status_code == 200
    return sorted(p.pk for p in response.context["cl"].result_list)


def test_dashboard_link_lists_the_store_pushes_that_are_failing_only(woo, woo_store, client):
    # Given pushes of a store in every state, and a failed push of another store
    order = mirrored(woo, woo_store, 17)
    pushes = {state: StorePush.objects.create(store=woo_store, order=order, kind=PushKind.NOTE, payload={},
                                              state=state, next_attempt_at=timezone.now())
              for state in PushState.values}
    other = StoreFactory(slug="other")
    StorePush.objects.create(store=other, order=mirrored(woo, other, 18), kind=PushKind.NOTE, payload={},
                             state=PushState.FAILED, next_attempt_at=timezone.now())
    client.force_login(staff("operations"))

    # When operations follow the store's "pushes failing" figure on the home page
    html = client.get(reverse("admin:index")).content.decode()
    section = html.split(f"<h2>{woo_store.name}</h2>")[1].split("</section>")[0]
    href = re.search(r'<a href="([^"]+)"[^>]*>\s*<strong>2</strong> pushes to WooCommerce failing', section).group(1)

    # Then it lists the failed and the retrying ones of that store, nothing else
    assert pushes_listed(client, href) == sorted([pushes[PushState.FAILED].pk, pushes[PushState.RETRYING].pk])


def retry_links(html):
    return re.findall(r'<a href="([^"]+)">Retry in the outbox</a>', html)


def test_order_page_retry_link_lists_this_order_pushes_and_shows_to_those_who_may_retry(woo, woo_store, client):
    # Given an order with a failed note and a failed refund, another push retrying, and another order's failure
    elsewhere = failed_push(woo, woo_store, PushKind.NOTE, woo_id=18)
    note = failed_push(woo, woo_store, PushKind.NOTE, woo_id=17)
    order = note.order
    line = order.lines.get()
    order_refund(order=order, amounts={}, quantities={line.woo_line_id: "1"}, reason="broken", restock=False,
                 user=staff("finance"))
    refund = StorePush.objects.get(kind=PushKind.REFUND)
    StorePush.objects.filter(pk=refund.pk).update(state=PushState.FAILED, last_error="refused")
    retrying = StorePush.objects.create(store=woo_store, order=order, kind=PushKind.STATUS,
                                        payload={"status": "completed"}, state=PushState.RETRYING,
                                        next_attempt_at=timezone.now())
    page = reverse("admin:fulfillment_order_change", args=[order.pk])

    links = {}
    for role in ("support", "finance", "operations"):
        client.force_login(staff(role))
        links[role] = retry_links(client.get(page).content.decode())

    # Then support and operations see it on the note, finance on the refund: once each
    assert {role: len(found) for role, found in links.items()} == {"support": 1, "finance": 1, "operations": 1}
    href = links["support"][0]
    assert unescape(href) == (f"{reverse('admin:fulfillment_storepush_changelist')}?order={order.pk}"
                              "&state__in=failed,retrying")
    # and it lists this order's failed and retrying pushes, not the other order's
    assert pushes_listed(client, href) == sorted([note.pk, refund.pk, retrying.pk])
    assert elsewhere.pk not in pushes_listed(client, href)


def test_order_page_shows_a_superseded_push_as_such_without_a_retry_link(woo, woo_store, client):
    # Given a status push refused, then another status for the order
    first = failed_push(woo, woo_store, PushKind.STATUS)
    ops = staff("operations")
    order_change_status(order=first.order, status="completed", user=ops)

    # When operations open the order
    client.force_login(ops)
    response = client.get(reverse("admin:fulfillment_order_change", args=[first.order.pk]))

    # Then the first shows as superseded, with nothing to retry
    sources = [entry["source"] for entry in response.context["timeline"] if entry.get("push") == first]
    assert sources == ["Superseded by a later change"]
    assert retry_links(response.content.decode()) == []
