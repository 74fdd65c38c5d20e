from django import forms
from django.contrib import admin, messages
from django.urls import reverse
from django.utils.html import format_html
from django.utils.translation import gettext_lazy as _, ngettext

from accounting.choices import ExportState
from accounting.forms import StatusListField
from accounting.models import AccountingExport, ExportRule
from accounting.services.exports import exports_export_now
from backoffice.list_tools import StoreFilter
from fulfillment.choices import status_label

STATE_COLOURS = {ExportState.OPEN: "#ef6c00", ExportState.EXPORTED: "#2e7d32", ExportState.FAILED: "#b71c1c"}
MESSAGES_SHOWN = 10  # one message per order up to this many; the rest are counted


class ExportRuleForm(forms.ModelForm):
    statuses = StatusListField(
        label=_("statuses that export the order"),
        help_text=_("Comma-separated WooCommerce status slugs, e.g. completed, or a custom status of the shop."),
    )

    class Meta:
        model = ExportRule
        fields = ("store", "enabled", "statuses", "connector", "directory")


@admin.register(ExportRule)
class ExportRuleAdmin(admin.ModelAdmin):
    form = ExportRuleForm
    list_display = ("store", "enabled", "status_list", "connector", "directory")
    list_filter = ("enabled", "connector")
    list_select_related = ("store",)

    @admin.display(description=_("statuses that export the order"))
    def status_list(self, rule):
        return ", ".join(str(status_label(s)) for s in rule.statuses)


@admin.register(AccountingExport)
class AccountingExportAdmin(admin.ModelAdmin):
    list_display = ("order_link", "store", "state_badge", "error_short", "attempts", "exported_at", "reference")
    list_filter = ("state", ("store", StoreFilter), "order__trashed")
    search_fields = ("=order__number",)
    search_help_text = _("Order number")
    list_select_related = ("store", "order")
    readonly_fields = ("order", "store", "state", "error", "attempts", "reference", "created_at", "exported_at",
                       "updated_at")
    show_full_result_count = False
    actions = ["export_now"]

    def has_add_permission(self, request):
        return False  # opened by the mirror and the nightly job

    def has_change_permission(self, request, obj=None):
        return False  # read-only: the action below is the only change staff make

    def has_delete_permission(self, request, obj=None):
        return False

    def has_export_permission(self, request):
        return request.user.has_perm("accounting.change_accountingexport")

    @admin.display(description=_("order"), ordering="order__created_at")
    def order_link(self, export):
        return format_html('<a href="{}">#{}</a>', reverse("admin:fulfillment_order_change", args=[export.order_id]),
                           export.order.number)

    @admin.display(description=_("state"), ordering="state")
    def state_badge(self, export):
        return format_html(
            '<span style="background:{};color:#fff;padding:2px 10px;border-radius:10px;font-size:.8rem;'
            'font-weight:600;white-space:nowrap">{}</span>',
            STATE_COLOURS.get(export.state, "#6d6d6d"), export.get_state_display())

    @admin.display(description=_("error"))
    def error_short(self, export):
        return format_html('<span title="{}">{}</span>', export.error, export.error[:100])

    @admin.action(description=_("Export now / retry"), permissions=["export"])
    def export_now(self, request, queryset):
        outcome = exports_export_now(exports=queryset.select_related("order__store__export_rule"),
                                     user=request.user)
        if outcome.exported:
            n = len(outcome.exported)
            self.message_user(request, ngettext("%(n)d order exported.", "%(n)d orders exported.", n) % {"n": n},
                              messages.SUCCESS)
        for export in outcome.failed[:MESSAGES_SHOWN]:
            self.message_user(request, f"#{export.order.number}: {export.error}", messages.ERROR)
        for export, reason in outcome.not_due[:MESSAGES_SHOWN]:
            self.message_user(request, _("#%(number)s not exported: %(reason)s") % {
                "number": export.order.number, "reason": reason}, messages.WARNING)
        hidden = max(len(outcome.failed) - MESSAGES_SHOWN, 0) + max(len(outcome.not_due) - MESSAGES_SHOWN, 0)
        if hidden:
            self.message_user(request, ngettext("%(n)d more order not exported.", "%(n)d more orders not exported.",
                                                hidden) % {"n": hidden}, messages.WARNING)

# Invoices, credit notes and their rules: their own module (imported here, where the admin looks).
from accounting import admin_invoices  # noqa: E402,F401
