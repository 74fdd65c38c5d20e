from django.conf import settings
from django.db import models
from django.utils import timezone
from django.utils.translation import gettext_lazy as _, pgettext_lazy

from fulfillment.choices import DeliveryState, ImportMode, PushKind, PushState, RunState


class WebhookDelivery(models.Model):
    """A webhook delivery as received, stored before it is applied (nothing is lost)."""

    store = models.ForeignKey("fulfillment.Store", on_delete=models.CASCADE, related_name="deliveries",
                              verbose_name=_("store"))
    received_at = models.DateTimeField(_("received"), auto_now_add=True)
    topic = models.CharField(_("topic"), max_length=64, blank=True)
    webhook_id = models.CharField(_("webhook id"), max_length=32, blank=True)
    delivery_id = models.CharField(_("delivery id"), max_length=64, blank=True)
    body = models.TextField(_("body"), blank=True)
    # WooCommerce's delivery id is not guaranteed unique; the body's hash is what makes a repeat a repeat.
    body_sha256 = models.CharField(_("body SHA-256"), max_length=64)
    woo_id = models.BigIntegerField(_("WooCommerce order id"), null=True, blank=True)
    state = models.CharField(pgettext_lazy("processing state", "state"), max_length=16, choices=DeliveryState.choices,
                             default=DeliveryState.RECEIVED)
    error = models.TextField(_("error"), blank=True)
    applied_at = models.DateTimeField(_("applied"), null=True, blank=True)
    repeats = models.PositiveIntegerField(_("repeats"), default=0)
    # The watchdog's copies of its task (services/webhooks.deliveries_requeue_lost): how many, and when it may queue
    # another one; each waits twice as long as the one before, so a backlog longer than WEBHOOK_REQUEUE_MINUTES is
    # not queued again in full at every run.
    requeues = models.PositiveIntegerField(default=0)
    requeue_after = models.DateTimeField(null=True, blank=True)

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

    store = models.ForeignKey("fulfillment.Store", on_delete=models.CASCADE, related_name="imports",
                              verbose_name=_("store"))
    mode = models.CharField(_("import"), max_length=8, choices=ImportMode.choices)
    since = models.DateTimeField(_("from"), null=True, blank=True)
    until = models.DateTimeField(_("to"), null=True, blank=True)
    ids = models.JSONField(_("order ids"), default=list, blank=True)
    requested_by = models.ForeignKey(settings.AUTH_USER_MODEL, null=True, blank=True, on_delete=models.SET_NULL,
                                     verbose_name=_("requested by"))
    state = models.CharField(pgettext_lazy("processing state", "state"), max_length=8, choices=RunState.choices,
                             default=RunState.QUEUED)
    pages_done = models.PositiveIntegerField(_("pages done"), default=0)
    pages_total = models.PositiveIntegerField(_("pages in total"), null=True, blank=True)
    orders_seen = models.PositiveIntegerField(_("orders read"), default=0)
    # The highest order id of the pages written (they are written in order): a resumed import checks against it
    # that the shop's pages did not shift meanwhile (orders deleted) before it starts after page `pages_done`.
    last_woo_id = models.BigIntegerField(_("last order id written"), null=True, blank=True)
    created = models.PositiveIntegerField(pgettext_lazy("number of orders", "created"), default=0)
    updated = models.PositiveIntegerField(pgettext_lazy("number of orders", "updated"), default=0)
    unchanged = models.PositiveIntegerField(pgettext_lazy("number of orders", "unchanged"), default=0)
    failed = models.PositiveIntegerField(pgettext_lazy("number of orders", "failed"), default=0)
    failures = models.JSONField(_("failures"), default=list, blank=True)  # [{"woo_id": .., "reason": ..}]
    error = models.TextField(_("error"), blank=True)
    queued_at = models.DateTimeField(_("queued"), auto_now_add=True)
    started_at = models.DateTimeField(_("started"), null=True, blank=True)
    # Moves with every page written: a running import whose progress stands still has lost its worker.
    progress_at = models.DateTimeField(_("last progress"), null=True, blank=True)
    finished_at = models.DateTimeField(_("finished"), null=True, blank=True)

    class Meta:
        verbose_name = _("import")
        verbose_name_plural = _("imports")
        ordering = ["-queued_at", "-id"]

    def __str__(self):
        return f"{self.get_mode_display()} · {self.store.slug}"


class StorePush(models.Model):
    """A change that must reach WooCommerce (the outbox): written with the local change, sent by a task."""

    store = models.ForeignKey("fulfillment.Store", on_delete=models.CASCADE, related_name="pushes",
                              verbose_name=_("store"))
    order = models.ForeignKey("fulfillment.Order", on_delete=models.CASCADE, related_name="pushes",
                              verbose_name=_("order"))
    kind = models.CharField(_("type"), max_length=16, choices=PushKind.choices)
    payload = models.JSONField(_("payload"), default=dict)
    state = models.CharField(pgettext_lazy("processing state", "state"), max_length=16, choices=PushState.choices,
                             default=PushState.PENDING)
    attempts = models.PositiveIntegerField(_("attempts"), default=0)
    # Attempts since it was queued (or queued again by staff): the dispatcher gives up after enough of them.
    auto_attempts = models.PositiveIntegerField(_("attempts since queued"), default=0)
    queued_at = models.DateTimeField(_("queued"), default=timezone.now)
    # An earlier attempt may have reached WooCommerce (a timeout, a worker that died): look before sending again.
    maybe_sent = models.BooleanField(_("may have reached WooCommerce"), default=False)
    superseded_by = models.ForeignKey("self", null=True, blank=True, on_delete=models.SET_NULL, related_name="+",
                                      verbose_name=_("superseded by"))
    next_attempt_at = models.DateTimeField(_("next attempt"))
    claimed_at = models.DateTimeField(_("claimed"), null=True, blank=True)
    last_error = models.TextField(_("last error"), blank=True)
    response = models.JSONField(_("WooCommerce's answer"), null=True, blank=True)
    created_by = models.ForeignKey(settings.AUTH_USER_MODEL, null=True, blank=True, on_delete=models.SET_NULL,
                                   verbose_name=_("created by"))
    created_at = models.DateTimeField(_("created"), auto_now_add=True)
    sent_at = models.DateTimeField(_("sent"), null=True, blank=True)

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
