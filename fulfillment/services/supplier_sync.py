"""The supplier's side of reservations: align the growing order with what the shop's orders need, place paid
orders as the supplier's dropshipping orders, and remember what the growing order holds.

Exactly once, whatever dies when: the growing order is only ever changed with `set` to the absolute quantity the
shop needs per model (read, compare, set the differences — repeating it changes nothing), and an order whose
placing went out without an answer is looked up by its key (the shop's order number) before it is placed again.
One sync runs per supplier at a time, under a lease (`Supplier.sync_claimed_until`) rather than a row lock, because
nothing may hold a transaction open over HTTP; a killed worker's lease runs out and the next sync starts over.
"""

import logging
import os
from dataclasses import dataclass, field
from datetime import timedelta

from django.conf import settings
from django.db import transaction
from django.db.models import F, Q
from django.utils import timezone
from django.utils.translation import gettext as _
from django.utils.translation import gettext_noop as N_

from fulfillment import events, texts
from fulfillment.choices import ReservationStatus, ReservationSync
from fulfillment.integrations import rewix
from fulfillment.models import Reservation, Supplier
from fulfillment.selectors.reservations import needed_by_stock
from fulfillment.services.reservations import PLACING_STATUSES
from fulfillment.texts import text

logger = logging.getLogger("fulfillment.supplier_sync")

LEASE = timedelta(seconds=settings.SUPPLIER_SYNC_LEASE_SECONDS)
MAX_PASSES = 5  # a sync runs again while orders changed during it, at most this often
PLACE_BATCH = 500  # supplier orders placed per pass (one request each: the platform takes one order per call)
CANCELLABLE = (ReservationSync.WAITING, ReservationSync.RETRYING)


@dataclass
class SyncReport:
    supplier: str = ""
    operations: list = field(default_factory=list)  # (stock_id, locked before, asked, locked after)
    placed: list = field(default_factory=list)  # (order number, supplier order id)
    failed: list = field(default_factory=list)  # reasons, in staff's words
    busy: bool = False
    error: str = ""
    passes: int = 0

    def summary(self):
        if self.busy:
            return _("%(supplier)s: another sync is running") % {"supplier": self.supplier}
        parts = [_("%(supplier)s: %(ops)s models changed in the growing order, %(placed)s orders placed") % {
            "supplier": self.supplier, "ops": len(self.operations), "placed": len(self.placed)}]
        if self.failed:
            parts.append(_("%(n)s failed") % {"n": len(self.failed)})
        if self.error:
            parts.append(self.error)
        return "; ".join(parts)


def supplier_client(supplier):
    """The supplier's adapter, with the password from the environment variable its settings name."""
    password = os.environ.get(supplier.credentials_env, "") if supplier.credentials_env else ""
    if supplier.credentials_env and not password:
        raise rewix.SupplierAuthError(
            _("The environment variable %(env)s, which should hold the password for %(supplier)s, is not set.")
            % {"env": supplier.credentials_env, "supplier": supplier.name})
    return rewix.RewixClient(supplier.base_url, api_key=supplier.api_user, password=password, auth=supplier.auth,
                             credentials_env=supplier.credentials_env)


def _claim(supplier_id, now):
    return Supplier.objects.filter(pk=supplier_id, active=True).filter(
        Q(sync_claimed_until__isnull=True) | Q(sync_claimed_until__lt=now)).update(sync_claimed_until=now + LEASE)


def supplier_sync(*, supplier_id, client=None, now=None):
    """Align the growing order, place the paid orders, store what the supplier holds. Returns a SyncReport."""
    supplier = Supplier.objects.select_related("store").get(pk=supplier_id)
    report = SyncReport(supplier=supplier.name)
    if not _claim(supplier_id, now or timezone.now()):
        report.busy = True
        return report
    try:
        client = client or supplier_client(supplier)
        for _pass in range(MAX_PASSES):
            started = timezone.now()
            report.passes += 1
            growing = _align(supplier, client, report, started)
            growing = _place_due(supplier, client, report) or growing
            _remember(supplier, growing)
            if not Reservation.objects.filter(supplier=supplier, sync=ReservationSync.WAITING,
                                              updated_at__gt=started).exists():
                break
        Supplier.objects.filter(pk=supplier.pk).update(last_error="")
    except rewix.SupplierError as exc:
        report.error = str(exc)
        _sync_failed(supplier, exc)
    finally:
        Supplier.objects.filter(pk=supplier_id).update(sync_claimed_until=None)
    return report


def growing_order_refresh(*, supplier, client=None):
    """Read the growing order again (the growing-order page's button); raises SupplierError."""
    growing = (client or supplier_client(supplier)).growing_order()
    _remember(supplier, growing)
    return growing


def _align(supplier, client, report, started):
    """Set each model whose locked quantity differs from the shop's need; mark the reservations it concerns."""
    growing = client.growing_order()
    needed = needed_by_stock(supplier)
    operations = [rewix.Operation("set", stock_id, needed.get(stock_id, 0))
                  for stock_id in sorted(set(needed) | set(growing.models))
                  if growing.locked(stock_id) != needed.get(stock_id, 0)]
    short = {}
    if operations:
        result = client.apply_operations(operations, before=growing)
        for outcome in result.outcomes:
            operation = outcome.operation
            report.operations.append((operation.stock_id, growing.locked(operation.stock_id), operation.quantity,
                                      result.growing_order.locked(operation.stock_id)))
            if isinstance(outcome, rewix.OutOfStock):
                short[operation.stock_id] = outcome
        growing = result.growing_order
    _mark_reserved(supplier, needed, short, started, report)
    return growing


def _mark_reserved(supplier, needed, short, started, report):
    """The lines of the models now held in full are in sync; of a model held short, the oldest orders get what
    the supplier locked and the others fail with the reason (staff can retry or release them)."""
    pending = (Reservation.objects.filter(supplier=supplier, remote_order_id="", updated_at__lte=started,
                                          released_by_staff=False)
               .filter(Q(sync__in=CANCELLABLE) | Q(sync=ReservationSync.FAILED, short=True)))
    in_sync = pending.exclude(stock_id__in=short)
    reserved = list(in_sync.filter(quantity__gt=0).exclude(sync=ReservationSync.IN_SYNC)
                    .values_list("order_id", "stock_id", "quantity").order_by("order_id", "stock_id"))
    in_sync.update(sync=ReservationSync.IN_SYNC, sync_error="", attempts=0, short=False)
    by_order = {}
    for order_id, stock_id, quantity in reserved:
        by_order.setdefault(order_id, []).append(f"{stock_id} × {quantity}")
    events_to_write = [events.reservation_event(order_id, text(N_("Reserved at %(supplier)s: %(models)s"),
                                                               supplier=supplier.name, models=", ".join(models)),
                                                data={"stock_ids": sorted(m.split(" ")[0] for m in models)})
                       for order_id, models in by_order.items()]
    for stock_id, outcome in short.items():
        left = outcome.locked
        rows = list(Reservation.objects.filter(supplier=supplier, remote_order_id="", stock_id=stock_id,
                                               quantity__gt=0).order_by("order__created_at", "pk"))
        for row in rows:
            if row.quantity <= left:
                left -= row.quantity
                if row.updated_at <= started and (row.sync in CANCELLABLE or row.short):
                    Reservation.objects.filter(pk=row.pk).update(sync=ReservationSync.IN_SYNC, sync_error="",
                                                                 short=False)
                continue
            reason = text(N_("Out of stock at %(supplier)s: %(needed)s needed of %(stock_id)s, %(available)s left"),
                          supplier=supplier.name, needed=row.quantity, stock_id=stock_id,
                          available=outcome.available + left)
            english = texts.english(reason)
            if row.sync == ReservationSync.FAILED and row.sync_error == english:
                continue
            Reservation.objects.filter(pk=row.pk).update(sync=ReservationSync.FAILED, sync_error=english,
                                                         attempts=row.attempts + 1, short=True)
            events_to_write.append(events.reservation_event(row.order_id, reason,
                                                            data={"reservation_id": row.pk, "stock_id": stock_id}))
            report.failed.append(english)
    if events_to_write:
        type(events_to_write[0]).objects.bulk_create(events_to_write, batch_size=1000)


def _place_due(supplier, client, report):
    """Place each paid order's reserved lines as the supplier's order for it; the growing order after, or None."""
    due = list(Reservation.objects.filter(supplier=supplier, remote_order_id="", quantity__gt=0,
                                          sync=ReservationSync.IN_SYNC, released_by_staff=False,
                                          order__status__in=PLACING_STATUSES, order__trashed=False)
               .select_related("order").order_by("order_id", "pk")[:PLACE_BATCH * 10])
    by_order = {}
    for reservation in due:
        by_order.setdefault(reservation.order_id, []).append(reservation)
    placed_any = False
    for rows in list(by_order.values())[:PLACE_BATCH]:
        placed_any |= _place_one(supplier, client, rows, report)
    return client.growing_order() if placed_any else None


def _place_one(supplier, client, rows, report):
    order = rows[0].order
    ids = [row.pk for row in rows]
    key = order.number
    try:
        if any(row.outcome_unknown for row in rows):
            found = client.order_by_key(key)
            if found is not None:
                return _placed(supplier, order, ids, found.order_id, report, found=found)
        # Committed before the request goes out: a worker killed while waiting leaves the mark for the next one.
        Reservation.objects.filter(pk__in=ids).update(outcome_unknown=True)
        remote_id = client.place_order(_dropship_order(order, rows))
    except rewix.SupplierDuplicateOrderError:
        found = client.order_by_key(key)
        if found is None:
            return _place_failed(order, ids, _("The supplier refuses order %(key)s as already known, but cannot find "
                                               "it by that key.") % {"key": key}, report)
        return _placed(supplier, order, ids, found.order_id, report, found=found)
    except rewix.SupplierAuthError:
        raise
    except rewix.SupplierError as exc:
        if exc.retryable:
            # A lost answer keeps the mark (look it up first next time); a refused connection clears it.
            Reservation.objects.filter(pk__in=ids).update(sync=ReservationSync.RETRYING, sync_error=str(exc),
                                                          outcome_unknown=exc.outcome_unknown,
                                                          attempts=F("attempts") + 1)
            report.failed.append(str(exc))
            return False
        return _place_failed(order, ids, str(exc), report)
    return _placed(supplier, order, ids, remote_id, report)


def _placed(supplier, order, ids, remote_id, report, found=None):
    fields = {"remote_order_id": remote_id, "placed_at": timezone.now(), "placed_address": order.shipping or {},
              "outcome_unknown": False, "sync": ReservationSync.IN_SYNC, "sync_error": "", "attempts": 0}
    if found is not None and found.status_code is not None:
        fields["status_code"] = found.status_code
    with transaction.atomic():
        Reservation.objects.filter(pk__in=ids).update(**fields)
        events.reservation_event(order.pk, text(N_("Placed at %(supplier)s as order %(remote_id)s"),
                                                supplier=supplier.name, remote_id=remote_id),
                                 data={"remote_order_id": remote_id}).save()
    report.placed.append((order.number, remote_id))
    return True


def _place_failed(order, ids, reason, report):
    with transaction.atomic():
        Reservation.objects.filter(pk__in=ids).update(sync=ReservationSync.FAILED, sync_error=reason,
                                                      outcome_unknown=False)
        events.reservation_event(order.pk, text(N_("The supplier refused the order: %(reason)s"), reason=reason),
                                 data={"reservation_ids": ids}).save()
    report.failed.append(reason)
    return False


def _dropship_order(order, rows):
    shipping, billing = order.shipping or {}, order.billing or {}
    street = ", ".join(part for part in (shipping.get("address_1"), shipping.get("address_2")) if part)
    recipient = rewix.Recipient(
        name=" ".join(p for p in (shipping.get("first_name"), shipping.get("last_name")) if p) or order.customer_name,
        street=street, zip=shipping.get("postcode", ""), city=shipping.get("city", ""),
        countrycode=shipping.get("country", "") or order.country, careof=shipping.get("company", ""),
        phone=shipping.get("phone") or billing.get("phone", ""), province=shipping.get("state", ""))
    items = {}
    for row in rows:
        items[row.stock_id] = items.get(row.stock_id, 0) + row.quantity
    return rewix.DropshipOrder(key=order.number, date=order.created_at, items=tuple(items.items()),
                               recipient=recipient)


def _remember(supplier, growing):
    """Keep what the growing order holds, and since when it differs from what the shop needs (the alarm)."""
    snapshot = {stock_id: reserved.locked for stock_id, reserved in growing.models.items() if reserved.locked}
    needed = needed_by_stock(supplier)
    now = timezone.now()
    differs = snapshot != {k: v for k, v in needed.items() if v}
    Supplier.objects.filter(pk=supplier.pk).update(
        growing_order_id=growing.order_id or "", growing_snapshot=snapshot, growing_read_at=now)
    if differs:
        Supplier.objects.filter(pk=supplier.pk, differs_since__isnull=True).update(differs_since=now)
    else:
        Supplier.objects.filter(pk=supplier.pk).update(differs_since=None)


def _sync_failed(supplier, exc):
    """The supplier could not be reached or refused us: the waiting lines say why; a refusal of our login stops
    them (failed, staff must fix the key), a passing fault leaves them retrying on the schedule."""
    logger.warning("supplier %s: sync failed: %s", supplier.pk, exc)
    Supplier.objects.filter(pk=supplier.pk).update(last_error=str(exc)[:2000])
    state = ReservationSync.RETRYING if exc.retryable else ReservationSync.FAILED
    Reservation.objects.filter(supplier=supplier, sync__in=CANCELLABLE).update(sync=state, sync_error=str(exc)[:2000])
