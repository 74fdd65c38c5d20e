"""The order page's dropship lines: each line's reservation at its supplier (status, sync, tracking)."""

from fulfillment.extensions import OrderPagePanel
from fulfillment.models import Reservation


class DropshipPanel(OrderPagePanel):
    name = "dropship"
    position = 20
    line_template = "admin/fulfillment/order/_reservation_line.html"

    def context(self, request, order, page):
        reservations = {r.line_id: r for r in Reservation.objects.filter(order_id=order.pk, line__isnull=False)
                        .select_related("supplier")}
        for row in page["lines"]:
            row["reservation"] = reservations.get(row["line"].pk)
        return {"dropshipped": bool(reservations),
                "can_view_reservations": request.user.has_perm("fulfillment.view_reservation")}
