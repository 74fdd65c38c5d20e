"""Refunds made in WooCommerce: the lines they took back, which the order's JSON does not carry.

The order's JSON lists a refund's id, reason and total only. What quantities it took back, and its own date, are in
the order's refunds list (GET orders/<id>/refunds): the mirror queues this fetch after its commit, and until it is
done the refund's `lines_pending` keeps the refund form from trusting what remains of each line.
"""

import logging

from django.core.cache import cache
from django.db import transaction

from fulfillment import events
from fulfillment.choices import EventSource, EventType, RefundState
from fulfillment.followers import Changed, OrderChange, orders_changed
from fulfillment.integrations.woocommerce.client import PER_PAGE, WooClient, WooError
from fulfillment.integrations.woocommerce.mapping import MappingError, map_refund_detail
from fulfillment.models import Order, OrderEvent, Refund
from fulfillment.money import quantize
from fulfillment.task_queue import enqueue
from fulfillment.services.refunds import REFUND_META_KEY, refund_mark_pushed

logger = logging.getLogger("fulfillment.refunds")

# The order page asks for a fetch when it shows refunds with unknown lines; once a minute per order is enough
# (the fetch is one request, and a shop that is down is not asked again at every reload).
REFRESH_SECONDS = 60


def refund_lines_fetch(*, order, client, source):
    """Record the lines and dates of the order's refunds made in WooCommerce; returns how many were recorded.

    Raises WooError when the shop cannot be asked (the refunds then stay pending and are asked again later).
    """
    # Asked before the transaction: no HTTP while the order's row is locked.
    remote = client.list_refunds(order.woo_id, retries=0)
    details = []
    for payload in remote:
        try:
            details.append(map_refund_detail(payload))
        except MappingError as exc:
            logger.warning("order %s: a refund in WooCommerce's list is not readable: %s", order.pk, exc)
    with transaction.atomic():
        order = Order.objects.select_for_update().select_related("store").get(pk=order.pk)
        refunds = list(order.refunds.all())
        by_woo_id = {r.woo_refund_id: r for r in refunds if r.woo_refund_id is not None}
        ours_unconfirmed = {r.pk: r for r in refunds if r.woo_refund_id is None and r.state == RefundState.PENDING}
        told = {data.get("woo_refund_id") for data in OrderEvent.objects.filter(
            order=order, type=EventType.REFUNDED_IN_WOO).values_list("data", flat=True)}
        lines = {line.woo_line_id: line for line in order.lines.all()}
        recorded, fetched = 0, []
        for detail in details:
            ours = ours_unconfirmed.get(_int(detail.meta.get(REFUND_META_KEY)))
            if ours is not None:
                # A refund made here whose answer never reached us (a timeout): WooCommerce has it. It takes the
                # shop's id, and the copy the mirror made of it goes.
                refund_mark_pushed(refund=ours, remote={"id": detail.woo_refund_id})
                continue
            refund = by_woo_id.get(detail.woo_refund_id)
            if refund is None or not refund.lines_pending:
                continue
            refund.lines = [_part(line, order, lines) for line in detail.lines]
            refund.created_at = detail.created_at or refund.created_at
            refund.lines_pending = False
            refund.save(update_fields=["lines", "created_at", "lines_pending"])
            recorded += 1
            fetched.append(refund.pk)
            if refund.state == RefundState.MIRRORED and detail.woo_refund_id not in told:
                # The mirror held this event back: the refund looked like one of ours in flight, and is not.
                events.refunded_in_woo_event(refund, currency=order.currency, source=source).save()
        if len(remote) < PER_PAGE:
            # The list is whole: a refund it does not have was deleted in WooCommerce. Its quantities will never be
            # known; counting none is what WooCommerce itself now does.
            listed = {d.woo_refund_id for d in details}
            for refund in by_woo_id.values():
                if refund.lines_pending and refund.woo_refund_id not in listed:
                    logger.warning("order %s: refund %s is not in WooCommerce's list any more (deleted there?)",
                                   order.pk, refund.woo_refund_id)
                    refund.lines_pending = False
                    refund.save(update_fields=["lines_pending"])
                    fetched.append(refund.pk)
        if fetched:
            # What waited for the refund's lines (its credit note) can go on.
            orders_changed([OrderChange(order.pk, frozenset({Changed.REFUND}), order.status, order.status,
                                        tuple(fetched))], source=source)
    return recorded


def _int(value):
    try:
        return int(value)
    except (TypeError, ValueError):
        return None


def _part(line, order, order_lines):
    """A refund line of WooCommerce's as the lines of our own refunds are kept."""
    line_id = line.refunded_item_id
    if line_id is None:
        line_id = _guess_item(line, order, order_lines)
    if line_id is None:
        logger.warning("order %s: a refund line of %s names no order item; its quantity is not counted",
                       order.pk, line.name)
    return {"line_id": line_id, "kind": line.kind, "name": line.name, "quantity": line.quantity,
            "amount": str(quantize(line.amount, order.currency)), "tax": str(quantize(line.tax, order.currency)),
            "tax_rate_id": line.tax_rate_id}


def _guess_item(line, order, order_lines):
    # WooCommerce writes _refunded_item_id on every refund line; an old or patched shop may not. The one item of
    # the same product (or the only shipping or fee line) is the one it took back; with several, none is guessed.
    if line.kind == "product":
        same = [pk for pk, o in order_lines.items()
                if (o.product_id, o.variation_id) == (line.product_id, line.variation_id)]
    else:
        same = [item.get("id") for item in order.raw.get("shipping_lines" if line.kind == "shipping" else "fee_lines")
                or [] if isinstance(item, dict)]
    return int(same[0]) if len(same) == 1 and same[0] is not None else None


def refund_lines_fetch_orders(*, order_ids, source=EventSource.SYSTEM, client_for=WooClient.for_store):
    """Fetch the refund lines of these orders (those with refunds still pending); returns counts for the log."""
    orders = (Order.objects.filter(pk__in=Refund.objects.filter(order_id__in=list(order_ids), lines_pending=True)
                                   .values("order_id"))
              .select_related("store").order_by("pk"))
    counts = {"recorded": 0, "orders": 0, "failed": 0, "waiting": 0}
    clients, unreachable = {}, set()
    for order in orders:
        if order.store_id in unreachable:
            counts["waiting"] += 1
            continue
        client = clients.get(order.store_id) or clients.setdefault(order.store_id, client_for(order.store))
        try:
            counts["recorded"] += refund_lines_fetch(order=order, client=client, source=source)
            counts["orders"] += 1
        except WooError as exc:
            counts["failed"] += 1
            logger.warning("order %s: refunds made in WooCommerce not fetched: %s", order.pk, exc)
            if exc.retryable:
                # The shop is down or slow: the others would only wait for it too. They are asked again when the
                # mirror next writes them or the order page is opened.
                unreachable.add(order.store_id)
    return counts


def refund_lines_refresh(*, order):
    """Queue a fetch of the order's pending refund lines (the order page shows them unknown), once a minute."""
    if cache.add(f"refund-lines-fetch:{order.pk}", 1, REFRESH_SECONDS):
        enqueue("fulfillment.tasks.fetch_refund_lines", [order.pk], EventSource.SYSTEM.value)
        return True
    return False
