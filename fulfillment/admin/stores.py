from datetime import datetime

from django.contrib import admin
from django.db.models import Count, Q
from django.utils import timezone
from django.utils.html import format_html, format_html_join
from django.utils.translation import gettext_lazy as _

from fulfillment.choices import PushState
from fulfillment.admin.secret_fields import SecretsAdminMixin, WriteOnlySecretsForm
from fulfillment.models import Store
from fulfillment.services.outbox import store_keys_changed

SECRET_FIELDS = ("consumer_key", "consumer_secret", "webhook_secret")
KEY_FIELDS = ("base_url", "consumer_key", "consumer_secret")


class StoreForm(WriteOnlySecretsForm):
    """Secrets are write-only: the form never sends them to the browser; blank keeps the stored value."""

    secret_fields = SECRET_FIELDS

    class Meta:
        model = Store
        fields = "__all__"


@admin.register(Store)
class StoreAdmin(SecretsAdminMixin, admin.ModelAdmin):
    form = StoreForm
    list_display = ("name", "slug", "base_url", "last_sync_at", "last_webhook_at", "failing_pushes", "health")
    search_fields = ("name", "slug", "base_url")
    readonly_fields = ("sync_watermark", "last_sync_at", "last_sync_error", "sync_failing_since", "last_webhook_at",
                       "webhook_url", "health", "sync_failures", "push_auth_error", "push_auth_failing_since",
                       "push_auth_retry_at")
    fieldsets = (
        (None, {"fields": ("name", "slug", "base_url", "timezone", "currency", "language")}),
        (_("WooCommerce keys"), {"fields": (*SECRET_FIELDS, "query_string_auth")}),
        (_("Order desk"), {"fields": ("auto_submit_minutes", "complete_when_shipped", "has_shipment_tracking",
                                      "allow_gateway_refunds")}),
        (_("Sync"), {"fields": ("webhook_url", "fetch_concurrency", "silence_alert_minutes", "health", "last_webhook_at", "last_sync_at",
                                "sync_watermark", "last_sync_error", "sync_failing_since", "sync_failures")}),
        (_("Pushes to WooCommerce"), {"fields": ("push_auth_error", "push_auth_failing_since", "push_auth_retry_at")}),
    )

    def save_model(self, request, obj, form, change):
        stored = Store.objects.filter(pk=obj.pk).values(*KEY_FIELDS).first() if change else None
        super().save_model(request, obj, form, change)
        if stored and any(stored[name] != getattr(obj, name) for name in KEY_FIELDS):
            # Pushes held back by a refused key go at once, not at the next planned try.
            store_keys_changed(store=obj)

    def get_queryset(self, request):
        return super().get_queryset(request).annotate(
            failing_push_count=Count("pushes", filter=Q(pushes__state__in=[PushState.FAILED, PushState.RETRYING]))
        )

    @admin.display(description=_("failing pushes"), ordering="failing_push_count")
    def failing_pushes(self, store):
        return store.failing_push_count

    @admin.display(description=_("health"))
    def health(self, store):
        warnings = store.health_warnings(timezone.now())
        if not warnings:
            return format_html('<span style="color:#2e7d32">✔ {}</span>', _("OK"))
        return format_html_join("", '<div style="color:#b71c1c">⚠ {}</div>', ((w,) for w in warnings))

    @admin.display(description=_("orders the syncs could not mirror"))
    def sync_failures(self, store):
        if not store.last_sync_failures:
            return "—"
        rows = format_html_join(
            "", "<tr><td>{}</td><td>{}</td><td>{}</td></tr>",
            ((f.get("woo_id") if f.get("woo_id") is not None else "?", f.get("reason", ""), _when(f.get("at")))
             for f in reversed(store.last_sync_failures)),
        )
        return format_html(
            '<table class="sync-failures"><thead><tr><th>{}</th><th>{}</th><th>{}</th></tr></thead>'
            "<tbody>{}</tbody></table><p class=\"help\">{}</p>",
            _("WooCommerce id"), _("reason"), _("sync of"), rows,
            _("Each stays listed until a later version of the order is mirrored (sync, webhook or import)."),
        )

    @admin.display(description=_("webhook delivery URL"))
    def webhook_url(self, store):
        return f"/webhooks/woocommerce/{store.slug}/" if store.slug else "—"


def _when(text):
    try:
        return timezone.localtime(datetime.fromisoformat(text)).strftime("%Y-%m-%d %H:%M")
    except (TypeError, ValueError):
        return "—"
