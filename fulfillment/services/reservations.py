"""Supplier reservations follow the shop's orders: which lines are dropshipped, and what each needs reserved.

The follower (`reservations_follow`, position 40, retried on failure) runs in the transaction of every change of
an order, whatever its path. It only writes our rows — what each dropship line needs now, and whether that is in
sync with the supplier — and queues the supplier's sync after commit; the sync (`services/supplier_sync.py`)
talks to the supplier, never inside an order's transaction.

What a line needs: its quantity less what was refunded while the order is in one of the supplier's reserving
statuses (pending, on-hold, processing by default), else 0 (cancelled, refunded, failed, trashed, a line
WooCommerce removed). Once the supplier's order is placed for it, the need no longer counts in the growing order;
what changes after that (cancelled, refunded, a new address) cannot be undone by the API: it is flagged for staff.
"""

import logging

from django.db import transaction
from django.db.models import Q
from django.utils.translation import gettext_noop as N_

from fulfillment import events, texts
from fulfillment.choices import EventSource, ReservationStatus, ReservationSync
from fulfillment.models import Order, OrderLine, Refund, Reservation, Supplier, SupplierProduct
from fulfillment.selectors.orders import NOT_COUNTING
from fulfillment.task_queue import enqueue
from fulfillment.texts import text

logger = logging.getLogger("fulfillment.reservations")

# A paid order's dropship lines are placed as the supplier's order for it.
PLACING_STATUSES = ("processing",)
# What the shop no longer wants once placed (a completed order still wants what the supplier ships).
RELEASING_STATUSES = ("cancelled", "refunded", "failed")
# Once dispatched (or cancelled by the supplier) nothing the shop does changes the supplier's order.
SETTLED = (ReservationStatus.DISPATCHED, ReservationStatus.CANCELLED, ReservationStatus.RELEASED)
UPSERT_FIELDS = ["order", "supplier", "stock_id", "woo_line_id", "woo_product_id", "sku", "name", "size",
                 "quantity", "status", "sync", "sync_error", "attempts"]


def reservations_follow(changes):
    """The follower: bring the reservations of the changed orders up to date and queue their suppliers' sync."""
    suppliers = reservations_update(changes.order_ids(), source=changes.source)
    for supplier_id in sorted(suppliers):
        enqueue("fulfillment.tasks.sync_supplier", supplier_id)


def reservations_update(order_ids, *, source=EventSource.SYSTEM):
    """Work out what each dropship line of these orders needs; returns the ids of the suppliers with changes.

    A constant number of queries per batch: one when none of the orders' stores has a supplier.
    """
    order_ids = list(order_ids)
    suppliers = {s.pk: s for s in Supplier.objects.filter(
        active=True, store_id__in=Order.objects.filter(pk__in=order_ids).values("store_id"))}
    if not suppliers:
        return set()
    by_store = {}
    for supplier in sorted(suppliers.values(), key=lambda s: s.pk):
        by_store.setdefault(supplier.store_id, []).append(supplier)
    orders = {o["pk"]: o for o in Order.objects.filter(pk__in=order_ids, store_id__in=by_store).values(
        "pk", "store_id", "status", "trashed", "shipping")}
    lines = list(OrderLine.objects.filter(order_id__in=orders).exclude(sku="").values(
        "pk", "order_id", "woo_line_id", "product_id", "variation_id", "sku", "name", "variation", "quantity"))
    products = {}  # (store id, shop SKU) → (supplier, stock_id, size)
    for row in (SupplierProduct.objects.filter(supplier__in=suppliers, match_sku__in={line["sku"] for line in lines})
                .order_by("supplier_id").values("supplier_id", "match_sku", "stock_id", "size")):
        supplier = suppliers[row["supplier_id"]]
        products.setdefault((supplier.store_id, row["match_sku"]), (supplier, row["stock_id"], row["size"]))
    refunded = _refunded_quantities(orders)
    existing = {r.line_id: r for r in Reservation.objects.filter(order_id__in=orders, line__isnull=False)}
    orphans = list(Reservation.objects.filter(order_id__in=orders, line__isnull=True, quantity__gt=0)
                   .exclude(status__in=SETTLED))

    upserts, flagged, touched = [], [], set()
    for line in lines:
        order = orders[line["order_id"]]
        match = products.get((order["store_id"], line["sku"]))
        current = existing.get(line["pk"])
        if match is None and current is None:
            continue
        supplier, stock_id, size = match if match else (current.supplier, current.stock_id, current.size)
        reserving = not order["trashed"] and order["status"] in supplier.reserving_statuses
        needed = max(line["quantity"] - refunded.get((order["pk"], line["woo_line_id"]), 0), 0) if reserving else 0
        if current is not None and current.remote_order_id:
            wanted = 0 if order["trashed"] or order["status"] in RELEASING_STATUSES else max(
                line["quantity"] - refunded.get((order["pk"], line["woo_line_id"]), 0), 0)
            if _placed_needs_staff(current, wanted, order):
                flagged.append((current, wanted, order))
            continue
        if current is not None and current.released_by_staff:
            continue
        if current is not None and current.quantity == needed and current.stock_id == stock_id and (
                needed or current.status == ReservationStatus.RELEASED):
            if needed and order["status"] in PLACING_STATUSES:
                touched.add(current.supplier_id)  # paid: the sync places it
            continue
        status = ReservationStatus.BOOKED if needed else ReservationStatus.RELEASED
        upserts.append(Reservation(
            order_id=order["pk"], line_id=line["pk"], supplier=supplier, stock_id=stock_id,
            woo_line_id=line["woo_line_id"], woo_product_id=line["variation_id"] or line["product_id"],
            sku=line["sku"], name=line["name"][:300], size=size or line["variation"][:100], quantity=needed,
            status=status, sync=ReservationSync.WAITING, sync_error="", attempts=0))
        touched.add(supplier.pk)
    for orphan in orphans:  # the line is gone from the order: nothing is needed any more
        orphan.quantity, orphan.status, orphan.sync = 0, ReservationStatus.RELEASED, ReservationSync.WAITING
        upserts.append(orphan)
        touched.add(orphan.supplier_id)
    if upserts:
        Reservation.objects.bulk_create([r for r in upserts if r.pk is None], update_conflicts=True,
                                        unique_fields=["line"], update_fields=UPSERT_FIELDS)
        Reservation.objects.bulk_update([r for r in upserts if r.pk is not None], ["quantity", "status", "sync"])
    _flag_placed(flagged, source=source)
    return touched


def _placed_needs_staff(reservation, needed, order):
    """A placed line that the shop no longer wants as placed: the platform has no call to change or cancel it."""
    if reservation.status in SETTLED:
        return False
    return needed < reservation.quantity or (needed and order["shipping"] != reservation.placed_address)


def _flag_placed(flagged, *, source):
    for reservation, needed, order in flagged:
        if needed < reservation.quantity:
            reason = text(N_("No longer needed by the shop (%(needed)s of %(quantity)s), but already placed as the "
                             "supplier's order %(remote)s: cancel it on the supplier's platform"),
                          needed=needed, quantity=reservation.quantity, remote=reservation.remote_order_id)
        else:
            reason = text(N_("The shipping address changed after the supplier's order %(remote)s was placed: change "
                             "it on the supplier's platform"), remote=reservation.remote_order_id)
        english = texts.english(reason)
        if reservation.sync == ReservationSync.FAILED and reservation.sync_error == english:
            continue
        Reservation.objects.filter(pk=reservation.pk).update(sync=ReservationSync.FAILED, sync_error=english)
        events.reservation_event(order["pk"], reason, source=source,
                                 data={"reservation_id": reservation.pk, "stock_id": reservation.stock_id}).save()


def _refunded_quantities(orders):
    """{(order id, woo line id): items refunded} over the refunds that count, in one query."""
    refunded = {}
    for order_id, parts in (Refund.objects.filter(order_id__in=orders).exclude(state__in=NOT_COUNTING)
                            .values_list("order_id", "lines")):
        for part in parts or []:
            if part.get("line_id") is not None and part.get("quantity"):
                key = (order_id, part["line_id"])
                refunded[key] = refunded.get(key, 0) + int(part["quantity"])
    return refunded


def reservations_match_open_orders(*, supplier):
    """After the catalogue was read: reservations for the open orders whose lines are newly the supplier's."""
    open_orders = (Order.objects.filter(store_id=supplier.store_id, status__in=supplier.reserving_statuses,
                                        trashed=False)
                   .filter(Q(lines__sku__in=SupplierProduct.objects.filter(supplier=supplier).values("match_sku")))
                   .values_list("pk", flat=True).distinct())
    touched = set()
    ids = list(open_orders)
    for start in range(0, len(ids), 500):
        with transaction.atomic():
            touched |= reservations_update(ids[start:start + 500])
    return touched


def reservation_retry(*, reservation, user):
    """Staff: try a failed (or released) reservation again: the next follower run or sync works out its need."""
    with transaction.atomic():
        updated = Reservation.objects.filter(pk=reservation.pk).filter(
            Q(sync=ReservationSync.FAILED) | Q(released_by_staff=True)).update(
            sync=ReservationSync.WAITING, sync_error="", attempts=0, released_by_staff=False)
        if updated:
            events.reservation_event(reservation.order_id, text(N_("Reservation of %(stock_id)s tried again"),
                                                                stock_id=reservation.stock_id),
                                     source=EventSource.STAFF, user=user,
                                     data={"reservation_id": reservation.pk}).save()
            reservations_update([reservation.order_id], source=EventSource.STAFF)
            enqueue("fulfillment.tasks.sync_supplier", reservation.supplier_id)
    return bool(updated)


def reservation_release(*, reservation, user):
    """Staff: give back what a line holds in the growing order (it is no longer reserved for the shop)."""
    with transaction.atomic():
        reservation = Reservation.objects.select_for_update().get(pk=reservation.pk)
        if reservation.remote_order_id or reservation.status == ReservationStatus.RELEASED:
            return False
        reservation.quantity, reservation.status = 0, ReservationStatus.RELEASED
        reservation.sync, reservation.sync_error = ReservationSync.WAITING, ""
        reservation.released_by_staff = True
        reservation.save(update_fields=["quantity", "status", "sync", "sync_error", "released_by_staff",
                                        "updated_at"])
        events.reservation_event(reservation.order_id, text(N_("Reservation of %(stock_id)s released by staff"),
                                                            stock_id=reservation.stock_id),
                                 source=EventSource.STAFF, user=user, data={"reservation_id": reservation.pk}).save()
        enqueue("fulfillment.tasks.sync_supplier", reservation.supplier_id)
    return True
