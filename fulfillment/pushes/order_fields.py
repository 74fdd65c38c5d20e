"""Pushes that set a field of the order (its status, its shipping address): a later one replaces an earlier one.

WooCommerce answers a PUT with the whole order, which the mirror takes as it would a webhook. Sending the same PUT
twice is harmless, so nothing is looked up after a lost answer. A refused value is given back: the order takes
the value WooCommerce has, unless the field was changed again since.
"""

from django.utils.translation import gettext_noop as N_

from fulfillment import events
from fulfillment.choices import EventSource, PushKind, status_label
from fulfillment.followers import Changed, OrderChange, orders_changed
from fulfillment.integrations.woocommerce.mapping import order_place
from fulfillment.models import Order, StorePush
from fulfillment.pushes.base import PushHandler
from fulfillment.services.mirror import orders_upsert
from fulfillment.services.orders import ADDRESS_FIELDS
from fulfillment.services.outbox import UNSENT
from fulfillment.texts import status as status_text, text


class OrderFieldPush(PushHandler):
    def on_sent(self, push, answer):
        if isinstance(answer, dict):
            orders_upsert(store=push.store, payloads=[answer], source=EventSource.PUSH)

    def on_refused(self, push):
        order = Order.objects.select_for_update().get(pk=push.order_id)
        if StorePush.objects.filter(order_id=push.order_id, kind=push.kind, pk__gt=push.pk,
                                    state__in=UNSENT).exists():
            return  # a later value of the field waits to be sent: it, not WooCommerce's, is the order's
        self.give_back(order, push)

    def give_back(self, order, push):
        raise NotImplementedError


class StatusPush(OrderFieldPush):
    kind = PushKind.STATUS
    retry_permission = "fulfillment.change_order_status"

    def request(self, client, push):
        return client.update_order(push.order.woo_id, {"status": push.payload["status"]}, retries=0)

    def give_back(self, order, push):
        pushed, woo_status = push.payload["status"], str(order.raw.get("status") or "")
        if order.status != pushed or not woo_status or woo_status == order.status:
            return
        order.status = woo_status
        order.save(update_fields=["status"])
        events.status_changed_event(order, before=pushed, after=woo_status, source=EventSource.PUSH, note=text(N_(
            "WooCommerce refused the status change to %(status)s: %(reason)s; back to %(before)s"),
            status=status_text(pushed), reason=push.last_error, before=status_text(woo_status))).save()
        orders_changed([OrderChange(order.pk, frozenset({Changed.STATUS}), pushed, woo_status)],
                       source=EventSource.PUSH)

    def value_label(self, push):
        return status_label(push.payload.get("status", ""))


class AddressPush(OrderFieldPush):
    kind = PushKind.ADDRESS
    retry_permission = "fulfillment.change_order_address"

    def request(self, client, push):
        return client.update_order(push.order.woo_id, {"shipping": push.payload["shipping"]}, retries=0)

    def give_back(self, order, push):
        pushed, woo_shipping = push.payload["shipping"], order.raw.get("shipping")
        if not isinstance(woo_shipping, dict) or any(order.shipping.get(k, "") != v for k, v in pushed.items()):
            return
        if all(woo_shipping.get(k, "") == v for k, v in pushed.items()):
            return
        before = {name: order.shipping.get(name, "") for name in ADDRESS_FIELDS}
        order.shipping = dict(woo_shipping)
        place = order_place(order.billing, order.shipping)
        order.city, order.state, order.country = place["city"], place["state"], place["country"]
        order.save(update_fields=["shipping", "city", "state", "country"])
        after = {name: order.shipping.get(name, "") for name in ADDRESS_FIELDS}
        events.address_changed_event(order, before=before, after=after, user=None, source=EventSource.PUSH,
                                     note=text(N_("WooCommerce refused the shipping address change to %(address)s: "
                                                  "%(reason)s; back to %(before)s"),
                                               address=events.address_line(pushed), reason=push.last_error,
                                               before=events.address_line(order.shipping))).save()
        orders_changed([OrderChange(order.pk, frozenset({Changed.ADDRESS}), order.status, order.status)],
                       source=EventSource.PUSH)

    def value_label(self, push):
        return events.address_line(push.payload.get("shipping") or {})


class MetaPush(OrderFieldPush):
    """Meta data written to the shop's order ({"meta": {key: value}}): WooCommerce updates a key it has, adds others.

    Nothing of the order's own is given back when it is refused: the meta is another app's, which sees the failed
    push in the outbox.
    """

    kind = PushKind.META
    retry_permission = "fulfillment.change_order_status"

    def request(self, client, push):
        meta = push.payload.get("meta") or {}
        return client.update_order(push.order.woo_id, {"meta_data": [{"key": str(key), "value": value}
                                                                     for key, value in meta.items()]}, retries=0)

    def give_back(self, order, push):
        return None

    def value_label(self, push):
        return ", ".join(f"{key} = {value}" for key, value in (push.payload.get("meta") or {}).items())
