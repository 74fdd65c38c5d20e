from datetime import timedelta
from zoneinfo import available_timezones

from django.conf import settings
from django.core.exceptions import ValidationError
from django.core.validators import MaxValueValidator, MinValueValidator, RegexValidator
from django.db import models
from django.utils import timezone
from django.utils.translation import gettext_lazy as _, ngettext

from backoffice.encrypted import EncryptedCharField

secret_validator = RegexValidator(
    r"^[A-Za-z0-9_\-]*$",
    _("Use letters, digits, '-' and '_' only (WooCommerce cannot read a webhook secret back)."),
)


def validate_timezone(value):
    if value not in available_timezones():
        raise ValidationError(_("%(value)s is not a known timezone (e.g. Europe/Amsterdam)."), params={"value": value})


MAX_SYNC_FAILURES_KEPT = 200


class Store(models.Model):
    """One WooCommerce shop mirrored by the back-office."""

    slug = models.SlugField(_("slug"), unique=True, max_length=50)
    name = models.CharField(_("name"), max_length=200)
    base_url = models.URLField(_("shop URL"), help_text=_("The shop's home URL, e.g. https://shop.example.com"))
    # Encrypted at rest (FIELD_ENCRYPTION_KEYS): the REST key reads and writes every order of the shop.
    consumer_key = EncryptedCharField(_("REST consumer key"), max_length=200)
    consumer_secret = EncryptedCharField(_("REST consumer secret"), max_length=200)
    webhook_secret = EncryptedCharField(_("webhook secret"), max_length=200, validators=[secret_validator])
    # Some hosts strip the Authorization header, so HTTP Basic auth over https arrives anonymous; WooCommerce then
    # also reads the keys from the query string (they end up in the host's access log: only when needed).
    query_string_auth = models.BooleanField(
        _("send the keys in the query string"), default=False,
        help_text=_("Only for https shops whose host strips the Authorization header (every request is refused "
                    "with 401 woocommerce_rest_cannot_view although the keys are right)."),
    )
    # Pages of orders asked for at once by imports and the reconcile: a shop serves several requests side by side
    # (PHP-FPM workers), and one page after the other leaves us waiting on it. Throttling (429/503) lowers it for
    # the rest of the run.
    fetch_concurrency = models.PositiveSmallIntegerField(
        _("pages read at once"), default=6, validators=[MinValueValidator(1), MaxValueValidator(16)],
        help_text=_("Requests for pages of orders sent to the shop at the same time by imports and the sync. 6 suits "
                    "a typical host; lower it for a small one (it slows down by itself when the shop answers 429 or "
                    "503)."),
    )
    timezone = models.CharField(_("shop timezone"), max_length=64, default="UTC", validators=[validate_timezone])
    currency = models.CharField(_("currency"), max_length=3, default="EUR")
    language = models.CharField(
        _("shop language"), max_length=8, choices=settings.LANGUAGES, default="en",
        help_text=_("What the shop's customers read: texts the back-office writes to them (tracking notes) use it, "
                    "whatever the language of the staff member."),
    )

    # Reconcile bookkeeping: orders modified after the watermark are asked for on the next run.
    sync_watermark = models.DateTimeField(_("sync watermark"), null=True, blank=True)
    last_sync_at = models.DateTimeField(_("last successful sync"), null=True, blank=True)
    last_sync_error = models.TextField(_("last sync error"), blank=True)
    sync_failing_since = models.DateTimeField(_("sync failing since"), null=True, blank=True)
    last_webhook_at = models.DateTimeField(_("last webhook received"), null=True, blank=True)
    # Orders a sync read but could not mirror, until one is mirrored: [{"woo_id", "reason", "at"}] (the newest
    # MAX_SYNC_FAILURES_KEPT). The watermark moves past them, so without this they would only be in the log.
    last_sync_failures = models.JSONField(_("orders the syncs could not mirror"), default=list, blank=True)
    # Outbox bookkeeping: WooCommerce refused our key (401/403); the store's pushes wait, and are tried again
    # (the first one only) from push_auth_retry_at.
    push_auth_error = models.TextField(_("WooCommerce refused our key"), blank=True)
    push_auth_failing_since = models.DateTimeField(_("key refused since"), null=True, blank=True)
    push_auth_retry_at = models.DateTimeField(_("key tried again at"), null=True, blank=True)
    silence_alert_minutes = models.PositiveIntegerField(
        _("warn after minutes without news"),
        default=24 * 60,
        help_text=_("Warn when no webhook arrived and no sync succeeded for this long."),
    )

    # Order desk settings.
    allow_gateway_refunds = models.BooleanField(
        _("allow refunds through the payment gateway"), default=False,
        help_text=_("Off: refunds are recorded in WooCommerce only (api_refund false); the money is returned by hand."),
    )
    has_shipment_tracking = models.BooleanField(
        _("shop has the Shipment Tracking extension"), default=False,
        help_text=_("On: tracking numbers are also sent as shipment-tracking items (wc-shipment-tracking/v3)."),
    )
    auto_submit_minutes = models.PositiveIntegerField(
        _("automatic submission after (minutes)"), default=0,
        help_text=_("In-app orders are submitted this long after they reach processing; 0: manual only."),
    )
    complete_when_shipped = models.BooleanField(
        _("complete the order when everything has shipped"), default=True,
    )

    created_at = models.DateTimeField(auto_now_add=True)
    updated_at = models.DateTimeField(auto_now=True)

    class Meta:
        ordering = ["name"]
        verbose_name = _("store")
        verbose_name_plural = _("stores")

    def __str__(self):
        return self.name

    def __repr__(self):
        # Never the secrets: reprs end up in logs and tracebacks.
        return f"<Store {self.slug} {self.base_url}>"

    def woo_order_admin_url(self, woo_id):
        """The order's edit page in the shop's WordPress admin."""
        # The classic URL, whatever the shop's order storage: with HPOS (the new order tables) on, WooCommerce
        # answers it with a redirect to admin.php?page=wc-orders&action=edit&id=… (PostsRedirectionController).
        # The HPOS URL does not work the other way: with HPOS off, WordPress has no wc-orders page and refuses it.
        return f"{self.base_url.rstrip('/')}/wp-admin/post.php?post={int(woo_id)}&action=edit"

    def woo_product_url(self, product_id):
        """A product's page in the shop: WordPress redirects ?p=<id> to its permalink."""
        return f"{self.base_url.rstrip('/')}/?p={int(product_id)}"
    def key_refused_warning(self):
        """Why the store's pushes wait (WooCommerce refused our REST key), or "" when they do not."""
        if not self.push_auth_error:
            return ""
        return _("WooCommerce refused our key: %(error)s (since %(since)s). Changes for WooCommerce wait until the "
                 "key works again: check the REST API key in the shop and in this store's settings.") % {
            "error": self.push_auth_error[:200],
            "since": timezone.localtime(self.push_auth_failing_since or timezone.now()).strftime("%Y-%m-%d %H:%M"),
        }

    def health_warnings(self, now=None):
        """Reasons staff should look at this store's sync, in their words (empty when healthy)."""
        now = now or timezone.now()
        warnings = [self.key_refused_warning()] if self.push_auth_error else []
        limit = timedelta(minutes=self.silence_alert_minutes)
        if self.sync_failing_since and now - self.sync_failing_since > timedelta(minutes=30):
            warnings.append(_("Sync failing since %(since)s: %(error)s") % {
                "since": timezone.localtime(self.sync_failing_since).strftime("%Y-%m-%d %H:%M"),
                "error": self.last_sync_error[:200],
            })
        last_news = max([d for d in (self.last_webhook_at, self.last_sync_at) if d], default=None)
        if self.last_webhook_at is None or now - self.last_webhook_at > limit:
            if last_news is None or now - last_news > limit:
                warnings.append(_("No webhook and no successful sync for more than %(hours)s h.") % {
                    "hours": round(self.silence_alert_minutes / 60, 1),
                })
            else:
                warnings.append(_("No webhook for more than %(hours)s h: check the shop's webhooks "
                                  "(WooCommerce disables them silently after repeated failures).") % {
                    "hours": round(self.silence_alert_minutes / 60, 1),
                })
        if self.last_sync_failures:
            warnings.append(ngettext(
                "%(count)d order could not be mirrored by the sync (listed on the store's page).",
                "%(count)d orders could not be mirrored by the sync (listed on the store's page).",
                len(self.last_sync_failures),
            ) % {"count": len(self.last_sync_failures)})
        return warnings
