"""What the supplier tells us: its catalogue (mapped to the shop's SKUs) and the status and tracking of the orders
placed there. A dispatch with a tracking number becomes a shipment exactly as a provider's does (customer note and
shipment-tracking meta through the outbox, the order completed when everything has shipped)."""

import logging
from datetime import timedelta

from django.db import transaction
from django.utils import timezone
from django.utils.translation import gettext_noop as N_

from fulfillment import events, texts
from fulfillment.carriers import normalised_tracking_number
from fulfillment.choices import EventSource, ReservationStatus
from fulfillment.errors import OrderActionError
from fulfillment.integrations import rewix
from fulfillment.models import Order, Reservation, Shipment, Supplier, SupplierProduct
from fulfillment.services import supplier_sync
from fulfillment.services.reservations import reservations_match_open_orders
from fulfillment.services.tracking import shipment_add
from fulfillment.texts import text

logger = logging.getLogger("fulfillment.supplier_poll")

# Re-read a little before the last poll: a change the supplier dates just before our last read is not missed.
POLL_OVERLAP = timedelta(minutes=10)
OPEN = (ReservationStatus.BOOKED, ReservationStatus.CONFIRMED, ReservationStatus.WORKING_ON, ReservationStatus.READY)
STATUS_OF = {
    rewix.SupplierStatus.BOOKED: ReservationStatus.BOOKED,
    rewix.SupplierStatus.CONFIRMED: ReservationStatus.CONFIRMED,
    rewix.SupplierStatus.WORKING_ON: ReservationStatus.WORKING_ON,
    rewix.SupplierStatus.READY: ReservationStatus.READY,
    rewix.SupplierStatus.DISPATCHED: ReservationStatus.DISPATCHED,
    rewix.SupplierStatus.CANCELLED: ReservationStatus.CANCELLED,
    rewix.SupplierStatus.PAYMENT_REFUSED: ReservationStatus.PAYMENT_REFUSED,
}
PRODUCT_FIELDS = ["product_id", "name", "size", "color", "code", "barcode", "availability", "in_catalogue",
                  "match_sku", "updated_at"]


def catalogue_sync(*, supplier, client, full=False):
    """Read the supplier's catalogue (the changes since the last read unless `full`) into SupplierProduct rows.

    A model missing from a full read is marked out of the catalogue, never deleted (a partial read deletes
    nothing). Returns (models read, models marked gone).
    """
    since = None if full or supplier.catalogue_synced_at is None else supplier.catalogue_synced_at
    catalogue = client.catalogue(since=since)
    now = timezone.now()
    overrides = dict(SupplierProduct.objects.filter(supplier=supplier).exclude(shop_sku="")
                     .values_list("stock_id", "shop_sku"))
    rows = []
    for product in catalogue:
        for model in product.models:
            code = model.code or product.code
            rows.append(SupplierProduct(
                supplier=supplier, stock_id=model.stock_id, product_id=product.id, name=product.name[:300],
                size=model.size[:100], color=model.color[:100], code=code[:100], barcode=model.barcode[:64],
                availability=model.availability, in_catalogue=product.online,
                match_sku=(overrides.get(model.stock_id) or code).strip()[:100], updated_at=now))
    SupplierProduct.objects.bulk_create(rows, batch_size=1000, update_conflicts=True,
                                        unique_fields=["supplier", "stock_id"], update_fields=PRODUCT_FIELDS)
    gone = 0
    if since is None:
        gone = (SupplierProduct.objects.filter(supplier=supplier, in_catalogue=True)
                .exclude(stock_id__in=[row.stock_id for row in rows]).update(in_catalogue=False))
    Supplier.objects.filter(pk=supplier.pk).update(catalogue_synced_at=catalogue.last_update or now)
    return len(rows), gone


def statuses_poll(*, supplier, client, now=None):
    """Ask the supplier about every placed order not settled yet; record status changes and dispatches.

    Returns the number of reservations whose status changed.
    """
    now = now or timezone.now()
    placed = list(Reservation.objects.filter(supplier=supplier, status__in=OPEN).exclude(remote_order_id="")
                  .select_related("order").order_by("order_id", "pk"))
    by_key = {}
    for reservation in placed:
        by_key.setdefault(reservation.order.number, []).append(reservation)
    if not by_key:
        Supplier.objects.filter(pk=supplier.pk).update(statuses_polled_at=now)
        return 0
    since = (supplier.statuses_polled_at or now - timedelta(days=365)) - POLL_OVERLAP
    changed = 0
    for remote in client.orders_since(since, keys=list(by_key)):
        rows = by_key.get(remote.key) or [r for rows in by_key.values() for r in rows
                                          if r.remote_order_id == remote.order_id]
        if rows:
            changed += _apply_status(supplier, rows, remote)
    Supplier.objects.filter(pk=supplier.pk).update(statuses_polled_at=now)
    return changed


def _apply_status(supplier, rows, remote):
    status = STATUS_OF.get(remote.status)
    if status is None:
        logger.warning("supplier %s: order %s has status code %s, which we do not know", supplier.pk, remote.key,
                       remote.status_code)
        return 0
    tracking = (remote.tracking_code or "").strip()
    moved = [row for row in rows if row.status != status or (tracking and row.tracking_code != tracking)]
    if not moved:
        return 0
    order = rows[0].order
    with transaction.atomic():
        Reservation.objects.filter(pk__in=[row.pk for row in moved]).update(
            status=status, status_code=remote.status_code, carrier=(remote.carrier_name or "")[:100],
            tracking_code=tracking[:100], tracking_url=(remote.tracking_url or "")[:500])
        spec = text(N_("%(supplier)s: %(status)s"), supplier=supplier.name,
                    status=texts.reservation_status(status))
        if tracking:
            spec = text(N_("%(change)s, tracking %(tracking)s"), change=spec, tracking=tracking)
        events.reservation_event(order.pk, spec, data={"status": status, "status_code": remote.status_code,
                                                       "remote_order_id": remote.order_id}).save()
    if status == ReservationStatus.DISPATCHED and tracking:
        _ship(supplier, order, moved, remote, tracking)
    return len(moved)


def _ship(supplier, order, rows, remote, tracking):
    """The supplier's parcel as a shipment of the order's lines it holds (once: a repeat finds it)."""
    existing = Shipment.objects.filter(order=order, tracking_number__in={
        tracking[:100], normalised_tracking_number(tracking)[:100]}).first()
    if existing is None:
        lines = {row.woo_line_id: row.quantity for row in rows if row.woo_line_id and row.quantity}
        try:
            existing = shipment_add(order=Order.objects.get(pk=order.pk), carrier=remote.carrier_name or supplier.name,
                                    tracking_number=tracking[:100], tracking_link=remote.tracking_url or "",
                                    lines=lines or None, source=EventSource.SUPPLIER, confirm_complete=True)
        except OrderActionError as exc:
            logger.warning("supplier %s: shipment %s of order %s not recorded: %s %s", supplier.pk, tracking,
                           order.pk, exc, exc.errors)
            return
    Reservation.objects.filter(pk__in=[row.pk for row in rows]).update(shipment=existing)


CATALOGUE_EVERY = timedelta(minutes=15)  # the platform refreshes its data every 15 minutes


def supplier_refresh(*, supplier, client=None, catalogue=None, now=None):
    """The schedule's work for one supplier: the catalogue when due, the growing order and placing, statuses.

    Returns (SyncReport, statuses changed). A supplier that cannot be reached leaves its error on the supplier
    and on the waiting lines; the next run tries again.
    """
    now = now or timezone.now()
    try:
        client = client or supplier_sync.supplier_client(supplier)
        if catalogue or (catalogue is None and (supplier.catalogue_synced_at is None
                                                or supplier.catalogue_synced_at < now - CATALOGUE_EVERY)):
            catalogue_sync(supplier=supplier, client=client)
            reservations_match_open_orders(supplier=supplier)
    except rewix.SupplierError as exc:
        logger.warning("supplier %s: catalogue not read: %s", supplier.pk, exc)
        Supplier.objects.filter(pk=supplier.pk).update(last_error=str(exc)[:2000])
        report = supplier_sync.SyncReport(supplier=supplier.name, error=str(exc))
        return report, 0
    report = supplier_sync.supplier_sync(supplier_id=supplier.pk, client=client)
    changed = 0
    if not report.busy and not report.error:
        try:
            changed = statuses_poll(supplier=supplier, client=client, now=now)
        except rewix.SupplierError as exc:
            logger.warning("supplier %s: statuses not read: %s", supplier.pk, exc)
            report.error = str(exc)
            Supplier.objects.filter(pk=supplier.pk).update(last_error=str(exc)[:2000])
    return report, changed
