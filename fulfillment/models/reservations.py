"""Dropshipping: a supplier on a Rewix-compatible platform, its catalogue mapped to the shop's SKUs, and the
reservations of the shop's order lines in the supplier's growing order, followed until the supplier dispatches.
"""

from django.db import models
from django.utils.translation import gettext_lazy as _

from backoffice.encrypted import EncryptedCharField

from fulfillment.choices import ReservationStatus, ReservationSync, SupplierAuth

DEFAULT_RESERVING_STATUSES = ["pending", "on-hold", "processing"]


def default_reserving_statuses():
    return list(DEFAULT_RESERVING_STATUSES)


class Supplier(models.Model):
    """A wholesale supplier that dropships some of a store's products, on its own host of the Rewix platform."""

    store = models.ForeignKey("fulfillment.Store", on_delete=models.CASCADE, related_name="suppliers")
    name = models.CharField(_("name"), max_length=100)
    active = models.BooleanField(_("active"), default=True)
    base_url = models.URLField(_("API base URL"), help_text=_("The supplier's Rewix host, e.g. https://www.example-supplier.com"))
    platform_url = models.URLField(
        _("supplier's platform"), blank=True,
        help_text=_("Where the shop pays the growing order (a link on the growing-order page)."))
    # Encrypted at rest (the password stays in the environment, credentials_env).
    api_user = EncryptedCharField(_("API key (user)"), max_length=200,
                                help_text=_("The API key the supplier gave: the user of HTTP Basic authentication."))
    credentials_env = models.CharField(
        _("environment variable with the password"), max_length=100,
        help_text=_("The password (or token) is never stored here: name the environment variable that holds it."))
    auth = models.CharField(_("authentication"), max_length=8, choices=SupplierAuth.choices,
                            default=SupplierAuth.BASIC)
    reserving_statuses = models.JSONField(
        _("statuses that reserve"), default=default_reserving_statuses, blank=True,
        help_text=_('Order statuses whose dropship lines are reserved, e.g. ["pending", "on-hold", "processing"]; '
                    'a processing order is also placed as the supplier\'s order.'))
    alarm_after_minutes = models.PositiveIntegerField(
        _("alarm after (minutes)"), default=60,
        help_text=_("The dashboard raises an alarm when the growing order differs from the shop for longer."))

    # The growing order as last read from the supplier: {stock_id: locked}, when, and its id there.
    growing_order_id = models.CharField(_("growing order id"), max_length=64, blank=True)
    growing_snapshot = models.JSONField(default=dict, blank=True)
    growing_read_at = models.DateTimeField(_("growing order read at"), null=True, blank=True)
    differs_since = models.DateTimeField(_("differs from the shop since"), null=True, blank=True)
    catalogue_synced_at = models.DateTimeField(_("catalogue read at"), null=True, blank=True)
    statuses_polled_at = models.DateTimeField(_("statuses read at"), null=True, blank=True)
    last_error = models.TextField(_("last error"), blank=True)
    # One sync at a time per supplier, without holding a transaction over HTTP: a lease a killed worker loses.
    sync_claimed_until = models.DateTimeField(null=True, blank=True)

    class Meta:
        verbose_name = _("supplier")
        verbose_name_plural = _("suppliers")
        ordering = ["store", "name"]

    def __str__(self):
        return f"{self.name} ({self.store.slug})"


class SupplierProduct(models.Model):
    """One sellable model (product with size) of the supplier's catalogue: its stock_id is the plugin's Remote ID."""

    supplier = models.ForeignKey(Supplier, on_delete=models.CASCADE, related_name="products")
    stock_id = models.CharField(_("remote id"), max_length=32)
    product_id = models.CharField(_("supplier's product id"), max_length=32, blank=True)
    name = models.CharField(_("name"), max_length=300, blank=True)
    size = models.CharField(_("size"), max_length=100, blank=True)
    color = models.CharField(_("colour"), max_length=100, blank=True)
    code = models.CharField(_("supplier's SKU"), max_length=100, blank=True)
    barcode = models.CharField(_("barcode"), max_length=64, blank=True)
    availability = models.IntegerField(_("in stock"), default=0)
    in_catalogue = models.BooleanField(_("in the catalogue"), default=True)
    shop_sku = models.CharField(
        _("SKU in the shop"), max_length=100, blank=True,
        help_text=_("Only when the shop's SKU differs from the supplier's: order lines with this SKU are this model."))
    # What the shop's order lines are matched on: the shop's SKU when given, else the supplier's.
    match_sku = models.CharField(max_length=100, blank=True, db_index=False)
    updated_at = models.DateTimeField(auto_now=True)

    class Meta:
        verbose_name = _("supplier product")
        verbose_name_plural = _("supplier products")
        ordering = ["supplier", "code"]
        constraints = [models.UniqueConstraint(fields=["supplier", "stock_id"], name="supplier_product_unique_stock")]
        indexes = [models.Index(fields=["supplier", "match_sku"], name="supplier_product_match_idx")]

    def __str__(self):
        return f"{self.code or self.stock_id} {self.size}".strip()

    def save(self, *args, **kwargs):
        self.match_sku = (self.shop_sku or self.code).strip()
        if "update_fields" in kwargs and kwargs["update_fields"] is not None:
            kwargs["update_fields"] = {*kwargs["update_fields"], "match_sku"}
        super().save(*args, **kwargs)


class Reservation(models.Model):
    """An order line's quantity reserved in the supplier's growing order, then placed and followed to dispatch."""

    order = models.ForeignKey("fulfillment.Order", on_delete=models.CASCADE, related_name="reservations")
    # Kept when WooCommerce removes the line from the order (then nothing is needed any more: it is released).
    line = models.OneToOneField("fulfillment.OrderLine", null=True, blank=True, on_delete=models.SET_NULL,
                                related_name="reservation")
    supplier = models.ForeignKey(Supplier, on_delete=models.PROTECT, related_name="reservations")
    stock_id = models.CharField(_("remote id"), max_length=32)
    # The line as it was reserved: the screen shows it without joining, and after the line is gone.
    woo_line_id = models.BigIntegerField(default=0)
    woo_product_id = models.BigIntegerField(_("WooCommerce id"), default=0)  # the variation's id when it has one
    sku = models.CharField(_("SKU"), max_length=100, blank=True)
    name = models.CharField(_("product"), max_length=300, blank=True)
    size = models.CharField(_("size"), max_length=100, blank=True)
    # What the shop's order needs now (the line's quantity less what was refunded; 0 once released).
    quantity = models.PositiveIntegerField(_("quantity"), default=0)
    status = models.CharField(_("status"), max_length=16, choices=ReservationStatus.choices,
                              default=ReservationStatus.BOOKED)
    sync = models.CharField(_("sync status"), max_length=12, choices=ReservationSync.choices,
                            default=ReservationSync.WAITING)
    sync_error = models.TextField(_("sync failure reason"), blank=True)
    attempts = models.PositiveIntegerField(_("attempts"), default=0)
    # Placing the supplier's order was started and its answer never came (timeout, killed worker): the next
    # attempt looks the order up by its key before placing anything.
    outcome_unknown = models.BooleanField(default=False)
    # The supplier held less than the shop needs of its model: failed for stock, in sync again once it is held.
    short = models.BooleanField(_("short of stock at the supplier"), default=False)
    # Staff released it by hand: the shop's changes no longer reserve it, until staff try it again.
    released_by_staff = models.BooleanField(_("released by staff"), default=False)
    # The supplier's order for the shop order (placed once the order is paid), and what it knows about it.
    remote_order_id = models.CharField(_("supplier's order id"), max_length=64, blank=True)
    placed_at = models.DateTimeField(_("placed at"), null=True, blank=True)
    placed_address = models.JSONField(default=dict, blank=True)
    status_code = models.IntegerField(_("supplier's status code"), null=True, blank=True)
    carrier = models.CharField(_("carrier"), max_length=100, blank=True)
    tracking_code = models.CharField(_("tracking number"), max_length=100, blank=True)
    tracking_url = models.URLField(_("tracking link"), max_length=500, blank=True)
    shipment = models.ForeignKey("fulfillment.Shipment", null=True, blank=True, on_delete=models.SET_NULL,
                                 related_name="+")
    created_at = models.DateTimeField(auto_now_add=True)
    updated_at = models.DateTimeField(auto_now=True)

    class Meta:
        verbose_name = _("reservation")
        verbose_name_plural = _("reservations")
        ordering = ["-id"]
        permissions = [("manage_reservations", _("Can align the growing order, retry and release reservations"))]
        indexes = [
            models.Index(fields=["supplier", "status", "stock_id"], name="reservation_supplier_idx"),
            models.Index(fields=["supplier", "sync"], name="reservation_sync_idx"),
            models.Index(fields=["stock_id"], name="reservation_stock_idx"),
            models.Index(fields=["sku"], name="reservation_sku_idx"),
            models.Index(fields=["order", "status"], name="reservation_order_idx"),
        ]

    def __str__(self):
        return f"{self.stock_id} × {self.quantity}"
