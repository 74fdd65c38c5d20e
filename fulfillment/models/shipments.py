from django.conf import settings
from django.db import models
from django.utils.translation import gettext_lazy as _


class Shipment(models.Model):
    """A parcel sent for an order, with its carrier and tracking number."""

    order = models.ForeignKey("fulfillment.Order", on_delete=models.CASCADE, related_name="shipments")
    carrier = models.CharField(_("carrier"), max_length=100)
    tracking_number = models.CharField(_("tracking number"), max_length=100)
    tracking_link = models.URLField(_("tracking link"), max_length=500, blank=True)
    shipped_on = models.DateField(_("shipped on"))
    # [{"line_id": woo line id, "quantity": n}]: which lines went in this parcel.
    lines = models.JSONField(default=list, blank=True)
    woo_tracking_id = models.CharField(max_length=64, blank=True)
    created_by = models.ForeignKey(settings.AUTH_USER_MODEL, null=True, blank=True, on_delete=models.SET_NULL)
    # The one-time token of the form that recorded it: the same form posted twice is answered with this shipment.
    token = models.CharField(max_length=64, blank=True, default="")
    created_at = models.DateTimeField(auto_now_add=True)

    class Meta:
        verbose_name = _("shipment")
        verbose_name_plural = _("shipments")
        ordering = ["shipped_on", "id"]
        constraints = [
            models.UniqueConstraint(fields=["order", "carrier", "tracking_number"], name="shipment_unique_tracking"),
            models.UniqueConstraint(fields=["order", "token"], condition=~models.Q(token=""),
                                    name="shipment_unique_order_token"),
        ]
        indexes = [
            models.Index(fields=["tracking_number"], name="shipment_tracking_idx"),
            # The pipeline's "shipped in the last 30 days" (the dashboard and the list's filter): the recent parcels'
            # orders from the index alone.
            models.Index(fields=["shipped_on", "order"], name="shipment_shipped_on_idx"),
        ]

    def __str__(self):
        return f"{self.carrier} {self.tracking_number}"
