"""Suppliers, their catalogue, the reservations screen and the growing-order page (staff's view of dropshipping)."""

from django.contrib import admin, messages
from django.core.exceptions import PermissionDenied
from django.db.models import Q
from django.shortcuts import get_object_or_404, redirect
from django.template.response import TemplateResponse
from django.urls import path, reverse
from django.utils.html import format_html
from django.utils.translation import gettext as _t
from django.utils.translation import gettext_lazy as _, ngettext

from backoffice.list_tools import CappedCountPaginator, FastActionCheckbox, pk_url
from fulfillment.admin.secret_fields import SecretsAdminMixin, WriteOnlySecretsForm
from fulfillment.choices import OrderStatus, ReservationSync, choice_label
from fulfillment.integrations.rewix import SupplierError
from fulfillment.models import Order, Reservation, Store, Supplier, SupplierProduct
from fulfillment.selectors.reservations import growing_order_comparison
from fulfillment.services.reservations import reservation_release, reservation_retry
from fulfillment.services.supplier_poll import supplier_refresh
from fulfillment.services.supplier_sync import growing_order_refresh, supplier_sync


class SupplierForm(WriteOnlySecretsForm):
    """The supplier's API key is write-only (its password stays in the environment)."""

    secret_fields = ("api_user",)

    class Meta:
        model = Supplier
        fields = "__all__"


@admin.register(Supplier)
class SupplierAdmin(SecretsAdminMixin, admin.ModelAdmin):
    form = SupplierForm
    list_display = ("name", "store", "active", "growing_order_link", "growing_read_at", "differs_since",
                    "last_error_short")
    list_filter = ("store", "active")
    search_fields = ("name",)
    list_select_related = ("store",)
    actions = ["sync_selected"]
    readonly_fields = ("growing_order_id", "growing_read_at", "differs_since", "catalogue_synced_at",
                       "statuses_polled_at", "last_error")
    fieldsets = (
        (None, {"fields": ("store", "name", "active", "reserving_statuses", "alarm_after_minutes")}),
        (_("Platform"), {"fields": ("base_url", "platform_url", "auth", "api_user", "credentials_env")}),
        (_("Last sync"), {"fields": readonly_fields}),
    )

    @admin.action(description=_("Sync now: catalogue, growing order, placing, statuses"), permissions=["manage"])
    def sync_selected(self, request, queryset):
        for supplier in queryset.select_related("store"):
            report, changed = supplier_refresh(supplier=supplier, catalogue=True)
            level = messages.ERROR if report.error or report.busy else messages.SUCCESS
            self.message_user(request, ngettext("%(summary)s; %(n)s status changed", "%(summary)s; %(n)s statuses "
                                                "changed", changed) % {"summary": report.summary(), "n": changed},
                              level)

    def has_manage_permission(self, request):
        return request.user.has_perm("fulfillment.manage_reservations")

    @admin.display(description=_("growing order"))
    def growing_order_link(self, supplier):
        return format_html('<a href="{}">{}</a>', reverse("admin:fulfillment_supplier_growing", args=[supplier.pk]),
                           _t("Compare with the shop"))

    @admin.display(description=_("last error"))
    def last_error_short(self, supplier):
        return format_html('<span title="{}">{}</span>', supplier.last_error, supplier.last_error[:60])

    def get_urls(self):
        return [
            path("<int:pk>/growing-order/", self.admin_site.admin_view(self.growing_order_view),
                 name="fulfillment_supplier_growing"),
        ] + super().get_urls()

    def growing_order_view(self, request, pk):
        if not request.user.has_perm("fulfillment.view_reservation"):
            raise PermissionDenied
        supplier = get_object_or_404(Supplier.objects.select_related("store"), pk=pk)
        report = None
        if request.method == "POST":
            if not request.user.has_perm("fulfillment.manage_reservations"):
                raise PermissionDenied
            try:
                if request.POST.get("action") == "align":
                    report = supplier_sync(supplier_id=supplier.pk)
                    level = messages.ERROR if report.error or report.busy else messages.SUCCESS
                    self.message_user(request, report.summary(), level)
                else:
                    growing_order_refresh(supplier=supplier)
                    self.message_user(request, _t("The growing order was read again from %(supplier)s.")
                                      % {"supplier": supplier.name}, messages.SUCCESS)
            except SupplierError as exc:
                self.message_user(request, str(exc), messages.ERROR)
            if report is None or not report.operations:
                return redirect(request.path)
            supplier.refresh_from_db()
        comparison = growing_order_comparison(supplier)
        context = {**self.admin_site.each_context(request), "opts": self.model._meta, "supplier": supplier,
                   "title": _t("Growing order at %(supplier)s") % {"supplier": supplier.name},
                   "comparison": comparison, "report": report,
                   "can_manage": request.user.has_perm("fulfillment.manage_reservations"),
                   "reservations_url": reverse("admin:fulfillment_reservation_changelist")}
        return TemplateResponse(request, "admin/fulfillment/supplier/growing_order.html", context)


@admin.register(SupplierProduct)
class SupplierProductAdmin(admin.ModelAdmin):
    list_display = ("stock_id", "code", "name", "size", "color", "barcode", "availability", "in_catalogue",
                    "shop_sku")
    list_editable = ("shop_sku",)
    list_filter = ("supplier", "in_catalogue")
    search_fields = ("=stock_id", "code", "=barcode", "shop_sku", "name")
    list_select_related = ("supplier",)
    readonly_fields = ("supplier", "stock_id", "product_id", "name", "size", "color", "code", "barcode",
                       "availability", "in_catalogue", "updated_at")
    fields = readonly_fields + ("shop_sku",)

    def has_add_permission(self, request):
        return False


class OrderStatusFilter(admin.SimpleListFilter):
    """The order's status, from the fixed list (no DISTINCT over the orders table)."""

    title = _("order status")
    parameter_name = "order_status"

    def lookups(self, request, model_admin):
        return [(value, label) for value, label in OrderStatus.choices if value not in ("checkout-draft", "trash")]

    def queryset(self, request, queryset):
        return queryset.filter(order__status=self.value()) if self.value() else queryset


class SupplierFilter(admin.SimpleListFilter):
    """The suppliers with their stores in one query (RelatedFieldListFilter read each supplier's store apart)."""

    title = _("supplier")
    parameter_name = "supplier__id__exact"

    def lookups(self, request, model_admin):
        return [(str(s.pk), str(s)) for s in Supplier.objects.select_related("store").order_by("name", "pk")]

    def queryset(self, request, queryset):
        return queryset.filter(supplier_id=self.value()) if self.value() else queryset


class SupplierStoreFilter(admin.SimpleListFilter):
    """The stores that have a supplier, read from the suppliers (not a DISTINCT over every reservation)."""

    title = _("store")
    parameter_name = "store"

    def lookups(self, request, model_admin):
        return [(str(pk), name) for pk, name in
                Store.objects.filter(pk__in=Supplier.objects.values("store_id")).order_by("name")
                .values_list("pk", "name")]

    def queryset(self, request, queryset):
        return queryset.filter(supplier__store_id=self.value()) if self.value() else queryset


@admin.register(Reservation)
class ReservationAdmin(FastActionCheckbox, admin.ModelAdmin):
    list_display = ("remote_id", "woo_id", "product", "quantity", "status", "sync_column", "order_column",
                    "order_status")
    list_filter = (SupplierFilter, SupplierStoreFilter, "status", "sync", OrderStatusFilter)
    search_fields = ("=order__number", "=stock_id", "=sku")
    search_help_text = _("Order number, remote id or SKU (exact)")
    list_select_related = ("order", "supplier")
    list_per_page = 100
    paginator = CappedCountPaginator
    show_full_result_count = False
    actions = ["retry_selected", "release_selected"]
    readonly_fields = [f.name for f in Reservation._meta.fields]

    def has_add_permission(self, request):
        return False

    def has_change_permission(self, request, obj=None):
        return False

    def has_delete_permission(self, request, obj=None):
        return False

    def has_manage_permission(self, request):
        return request.user.has_perm("fulfillment.manage_reservations")

    def get_search_results(self, request, queryset, search_term):
        # Exact and indexed: Django's "=" is iexact (UPPER(...) = UPPER(term)), which no index serves, and its OR
        # across the order and the reservation joined and scanned both tables for every search.
        term = search_term.strip().lstrip("#")
        if not term:
            return queryset, False
        orders = Order.objects.filter(number=term).values("pk")
        return queryset.filter(Q(stock_id=term) | Q(sku=term) | Q(order_id__in=orders)), False

    @admin.display(description=_("remote id"), ordering="stock_id")
    def remote_id(self, reservation):
        return reservation.stock_id

    @admin.display(description=_("WooCommerce id"))
    def woo_id(self, reservation):
        url = pk_url("admin:fulfillment_order_change", reservation.order_id)
        return format_html('{} <a href="{}">{}</a>', reservation.woo_product_id, url, _t("View"))

    @admin.display(description=_("product"))
    def product(self, reservation):
        return format_html("{} <span class=\"quiet\">{}</span>", reservation.name, reservation.size)

    @admin.display(description=_("sync status"), ordering="sync")
    def sync_column(self, reservation):
        label = choice_label(ReservationSync, reservation.sync)
        if reservation.sync == ReservationSync.RETRYING:
            label = ngettext("%(label)s (%(n)s attempt)", "%(label)s (%(n)s attempts)", reservation.attempts) % {
                "label": label, "n": reservation.attempts}
        if reservation.sync_error:
            return format_html('<span class="sync-{}" title="{}">{}</span>', reservation.sync,
                               reservation.sync_error, label)
        return format_html('<span class="sync-{}">{}</span>', reservation.sync, label)

    @admin.display(description=_("order"), ordering="order__created_at")
    def order_column(self, reservation):
        return format_html('<a href="{}">#{}</a>', pk_url("admin:fulfillment_order_change", reservation.order_id),
                           reservation.order.number)

    @admin.display(description=_("order status"))
    def order_status(self, reservation):
        return choice_label(OrderStatus, reservation.order.status)

    @admin.action(description=_("Try the selected reservations again"), permissions=["manage"])
    def retry_selected(self, request, queryset):
        done = sum(reservation_retry(reservation=r, user=request.user) for r in queryset)
        self.message_user(request, ngettext("%d reservation will be tried again.",
                                            "%d reservations will be tried again.", done) % done, messages.SUCCESS)

    @admin.action(description=_("Release the selected reservations"), permissions=["manage"])
    def release_selected(self, request, queryset):
        done = sum(reservation_release(reservation=r, user=request.user) for r in queryset)
        self.message_user(request, ngettext("%d reservation released.", "%d reservations released.", done) % done,
                          messages.SUCCESS)
        if done < queryset.count():
            self.message_user(request, _t("Lines already placed as the supplier's order cannot be released here: "
                                          "cancel them on the supplier's platform."), messages.WARNING)
