from django import forms
from django.contrib import admin, messages
from django.utils.html import format_html
from django.utils.translation import gettext_lazy as _, ngettext

from fulfillment.admin.secret_fields import SecretsAdminMixin, WriteOnlySecretsForm
from fulfillment.models import Provider, Submission
from fulfillment.services.submissions import SubmissionError, submission_cancel, submission_retry


class ProviderForm(WriteOnlySecretsForm):
    """The webhook token is write-only; it may be removed (the provider's shipments are then polled)."""

    secret_fields = ("webhook_token",)
    webhook_token_clear = forms.BooleanField(label=_("remove the stored token"), required=False)

    class Meta:
        model = Provider
        fields = "__all__"


@admin.register(Provider)
class ProviderAdmin(SecretsAdminMixin, admin.ModelAdmin):
    form = ProviderForm
    list_display = ("name", "store", "kind", "active", "priority", "sku_summary", "webhook")
    list_filter = ("store", "kind", "active")
    search_fields = ("name", "skus")
    list_select_related = ("store",)
    readonly_fields = ("webhook_url",)
    fieldsets = (
        (None, {"fields": ("store", "name", "kind", "active", "priority", "skus")}),
        (_("API"), {"fields": ("base_url", "credentials_env", "confirm_orders", "variant_map")}),
        (_("File drop"), {"fields": ("folder",)}),
        (_("Tracking"), {"fields": ("webhook_token", "webhook_token_clear", "webhook_url")}),
    )

    @admin.display(description=_("SKUs"))
    def sku_summary(self, provider):
        rules = provider.sku_rules()
        return ", ".join(rules[:5]) + ("…" if len(rules) > 5 else "")

    @admin.display(description=_("webhook"), boolean=True)
    def webhook(self, provider):
        return bool(provider.webhook_token)

    @admin.display(description=_("webhook URL to give the provider"))
    def webhook_url(self, provider):
        if not provider.pk or not provider.webhook_token:
            return _("Set a token and save: shipments are polled until then.")
        # The token is write-only: whoever set it gives it to the provider.
        return _("/webhooks/providers/%(id)s/ followed by the token and a slash (the token is not shown again)") % {
            "id": provider.pk}


@admin.register(Submission)
class SubmissionAdmin(admin.ModelAdmin):
    list_display = ("created_at", "order_link", "provider", "state", "external_id", "remote_id", "attempts",
                    "failure_reason_short", "reprint_of", "requested_by")
    list_filter = ("state", "provider__store", "provider")
    search_fields = ("=external_id", "=remote_id", "=order__number")
    list_select_related = ("order", "provider", "requested_by", "reprint_of")
    readonly_fields = [f.name for f in Submission._meta.fields]
    actions = ["retry_selected", "cancel_selected"]
    show_full_result_count = False

    def has_add_permission(self, request):
        return False

    def has_change_permission(self, request, obj=None):
        return False

    def has_delete_permission(self, request, obj=None):
        return False

    @admin.display(description=_("order"), ordering="order__created_at")
    def order_link(self, submission):
        return format_html('<a href="../order/{}/change/">#{}</a>', submission.order_id, submission.order.number)

    @admin.display(description=_("failure reason"))
    def failure_reason_short(self, submission):
        return format_html('<span title="{}">{}</span>', submission.failure_reason, submission.failure_reason[:80])

    def _each(self, request, queryset, service, done_message):
        done = 0
        for submission in queryset:
            try:
                service(submission=submission, user=request.user)
                done += 1
            except SubmissionError as exc:
                self.message_user(request, f"#{submission.order.number}: {exc}", messages.ERROR)
        if done:
            self.message_user(request, done_message(done), messages.SUCCESS)

    @admin.action(description=_("Retry the selected failed submissions"), permissions=["submit"])
    def retry_selected(self, request, queryset):
        self._each(request, queryset, submission_retry,
                   lambda n: ngettext("%d submission queued again.", "%d submissions queued again.", n) % n)

    @admin.action(description=_("Cancel the selected submissions (at the provider too)"), permissions=["submit"])
    def cancel_selected(self, request, queryset):
        self._each(request, queryset, submission_cancel,
                   lambda n: ngettext("%d submission cancelled.", "%d submissions cancelled.", n) % n)

    def has_submit_permission(self, request):
        return request.user.has_perm("fulfillment.submit_order")
