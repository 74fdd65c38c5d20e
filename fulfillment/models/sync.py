from django.conf import settings
from django.db import models
from django.utils.translation import gettext_lazy as _

from fulfillment.choices import DeliveryState, ImportMode, PushKind, PushState, RunState


class WebhookDelivery(models.Model):
    """A webhook delivery as received, stored before it is applied (nothing is lost)."""

    store = models.ForeignKey("fulfillment.Store", on_delete=models.CASCADE, related_name="deliveries")
    received_at = models.DateTimeField(auto_now_add=True)
    topic = models.CharField(max_length=64, blank=True)
    webhook_id = models.CharField(max_length=32, blank=True)
    delivery_id = models.CharField(max_length=64, blank=True)
    body = models.TextField(blank=True)
    # WooCommerce's delivery id is not guaranteed unique; the body's hash is what makes a repeat a repeat.
    body_sha256 = models.CharField(max_length=64)
    woo_id = models.BigIntegerField(null=True, blank=True)
    state = models.CharField(max_length=16, choices=DeliveryState.choices, default=DeliveryState.RECEIVED)
    error = models.TextField(blank=True)
    applied_at = models.DateTimeField(null=True, blank=True)
    repeats = models.PositiveIntegerField(default=0)

    class Meta:
        verbose_name = _("webhook delivery")
        verbose_name_plural = _("webhook deliveries")
        ordering = ["-received_at", "-id"]
        constraints = [
            models.UniqueConstraint(fields=["store", "topic", "body_sha256"], name="delivery_unique_body"),
        ]
        indexes = [
            models.Index(fields=["state", "-received_at"], name="delivery_state_idx"),
            models.Index(fields=["store", "woo_id"], name="delivery_store_woo_idx"),
        ]

    def __str__(self):
        return f"{self.topic} #{self.woo_id or '?'}"


class ImportRun(models.Model):
    """One import of orders (all, a date range or ids), with its progress and result."""

    store = models.ForeignKey("fulfillment.Store", on_delete=models.CASCADE, related_name="imports")
    mode = models.CharField(max_length=8, choices=ImportMode.choices)
    since = models.DateTimeField(null=True, blank=True)
    until = models.DateTimeField(null=True, blank=True)
    ids = models.JSONField(default=list, blank=True)
    requested_by = models.ForeignKey(settings.AUTH_USER_MODEL, null=True, blank=True, on_delete=models.SET_NULL)
    state = models.CharField(max_length=8, choices=RunState.choices, default=RunState.QUEUED)
    pages_done = models.PositiveIntegerField(default=0)
    pages_total = models.PositiveIntegerField(null=True, blank=True)
    orders_seen = models.PositiveIntegerField(default=0)
    created = models.PositiveIntegerField(default=0)
    updated = models.PositiveIntegerField(default=0)
    unchanged = models.PositiveIntegerField(default=0)
    failed = models.PositiveIntegerField(default=0)
    failures = models.JSONField(default=list, blank=True)  # [{"woo_id": .., "reason": ..}]
    error = models.TextField(blank=True)
    queued_at = models.DateTimeField(auto_now_add=True)
    started_at = models.DateTimeField(null=True, blank=True)
    finished_at = models.DateTimeField(null=True, blank=True)

    class Meta:
        verbose_name = _("import")
        verbose_name_plural = _("imports")
        ordering = ["-queued_at", "-id"]

    def __str__(self):
        return f"{self.get_mode_display()} · {self.store.slug}"


class StorePush(models.Model):
    """A change that must reach WooCommerce (the outbox): written with the local change, sent by a task."""

    store = models.ForeignKey("fulfillment.Store", on_delete=models.CASCADE, related_name="pushes")
    order = models.ForeignKey("fulfillment.Order", on_delete=models.CASCADE, related_name="pushes")
    kind = models.CharField(max_length=16, choices=PushKind.choices)
    payload = models.JSONField(default=dict)
    state = models.CharField(max_length=16, choices=PushState.choices, default=PushState.PENDING)
    attempts = models.PositiveIntegerField(default=0)
    next_attempt_at = models.DateTimeField()
    claimed_at = models.DateTimeField(null=True, blank=True)
    last_error = models.TextField(blank=True)
    response = models.JSONField(null=True, blank=True)
    created_by = models.ForeignKey(settings.AUTH_USER_MODEL, null=True, blank=True, on_delete=models.SET_NULL)
    created_at = models.DateTimeField(auto_now_add=True)
    sent_at = models.DateTimeField(null=True, blank=True)

    class Meta:
        verbose_name = _("push to WooCommerce")
        verbose_name_plural = _("pushes to WooCommerce")
        ordering = ["id"]
        indexes = [
            models.Index(fields=["state", "next_attempt_at"], name="push_due_idx"),
            models.Index(fields=["order", "id"], name="push_order_idx"),
        ]

    def __str__(self):
        return f"{self.get_kind_display()} → #{self.order.number}"
