"""Dropshipping's figures on each store's dashboard card: failed reservations, and the alarm of a growing order
that has differed from the shop's orders for longer than its supplier's alarm time (fulfillment.extensions)."""

from django.db.models import Count, IntegerField, OuterRef, Subquery
from django.db.models.functions import Coalesce
from django.urls import reverse
from django.utils import timezone
from django.utils.translation import gettext as _, ngettext

from fulfillment.choices import ReservationSync
from fulfillment.extensions import DashboardFigures, Figure
from fulfillment.models import Reservation, Supplier


def dropship_numbers(stores):
    """{store id: [{"supplier", "failed", "differs_minutes", "alarm"}]}: one query for every store."""
    failed = (Reservation.objects.filter(supplier=OuterRef("pk"), sync=ReservationSync.FAILED).order_by()
              .values("supplier").annotate(n=Count("pk")).values("n"))
    now = timezone.now()
    numbers = {}
    for row in (Supplier.objects.filter(store__in=stores, active=True)
                .annotate(failed=Coalesce(Subquery(failed, output_field=IntegerField()), 0))
                .values("pk", "store_id", "failed", "differs_since", "alarm_after_minutes").order_by("pk")):
        minutes = int((now - row["differs_since"]).total_seconds() // 60) if row["differs_since"] else None
        numbers.setdefault(row["store_id"], []).append({
            "supplier": row["pk"], "failed": row["failed"], "differs_minutes": minutes,
            "alarm": minutes is not None and minutes >= row["alarm_after_minutes"]})
    return numbers


def dropship_figures(user, store, numbers):
    if not user.has_perm("fulfillment.view_reservation"):
        return []
    figures = []
    for supplier in numbers:
        url = reverse("admin:fulfillment_reservation_changelist")
        figures.append(Figure(supplier["failed"], _("failed reservations"),
                              f"{url}?supplier__id__exact={supplier['supplier']}&sync__exact=failed",
                              bad=bool(supplier["failed"])))
        if supplier["alarm"]:
            figures.append(Figure(
                supplier["differs_minutes"],
                ngettext("minute the growing order has differed from the shop",
                         "minutes the growing order has differed from the shop", supplier["differs_minutes"]),
                reverse("admin:fulfillment_supplier_growing", args=[supplier["supplier"]]), bad=True))
    return figures


DROPSHIP_FIGURES = DashboardFigures(name="dropship", numbers=dropship_numbers, figures=dropship_figures, position=20)
