"""Reads for supplier reservations: what the growing order must hold, and how it compares with what it holds."""

from dataclasses import dataclass, field

from django.db.models import Count, F, IntegerField, OuterRef, Q, Subquery, Sum, TextField

from fulfillment.choices import ReservationStatus, ReservationSync
from fulfillment.models import Reservation, SupplierProduct

# A placed line whose supplier order can still change hands (the address matters until it is dispatched).
NOT_SETTLED = (ReservationStatus.BOOKED, ReservationStatus.CONFIRMED, ReservationStatus.WORKING_ON,
               ReservationStatus.READY)
ADDRESSES_SHOWN = 50


def needed_by_stock(supplier):
    """{stock_id: quantity} the shop's orders need in the growing order: reserved lines not yet placed."""
    return dict(Reservation.objects.filter(supplier=supplier, remote_order_id="", quantity__gt=0)
                .values_list("stock_id").annotate(n=Sum("quantity")).order_by())


@dataclass
class GrowingRow:
    stock_id: str
    name: str
    size: str
    code: str
    needed: int
    reserved: int

    @property
    def difference(self):
        """'' when equal, else missing (needed, not reserved), extra (reserved, not needed) or quantity."""
        if self.needed == self.reserved:
            return ""
        if not self.reserved:
            return "missing"
        if not self.needed:
            return "extra"
        return "quantity"


@dataclass
class GrowingComparison:
    rows: list = field(default_factory=list)
    addresses: list = field(default_factory=list)  # placed lines whose order's address changed since placing
    address_count: int = 0
    waiting: int = 0
    failed: int = 0

    @property
    def differences(self):
        return [row for row in self.rows if row.difference]

    @property
    def in_agreement(self):
        return not self.differences and not self.address_count

    @property
    def total_needed(self):
        return sum(row.needed for row in self.rows)

    @property
    def total_reserved(self):
        return sum(row.reserved for row in self.rows)


def growing_order_comparison(supplier):
    """The growing order as last read (`Supplier.growing_snapshot`) beside what the shop's pending and processing
    orders need, model by model, with every difference: four queries whatever the number of reservations."""
    needed = needed_by_stock(supplier)
    reserved = {str(k): int(v) for k, v in (supplier.growing_snapshot or {}).items() if int(v)}
    stock_ids = set(needed) | set(reserved)
    products = {p["stock_id"]: p for p in SupplierProduct.objects.filter(supplier=supplier, stock_id__in=stock_ids)
                .values("stock_id", "name", "size", "code")}
    rows = [GrowingRow(stock_id=s, name=products.get(s, {}).get("name", ""), size=products.get(s, {}).get("size", ""),
                       code=products.get(s, {}).get("code", ""), needed=needed.get(s, 0), reserved=reserved.get(s, 0))
            for s in stock_ids]
    rows.sort(key=lambda row: (row.difference == "", row.code, row.stock_id))
    moved = (Reservation.objects.filter(supplier=supplier, status__in=NOT_SETTLED).exclude(remote_order_id="")
             .exclude(placed_address=F("order__shipping")))
    counts = Reservation.objects.filter(supplier=supplier).aggregate(
        waiting=Count("pk", filter=Q(sync__in=(ReservationSync.WAITING, ReservationSync.RETRYING))),
        failed=Count("pk", filter=Q(sync=ReservationSync.FAILED)))
    addresses = list(moved.select_related("order").order_by("order_id")[:ADDRESSES_SHOWN + 1])
    return GrowingComparison(rows=rows, addresses=addresses[:ADDRESSES_SHOWN],
                             address_count=len(addresses) if len(addresses) <= ADDRESSES_SHOWN else moved.count(),
                             waiting=counts["waiting"], failed=counts["failed"])


def with_dropship_state(orders):
    """Orders annotated with `dropship_lines` (lines reserved at a supplier) and `dropship_failed` (the reason of
    a failed one, or None), for the order list's type column."""
    lines = (Reservation.objects.filter(order=OuterRef("pk"), quantity__gt=0).order_by().values("order")
             .annotate(n=Count("pk")).values("n"))
    failed = (Reservation.objects.filter(order=OuterRef("pk"), sync=ReservationSync.FAILED).order_by("pk")
              .values("sync_error")[:1])
    return orders.annotate(dropship_lines=Subquery(lines, output_field=IntegerField()),
                           dropship_failed=Subquery(failed, output_field=TextField()))
