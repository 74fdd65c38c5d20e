from django.conf import settings
from django.db import models
from django.utils.translation import gettext_lazy as _

from backoffice.encrypted import EncryptedCharField

from fulfillment.choices import ProviderKind, SubmissionState

LIVE_STATES = (SubmissionState.QUEUED, SubmissionState.SUBMITTING, SubmissionState.SUBMITTED)


class Provider(models.Model):
    """A fulfillment / print-on-demand provider as configured for one store."""

    store = models.ForeignKey("fulfillment.Store", on_delete=models.CASCADE, related_name="providers")
    name = models.CharField(_("name"), max_length=100)
    kind = models.CharField(_("kind"), max_length=16, choices=ProviderKind.choices)
    active = models.BooleanField(_("active"), default=True)
    priority = models.PositiveSmallIntegerField(
        _("priority"), default=100, help_text=_("When several providers make a product, the lowest number wins."))
    skus = models.TextField(
        _("SKUs it makes"), blank=True,
        help_text=_("One SKU or SKU prefix ending in * per line (e.g. MUG-*); a line with only * means every product."),
    )
    base_url = models.URLField(_("API base URL"), blank=True, help_text=_("e.g. https://api.printful.com"))
    credentials_env = models.CharField(
        _("environment variable with the API key"), max_length=100, blank=True,
        help_text=_("The key itself is never stored here: name the environment variable that holds it."),
    )
    confirm_orders = models.BooleanField(
        _("confirm orders at once"), default=True,
        help_text=_("Off: orders wait as drafts at the provider until confirmed there."))
    variant_map = models.JSONField(
        _("SKU → provider variant id"), default=dict, blank=True,
        help_text=_('{"MUG-11": 1320}; SKUs not listed are sent as external_variant_id.'),
    )
    folder = models.CharField(_("drop folder"), max_length=500, blank=True,
                              help_text=_("File-drop providers: where each order's ZIP is written."))
    # Encrypted at rest: the webhook finds the provider by its id and compares the token in Python.
    webhook_token = EncryptedCharField(
        _("webhook token"), max_length=100, blank=True,
        help_text=_("Secret part of this provider's webhook URL; empty: no webhook, shipments are polled."),
    )

    class Meta:
        verbose_name = _("provider")
        verbose_name_plural = _("providers")
        ordering = ["store", "priority", "name"]

    def __str__(self):
        return f"{self.name} ({self.store.slug})"

    def sku_rules(self):
        return [rule.strip() for rule in self.skus.splitlines() if rule.strip()]

    def makes(self, sku):
        for rule in self.sku_rules():
            if rule == "*" or rule == sku or (rule.endswith("*") and sku.startswith(rule[:-1])):
                return True
        return False


class Submission(models.Model):
    """One order sent to one provider. At most one live submission per order and provider (database rule)."""

    order = models.ForeignKey("fulfillment.Order", on_delete=models.PROTECT, related_name="submissions")
    provider = models.ForeignKey(Provider, on_delete=models.PROTECT, related_name="submissions")
    state = models.CharField(_("state"), max_length=16, choices=SubmissionState.choices,
                             default=SubmissionState.QUEUED)
    # What the provider knows the order by; a retry sends the same one, so the provider can refuse a second order.
    external_id = models.CharField(_("our id at the provider"), max_length=64)
    remote_id = models.CharField(_("provider's order id"), max_length=64, blank=True)
    attempts = models.PositiveIntegerField(default=0)
    next_attempt_at = models.DateTimeField(null=True, blank=True)
    claimed_at = models.DateTimeField(null=True, blank=True)
    # An attempt ended without knowing whether the provider made the order (timeout, worker killed): the next
    # attempt looks the order up by external id before sending anything.
    outcome_unknown = models.BooleanField(default=False)
    # The production tick's copies of its task since a worker last took it (services/submissions.py,
    # submissions_requeued): each waits twice as long as the one before, so a backlog is not queued again in full
    # every minute.
    requeues = models.PositiveIntegerField(default=0)
    requeue_after = models.DateTimeField(null=True, blank=True)
    failure_reason = models.TextField(_("failure reason"), blank=True)
    provider_response = models.JSONField(_("provider's answer"), null=True, blank=True)
    reprint_of = models.ForeignKey("self", null=True, blank=True, on_delete=models.PROTECT, related_name="reprints")
    reason = models.TextField(_("why"), blank=True)
    requested_by = models.ForeignKey(settings.AUTH_USER_MODEL, null=True, blank=True, on_delete=models.SET_NULL)
    created_at = models.DateTimeField(auto_now_add=True)
    submitted_at = models.DateTimeField(null=True, blank=True)

    class Meta:
        verbose_name = _("submission")
        verbose_name_plural = _("submissions")
        ordering = ["-created_at", "-id"]
        constraints = [
            models.UniqueConstraint(
                fields=["order", "provider"], condition=models.Q(state__in=LIVE_STATES),
                name="submission_one_live_per_order_provider",
            ),
            models.UniqueConstraint(fields=["provider", "external_id"], name="submission_unique_external_id"),
        ]
        indexes = [
            models.Index(fields=["state", "next_attempt_at"], name="submission_due_idx"),
            models.Index(fields=["provider", "state"], name="submission_provider_state_idx"),
        ]

    def __str__(self):
        return f"#{self.order.number} → {self.provider.name}"
