from django.contrib import admin, messages
from django.core.exceptions import PermissionDenied
from django.shortcuts import redirect
from django.template.response import TemplateResponse
from django.urls import path, reverse
from django.utils.html import format_html
from django.utils.translation import gettext_lazy as _

from fulfillment.choices import ImportMode, SubmitStatus
from fulfillment.admin.order_page import OrderPageMixin
from fulfillment.forms import ImportForm
from fulfillment.money import format_money
from fulfillment.models import ImportRun, Order, OrderEvent, OrderLine, Refund, StorePush
from fulfillment.services.imports import ImportRequestError, import_request

STATUS_COLOURS = {
    "pending": "#777", "processing": "#2e7d32", "on-hold": "#ef6c00", "completed": "#1565c0",
    "cancelled": "#555", "refunded": "#6a1b9a", "failed": "#b71c1c", "trash": "#333",
}


class OrderLineInline(admin.TabularInline):
    model = OrderLine
    extra = 0
    can_delete = False
    fields = ("name", "sku", "variation", "quantity", "total", "total_tax", "project_ref")
    readonly_fields = fields

    def has_add_permission(self, request, obj=None):
        return False


class RefundInline(admin.TabularInline):
    model = Refund
    extra = 0
    can_delete = False
    fields = ("created_at", "amount", "reason", "woo_refund_id", "created_by")
    readonly_fields = fields

    def has_add_permission(self, request, obj=None):
        return False


class OrderEventInline(admin.TabularInline):
    model = OrderEvent
    extra = 0
    can_delete = False
    fields = ("created_at", "type", "source", "user", "message")
    readonly_fields = fields
    verbose_name_plural = _("timeline")

    def has_add_permission(self, request, obj=None):
        return False

    def get_queryset(self, request):
        return super().get_queryset(request).select_related("user")


class StorePushInline(admin.TabularInline):
    model = StorePush
    extra = 0
    can_delete = False
    fields = ("created_at", "kind", "state", "attempts", "next_attempt_at", "last_error")
    readonly_fields = fields

    def has_add_permission(self, request, obj=None):
        return False


@admin.register(Order)
class OrderAdmin(OrderPageMixin, admin.ModelAdmin):
    list_display = ("order_number", "status_badge", "customer", "total_payment", "item_count", "order_type",
                    "submit_badge", "store")
    list_filter = ("status", "order_type", "submit_status", "store", ("created_at", admin.DateFieldListFilter))
    search_fields = ("=number", "=woo_id", "customer_name", "=customer_email")
    list_select_related = ("store",)
    list_per_page = 100
    show_full_result_count = False
    date_hierarchy = None
    inlines = [OrderLineInline, RefundInline, OrderEventInline, StorePushInline]
    change_list_template = "admin/fulfillment/order/change_list.html"
    exclude = ("raw",)
    readonly_fields = [f.name for f in Order._meta.fields if f.name != "raw"]

    def has_add_permission(self, request):
        return False  # orders come from WooCommerce

    def has_delete_permission(self, request, obj=None):
        return False

    @admin.display(description=_("order"), ordering="-created_at")
    def order_number(self, order):
        return format_html("<strong>#{}</strong><br><small>{}</small>", order.number,
                           order.created_at.strftime("%Y-%m-%d %H:%M"))

    @admin.display(description=_("status"), ordering="status")
    def status_badge(self, order):
        colour = STATUS_COLOURS.get(order.status, "#00695c")
        return format_html('<span style="background:{};color:#fff;padding:2px 8px;border-radius:10px">{}</span>',
                           colour, order.status_label)

    @admin.display(description=_("customer"), ordering="customer_name")
    def customer(self, order):
        place = ", ".join(p for p in (order.city, order.state, order.country) if p)
        return format_html("{}<br><small>{}</small>", order.customer_name, place)

    @admin.display(description=_("total"), ordering="total")
    def total_payment(self, order):
        return format_html("{}<br><small>{}</small>", format_money(order.total, order.currency),
                           order.payment_method_title)

    @admin.display(description=_("submit status"), ordering="submit_status")
    def submit_badge(self, order):
        if order.submit_status == SubmitStatus.SUBMITTED:
            return format_html('<span style="color:#2e7d32">{}</span>', _("Submitted"))
        if order.submit_status == SubmitStatus.FAILED:
            return format_html('<span style="color:#b71c1c;cursor:help" title="{}">{}</span>', order.submit_error,
                               _("Failed"))
        return ""

    def get_urls(self):
        return [
            path("import/", self.admin_site.admin_view(self.import_view), name="fulfillment_order_import"),
        ] + super().get_urls()

    def changelist_view(self, request, extra_context=None):
        extra_context = {
            **(extra_context or {}),
            "can_import": request.user.has_perm("fulfillment.add_importrun"),
            "recent_imports": ImportRun.objects.select_related("store").order_by("-queued_at")[:3],
        }
        return super().changelist_view(request, extra_context)

    def import_view(self, request):
        if not request.user.has_perm("fulfillment.add_importrun"):
            raise PermissionDenied
        form = ImportForm(request.POST or None)
        if request.method == "POST" and form.is_valid():
            data = form.cleaned_data
            try:
                run = import_request(
                    store=data["store"], mode=data["mode"], user=request.user,
                    since=data.get("since") if data["mode"] == ImportMode.RANGE else None,
                    until=data.get("until") if data["mode"] == ImportMode.RANGE else None,
                    ids=data.get("id_list") if data["mode"] == ImportMode.IDS else None,
                )
            except ImportRequestError as exc:
                self.message_user(request, str(exc), messages.ERROR)
            else:
                self.message_user(request, _("Import queued: follow its progress below."), messages.SUCCESS)
                return redirect(reverse("admin:fulfillment_importrun_change", args=[run.pk]))
        context = {**self.admin_site.each_context(request), "title": _("Import orders"), "form": form,
                   "opts": self.model._meta}
        return TemplateResponse(request, "admin/fulfillment/order/import.html", context)
