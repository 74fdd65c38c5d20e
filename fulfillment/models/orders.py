from decimal import Decimal

from django.conf import settings
from django.db import models
from django.db.models.functions import Upper
from django.utils.translation import gettext, gettext_lazy as _, pgettext_lazy

from fulfillment.choices import EventSource, EventType, OrderStatus, OrderType, RefundState, SubmitStatus, status_label
from fulfillment.errors import StatusTransitionError

MONEY = {"max_digits": 14, "decimal_places": 4, "default": Decimal("0")}

# The dashboard's "waiting for submission" and "failed submissions" (its links filter the list the same way). Literal
# values: a partial index serves a query only when its condition is written as the index's.
WAITING_FOR_SUBMISSION = models.Q(status="processing", order_type=OrderType.IN_APP.value,
                                  submit_status=SubmitStatus.NONE.value)
SUBMISSION_FAILED = models.Q(submit_status=SubmitStatus.FAILED.value)
# Orders of registered customers (0 is a guest): order_customer_created_idx holds only these, and a query that
# should read it says so in these words (SQLite does not infer it from customer_woo_id = 42).
REGISTERED_CUSTOMER = models.Q(customer_woo_id__gt=0)
# The production pipeline's "in production" (fulfillment.selectors.pipeline): accepted by every provider, the order
# not ended. A partial index (order_in_production_idx) holds just those orders; literal values, as above.
PRODUCTION_ENDED_STATUSES = ("completed", "cancelled", "refunded", "failed", "trash")
ACCEPTED_NOT_ENDED = (models.Q(submit_status=SubmitStatus.SUBMITTED.value)
                      & ~models.Q(status__in=PRODUCTION_ENDED_STATUSES))


class Order(models.Model):
    """The mirror of one WooCommerce order; list columns are real, indexed fields."""

    # Which statuses staff may move an order to from each status (the services and the admin read it here). Custom
    # statuses may go where a core status may go, and may always come back to processing or on-hold.
    TRANSITIONS = {
        OrderStatus.PENDING: {OrderStatus.PROCESSING, OrderStatus.ON_HOLD, OrderStatus.CANCELLED, OrderStatus.FAILED},
        OrderStatus.FAILED: {OrderStatus.PENDING, OrderStatus.PROCESSING, OrderStatus.ON_HOLD, OrderStatus.CANCELLED},
        OrderStatus.ON_HOLD: {OrderStatus.PROCESSING, OrderStatus.COMPLETED, OrderStatus.CANCELLED,
                              OrderStatus.PENDING},
        OrderStatus.PROCESSING: {OrderStatus.ON_HOLD, OrderStatus.COMPLETED, OrderStatus.CANCELLED},
        OrderStatus.COMPLETED: {OrderStatus.PROCESSING},
        OrderStatus.CANCELLED: {OrderStatus.PENDING, OrderStatus.PROCESSING, OrderStatus.ON_HOLD},
        OrderStatus.REFUNDED: set(),
        OrderStatus.CHECKOUT_DRAFT: set(),
        OrderStatus.TRASH: set(),
        OrderStatus.READY_FOR_PICKUP: {OrderStatus.COMPLETED, OrderStatus.CANCELLED, OrderStatus.PROCESSING},
    }
    CUSTOM_STATUS_TARGETS = {OrderStatus.PROCESSING, OrderStatus.ON_HOLD, OrderStatus.COMPLETED,
                             OrderStatus.CANCELLED}

    store = models.ForeignKey("fulfillment.Store", on_delete=models.PROTECT, related_name="orders",
                              verbose_name=_("store"))
    woo_id = models.BigIntegerField(_("WooCommerce id"))
    number = models.CharField(_("number"), max_length=64)
    # Any slug: shops register custom statuses and we must never reject one.
    status = models.CharField(_("status"), max_length=64)
    order_type = models.CharField(_("type"), max_length=16, choices=OrderType.choices, default=OrderType.OTHER)
    created_via = models.CharField(max_length=64, blank=True)
    parent_woo_id = models.BigIntegerField(default=0)

    created_at = models.DateTimeField(_("created"))
    modified_at = models.DateTimeField(_("modified in WooCommerce"))
    paid_at = models.DateTimeField(null=True, blank=True)
    completed_at = models.DateTimeField(null=True, blank=True)

    customer_woo_id = models.BigIntegerField(default=0)  # 0 = guest
    customer_name = models.CharField(_("customer"), max_length=200, blank=True)
    customer_email = models.EmailField(_("email"), max_length=254, blank=True)
    city = models.CharField(_("city"), max_length=100, blank=True)
    state = models.CharField(pgettext_lazy("address", "state"), max_length=100, blank=True)
    country = models.CharField(_("country"), max_length=2, blank=True)
    billing = models.JSONField(default=dict, blank=True)
    shipping = models.JSONField(default=dict, blank=True)
    customer_note = models.TextField(blank=True)

    currency = models.CharField(_("currency"), max_length=3)
    prices_include_tax = models.BooleanField(default=False)
    total = models.DecimalField(_("total"), **MONEY)
    total_tax = models.DecimalField(**MONEY)
    shipping_total = models.DecimalField(**MONEY)
    shipping_tax = models.DecimalField(**MONEY)
    discount_total = models.DecimalField(**MONEY)
    discount_tax = models.DecimalField(**MONEY)
    refunded_total = models.DecimalField(**MONEY)
    payment_method = models.CharField(max_length=100, blank=True)
    payment_method_title = models.CharField(_("payment method"), max_length=200, blank=True)
    transaction_id = models.CharField(max_length=200, blank=True)
    item_count = models.PositiveIntegerField(_("items"), default=0)

    raw = models.JSONField(_("last WooCommerce JSON"), default=dict)
    # sha256 of the canonical raw JSON: tells "unchanged" from "updated" without comparing fields.
    raw_hash = models.CharField(max_length=64, blank=True)
    trashed = models.BooleanField(_("trashed in WooCommerce"), default=False)
    mirrored_at = models.DateTimeField(auto_now=True)

    # Local-only fields: never written by an import, webhook or reconcile.
    submit_status = models.CharField(
        _("submit status"), max_length=16, choices=SubmitStatus.choices, default=SubmitStatus.NONE, blank=True
    )
    submit_error = models.TextField(_("submission failure reason"), blank=True)
    # Automatic submission: due at `countdown_due_at` while running; on hold it is paused with the time left.
    countdown_due_at = models.DateTimeField(_("automatic submission at"), null=True, blank=True)
    countdown_paused_seconds = models.PositiveIntegerField(_("countdown paused with seconds left"), null=True,
                                                           blank=True)

    class Meta:
        verbose_name = _("order")
        verbose_name_plural = _("orders")
        ordering = ["-created_at", "-id"]
        permissions = [
            ("change_order_status", _("Can change the status of orders")),
            ("add_order_note", _("Can add notes to orders")),
            ("change_order_address", _("Can correct shipping addresses")),
            ("refund_order", _("Can refund orders")),
            ("add_tracking", _("Can record shipments and tracking numbers")),
            ("export_orders", _("Can export orders")),
            ("submit_order", _("Can submit orders to production, retry, cancel and reprint")),
        ]
        constraints = [
            models.UniqueConstraint(fields=["store", "woo_id"], name="order_unique_store_woo_id"),
        ]
        indexes = [
            models.Index(fields=["-created_at", "-id"], name="order_created_idx"),
            # With the id tie-breaker of the list's ordering: a status tab is read in index order without a sort,
            # and the status counts (COUNT(id) GROUP BY status) are an index-only scan instead of a table scan.
            models.Index(fields=["status", "-created_at", "-id"], name="order_status_created_id_idx"),
            # Status within a store (the store filter plus a status tab, and the store's status counts).
            models.Index(fields=["store", "status", "-created_at", "-id"], name="order_store_status_idx"),
            models.Index(fields=["store", "-created_at"], name="order_store_created_idx"),
            models.Index(fields=["order_type", "-created_at"], name="order_type_created_idx"),
            models.Index(fields=["submit_status", "-created_at"], name="order_submit_created_idx"),
            # The dashboard's waiting orders per store: a few hundred rows of index, where the condition over the
            # table was a scan of every order (processing in-app orders are many; unsubmitted ones are few).
            models.Index(fields=["store"], name="order_waiting_submission_idx", condition=WAITING_FOR_SUBMISSION),
            # The pipeline's "in production" per store (the dashboard) and newest first (the list's filter): the
            # orders at the providers now, where submit_status = 'submitted' alone is every order ever produced.
            models.Index(fields=["store", "-created_at", "-id"], name="order_in_production_idx",
                         condition=ACCEPTED_NOT_ENDED),
            models.Index(fields=["countdown_due_at"], name="order_countdown_idx",
                         condition=models.Q(countdown_due_at__isnull=False)),
            models.Index(fields=["store", "modified_at"], name="order_store_modified_idx"),
            models.Index(fields=["customer_email"], name="order_email_idx"),
            # A registered customer's orders in a store, newest first (the order page's customer history, the list's
            # customer filter: customer ids are the shop's own); guests (id 0, many) are left out of it.
            models.Index(fields=["store", "customer_woo_id", "-created_at", "-id"], name="order_customer_created_idx",
                         condition=REGISTERED_CUSTOMER),
            models.Index(fields=["number"], name="order_number_idx"),
            # The list's search: "=number" is number__iexact, i.e. UPPER(number) = UPPER(term); without this index
            # that one condition turns the whole OR of the search into a scan of the table.
            models.Index(Upper("number"), name="order_number_upper_idx"),
            # A number searched as a WooCommerce id: the unique (store, woo_id) index cannot serve woo_id alone.
            models.Index(fields=["woo_id"], name="order_woo_id_idx"),
            models.Index(fields=["customer_name"], name="order_customer_name_idx"),
            models.Index(fields=["country"], name="order_country_idx"),
        ]

    def __str__(self):
        return f"#{self.number}"

    @property
    def status_label(self):
        return status_label(self.status)

    def allowed_statuses(self):
        """The statuses staff may move this order to (none while it is in WooCommerce's trash)."""
        if self.trashed:
            return set()
        try:
            return set(self.TRANSITIONS[OrderStatus(self.status)])
        except ValueError:
            return set(self.CUSTOM_STATUS_TARGETS)

    def check_transition(self, status):
        """Raise StatusTransitionError unless staff may move this order to `status`."""
        if status not in self.allowed_statuses():
            raise StatusTransitionError(gettext("An order in status %(before)s cannot be moved to %(after)s.") % {
                "before": self.status_label, "after": status_label(status)})


class OrderLine(models.Model):
    """A product line of an order, as WooCommerce sent it."""

    order = models.ForeignKey(Order, on_delete=models.CASCADE, related_name="lines")
    woo_line_id = models.BigIntegerField()
    name = models.CharField(max_length=300)
    product_id = models.BigIntegerField(default=0)
    variation_id = models.BigIntegerField(default=0)
    sku = models.CharField(max_length=100, blank=True)
    variation = models.CharField(_("variation"), max_length=300, blank=True)
    quantity = models.IntegerField(default=0)
    price = models.DecimalField(**MONEY)
    subtotal = models.DecimalField(**MONEY)
    subtotal_tax = models.DecimalField(**MONEY)
    total = models.DecimalField(**MONEY)
    total_tax = models.DecimalField(**MONEY)
    image_src = models.URLField(max_length=500, blank=True)
    project_ref = models.CharField(_("personalisation project"), max_length=64, blank=True)
    meta = models.JSONField(default=list, blank=True)

    class Meta:
        ordering = ["woo_line_id"]
        constraints = [
            models.UniqueConstraint(fields=["order", "woo_line_id"], name="orderline_unique_order_line"),
        ]
        indexes = [models.Index(fields=["sku"], name="orderline_sku_idx")]

    def __str__(self):
        return f"{self.quantity} × {self.name}"


class Refund(models.Model):
    """A refund of an order: mirrored from WooCommerce, or made here and pushed there."""

    order = models.ForeignKey(Order, on_delete=models.CASCADE, related_name="refunds")
    woo_refund_id = models.BigIntegerField(null=True, blank=True)
    amount = models.DecimalField(_("amount"), **MONEY)
    reason = models.TextField(_("reason"), blank=True)
    created_at = models.DateTimeField(_("created"))
    created_by = models.ForeignKey(settings.AUTH_USER_MODEL, null=True, blank=True, on_delete=models.SET_NULL)
    state = models.CharField(max_length=16, choices=RefundState.choices, default=RefundState.MIRRORED)
    restock = models.BooleanField(_("restock"), default=False)
    api_refund = models.BooleanField(_("through the payment gateway"), default=False)
    # What the refund covers: [{"line_id": woo line id, "quantity": n, "amount": "x", "tax": "y"}], shipping and
    # fee lines included (quantity 0). A refund made in WooCommerce comes without them in the order's JSON: they
    # are fetched from its refunds list afterwards, and until then `lines_pending` says its quantities are unknown.
    lines = models.JSONField(default=list, blank=True)
    lines_pending = models.BooleanField(_("line quantities still being fetched"), default=False)
    # The one-time token of the form that made it: the same form posted twice is answered with this refund.
    token = models.CharField(max_length=64, blank=True, default="")

    class Meta:
        ordering = ["created_at", "id"]
        constraints = [
            models.UniqueConstraint(
                fields=["order", "woo_refund_id"],
                condition=models.Q(woo_refund_id__isnull=False),
                name="refund_unique_order_woo_id",
            ),
            models.UniqueConstraint(fields=["order", "token"], condition=~models.Q(token=""),
                                    name="refund_unique_order_token"),
        ]

    def __str__(self):
        return f"{self.amount} {self.order.currency}"


class OrderEvent(models.Model):
    """One entry of an order's timeline: who did what, when, with before/after values."""

    order = models.ForeignKey(Order, on_delete=models.CASCADE, related_name="events")
    type = models.CharField(max_length=32, choices=EventType.choices)
    source = models.CharField(max_length=16, choices=EventSource.choices, default=EventSource.SYSTEM)
    user = models.ForeignKey(settings.AUTH_USER_MODEL, null=True, blank=True, on_delete=models.SET_NULL)
    created_at = models.DateTimeField(auto_now_add=True, db_index=False)
    message = models.TextField(blank=True)  # in English (logs, searches); the timeline shows `text` when set
    data = models.JSONField(default=dict, blank=True)
    # The message as data (fulfillment.texts): rendered in the language of whoever reads the timeline.
    text = models.JSONField(null=True, blank=True)

    class Meta:
        ordering = ["-created_at", "-id"]
        indexes = [models.Index(fields=["order", "-created_at"], name="orderevent_order_created_idx")]

    def __str__(self):
        return f"{self.get_type_display()} {self.created_at:%Y-%m-%d %H:%M}"
