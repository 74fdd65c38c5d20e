import csv

from django.contrib import admin, messages
from django.contrib.admin.options import IS_POPUP_VAR, Action, ActionLocation
from django.contrib.admin.views.main import ERROR_FLAG, PAGE_VAR
from django.core.exceptions import PermissionDenied
from django.http import StreamingHttpResponse
from django.shortcuts import redirect
from django.template.response import TemplateResponse
from django.urls import path, reverse
from django.utils.html import format_html
from django.utils.translation import gettext_lazy as _, ngettext, pgettext_lazy

from backoffice.numbers import whole_number
from fulfillment import extensions, selectors
from backoffice.list_tools import CappedCountPaginator, CreatedRangeFilter, FastActionCheckbox, StoreFilter
from fulfillment.admin.list_tools import CustomerFilter, OrderChangeList, ProductionFilter, StatusFilter
from fulfillment.admin.order_page import OrderPageMixin
from fulfillment.choices import ImportMode, OrderStatus, OrderType, SubmitStatus, choice_label, status_label
from fulfillment.forms import BulkStatusForm, ImportForm
from fulfillment.models import ImportRun, Order
from fulfillment.money import format_money, quantize
from fulfillment.selectors.reservations import with_dropship_state
from fulfillment.services.imports import ImportRequestError, import_request
from fulfillment.errors import OrderActionError
from fulfillment.services.orders import order_change_status
from fulfillment.services.submissions import orders_bulk_submit
from fulfillment.templatetags.orderdesk import duration_text, local_time, status_badge

# Orders one bulk status change or submission takes: done in the request, each order its own transaction, 500 take
# a few seconds. The CSV export is not capped: it streams, reading the orders in chunks.
BULK_LIMIT = 500

EXPORT_COLUMNS = [
    ("number", _("Number")), ("woo_id", _("WooCommerce id")), ("store__slug", _("Store")), ("status", _("Status")),
    ("created_at", _("Created (UTC)")), ("customer_name", _("Customer")), ("customer_email", _("Email")),
    ("city", _("City")), ("state", pgettext_lazy("address", "State")), ("country", _("Country")), ("total", _("Total")),
    ("currency", _("Currency")), ("payment_method_title", _("Payment method")), ("item_count", _("Items")),
    ("order_type", _("Type")), ("submit_status", _("Submit status")),
]


def status_tab_url(request, status):
    """The list as it is (store, search, dates, sort) in another status: a tab replaces only the status.

    The page number goes (page 3 of "processing" is not page 3 of "on hold"), and so does the admin's flag for
    an invalid filter, which the new query has to earn again.
    """
    query = request.GET.copy()
    for name in ("status", PAGE_VAR, ERROR_FLAG):
        query.pop(name, None)
    if status:
        query["status"] = status
    return f"?{query.urlencode()}"


# A spreadsheet runs a cell starting with one of these as a formula (OWASP "CSV injection"): names, emails, cities
# and payment titles are typed by the shop's customers. Such a text gets a leading apostrophe, which Excel and
# LibreOffice read as "text" and do not show; numbers and dates are written by us and left as they are.
FORMULA_STARTS = ("=", "+", "-", "@", "\t", "\r")


def spreadsheet_safe(value):
    if isinstance(value, str) and value.startswith(FORMULA_STARTS):
        return f"'{value}"
    return value


class Echo:
    def write(self, value):
        return value


@admin.register(Order)
class OrderAdmin(OrderPageMixin, FastActionCheckbox, admin.ModelAdmin):
    list_display = ("order_number", "status_column", "customer", "total_payment", "items_column", "type_column",
                    "submit_column", "countdown_column", "store")
    list_display_links = ("order_number",)
    # Only columns an index sorts (list_tools.SORT_INDEXES): a sort by total, item count, countdown or store (a
    # join to the store's name) would sort a million rows for each page. Indexes for them would slow down every
    # import and webhook write of the table for a sort staff rarely need; filters and search find those orders.
    sortable_by = ("order_number", "status_column", "customer", "type_column", "submit_column")
    list_filter = (StatusFilter, ProductionFilter, "order_type", "submit_status", ("store", StoreFilter),
                   ("created_at", CreatedRangeFilter), CustomerFilter)
    # "=" fields are exact (b-tree indexes); name and email are substring searches (trigram indexes on PostgreSQL).
    # woo_id__exact, not "=woo_id": "=" is iexact, UPPER(woo_id::text) = UPPER(term), which no index serves and
    # which made every text search a scan of the whole table; __exact skips terms that are not integers.
    search_fields = ("=number", "woo_id__exact", "customer_name", "customer_email")
    search_help_text = _("Order number or id, customer name or email")
    list_select_related = ("store",)
    list_per_page = 100
    list_max_show_all = 100
    paginator = CappedCountPaginator
    show_full_result_count = False
    change_list_template = "admin/fulfillment/order/change_list.html"
    actions = ["bulk_submit", "bulk_change_status", "export_csv"]

    def has_add_permission(self, request):
        return False  # orders come from WooCommerce

    def has_delete_permission(self, request, obj=None):
        return False

    def has_change_permission(self, request, obj=None):
        return False  # the order page's actions carry their own permissions

    def get_list_display(self, request):
        if selectors.store_count() > 1:
            return self.list_display
        return tuple(c for c in self.list_display if c != "store")

    def get_search_results(self, request, queryset, search_term):
        term = search_term.strip()
        if term.startswith("#"):
            term = term[1:]
        if whole_number(term) is not None:
            # An order number or id: exact, indexed; no substring scan over names and emails.
            return queryset.filter(number=term.strip()) | queryset.filter(woo_id=whole_number(term)), False
        return super().get_search_results(request, queryset, term)

    def get_changelist(self, request, **kwargs):
        return OrderChangeList

    def get_paginator(self, request, queryset, per_page, orphans=0, allow_empty_first_page=True):
        # The list shows none of the JSON columns (the WooCommerce order as received, ~4 KB, billing, shipping):
        # fetching and decoding them for 100 rows was a tenth of the page's time. Only the page's rows are
        # deferred; actions get the full queryset. A column that needs them must undefer them here.
        # Each row's dropship lines and a failed one's reason, as two subqueries of the page's own query (the
        # reservations' order index): no query of their own, and the count leaves them out.
        if queryset.model is not Order:
            # The History page pages its LogEntry rows with this too: they have none of these columns.
            return super().get_paginator(request, queryset, per_page, orphans, allow_empty_first_page)
        rows = with_dropship_state(queryset.defer("raw", "billing", "shipping"))
        return self.paginator(rows, per_page, orphans, allow_empty_first_page,
                              first_page=request.GET.get(PAGE_VAR, "1") in ("", "1"))

    @admin.display(description=_("order"), ordering="created_at")
    def order_number(self, order):
        # In the zone OrderChangeList names: the store's for one store's orders, UTC when stores mix.
        return format_html("<strong>#{}</strong><br><small>{}</small>", order.number,
                           local_time(order.created_at, getattr(order, "list_time_zone", "UTC")))

    @admin.display(description=_("status"), ordering="status")
    def status_column(self, order):
        return status_badge(order.status)

    @admin.display(description=_("customer"), ordering="customer_name")
    def customer(self, order):
        place = ", ".join(p for p in (order.city, order.state, order.country) if p)
        return format_html("{}<br><small>{}</small>", order.customer_name, place)

    @admin.display(description=_("total"), ordering="total")
    def total_payment(self, order):
        return format_html('<span class="money">{}</span><br><small>{}</small>', format_money(order.total, order.currency),
                           order.payment_method_title)

    @admin.display(description=_("items"))
    def items_column(self, order):
        # The number alone under its header; on a phone, where the list's rows are cards without headers, the word.
        return format_html('{}<span class="card-label"> {}</span>', order.item_count,
                           ngettext("item", "items", order.item_count))

    @admin.display(description=_("type"), ordering="order_type")
    def type_column(self, order):
        label = choice_label(OrderType, order.order_type)  # get_order_type_display: a fifth of a row's time
        if not getattr(order, "dropship_lines", 0):
            return label
        failed = order.dropship_failed
        if failed:
            return format_html('{}<br><span class="dropship dropship-failed" title="{}">{}</span>', label, failed,
                               _("Dropship: failed"))
        return format_html('{}<br><span class="dropship">{}</span>', label, _("Dropship"))

    @admin.display(description=_("submit status"), ordering="submit_status", empty_value="")
    def submit_column(self, order):
        if order.submit_status == SubmitStatus.SUBMITTED:
            return format_html('<span class="submit-ok">{}</span>', _("Submitted"))
        if order.submit_status == SubmitStatus.FAILED:
            return format_html('<span class="submit-failed" title="{}">{}</span>', order.submit_error, _("Failed"))
        return ""

    @admin.display(description=_("auto-submit"), ordering="countdown_due_at", empty_value="")
    def countdown_column(self, order):
        countdown = selectors.countdown_display(order)
        if countdown is None:
            return ""
        left = duration_text(countdown["seconds"])
        if countdown["state"] == "paused":
            return format_html('<span class="countdown-cell paused">⏸ {}</span>', left)
        return format_html('<span class="countdown-cell">⏱ {}</span>', left)

    # -- list page extras -------------------------------------------------------------------

    def changelist_view(self, request, extra_context=None):
        store_id = request.GET.get("store__id__exact")
        counts = selectors.status_counts(whole_number(store_id))
        current = request.GET.get("status", "")
        estimated = getattr(counts, "estimated", False)
        tabs = [{"status": "", "label": _("All"), "count": sum(counts.values()), "active": not current,
                 "estimated": estimated, "url": status_tab_url(request, "")}]
        for status in [s.value for s in OrderStatus] + sorted(set(counts) - set(OrderStatus.values)):
            if counts.get(status):
                tabs.append({"status": status, "label": status_label(status), "count": counts[status],
                             "active": status == current, "estimated": estimated,
                             "url": status_tab_url(request, status)})
        extra_context = {
            **(extra_context or {}),
            "status_tabs": tabs,
            "can_import": request.user.has_perm("fulfillment.add_importrun"),
            "recent_imports": ImportRun.objects.select_related("store").order_by("-queued_at")[:3],
        }
        return super().changelist_view(request, extra_context)

    # -- bulk actions ------------------------------------------------------------------------

    def get_actions(self, request, action_location=ActionLocation.CHANGE_LIST):
        actions = super().get_actions(request, action_location=action_location)
        if IS_POPUP_VAR in request.GET or action_location != ActionLocation.CHANGE_LIST:
            return actions
        # Other apps' actions on orders (projects: reprocess), each with its own permission check.
        for panel in extensions.order_page_panels():
            for action in panel.bulk_actions():
                if action.allowed(request):
                    actions[action.name] = Action(func=action.run, name=action.name, description=action.description,
                                                  plural_description=action.description,
                                                  locations=[ActionLocation.CHANGE_LIST])
        return actions

    def capped_selection(self, request, queryset):
        """The ids of the selected orders, or None (staff told to narrow the list) when there are more than
        BULK_LIMIT: "select all" over the whole table must not run a million status changes in one request."""
        # In the list's order (an index), and no exact count: reading one more than the limit says enough.
        ids = list(queryset.values_list("pk", flat=True)[: BULK_LIMIT + 1])
        if len(ids) > BULK_LIMIT:
            self.message_user(request, _(
                "More than %(limit)d orders are selected; a bulk action takes at most %(limit)d. Nothing was "
                "changed: narrow the list (a status tab, a store, dates or a search) and run it again.") % {
                "limit": BULK_LIMIT}, messages.ERROR)
            return None
        return ids

    @admin.action(description=_("Submit the selected orders to production"), permissions=["submit"])
    def bulk_submit(self, request, queryset):
        ids = self.capped_selection(request, queryset)
        if ids is None:
            return None
        result = orders_bulk_submit(orders=Order.objects.filter(pk__in=ids).select_related("store").order_by("pk"),
                                    user=request.user)
        if result.queued:
            self.message_user(request, ngettext("%(n)d order queued: %(orders)s", "%(n)d orders queued: %(orders)s",
                                                len(result.queued)) % {
                "n": len(result.queued), "orders": ", ".join(f"#{n}" for n in result.queued)}, messages.SUCCESS)
        if result.already:
            self.message_user(request, _("Already submitted, skipped: %(orders)s") % {
                "orders": "; ".join(f"#{n} ({why})" for n, why in result.already)}, messages.WARNING)
        if result.not_eligible:
            self.message_user(request, _("Not eligible: %(orders)s") % {
                "orders": "; ".join(f"#{n} ({why})" for n, why in result.not_eligible)}, messages.ERROR)

    def has_submit_permission(self, request):
        return request.user.has_perm("fulfillment.submit_order")

    @admin.action(description=_("Change the status of the selected orders"), permissions=["change_status"])
    def bulk_change_status(self, request, queryset):
        ids = self.capped_selection(request, queryset)
        if ids is None:
            return None
        selection = Order.objects.filter(pk__in=ids).order_by("pk")
        form = BulkStatusForm(request.POST if "apply" in request.POST else None)
        if "apply" in request.POST and form.is_valid():
            changed, refused = 0, []
            for order in selection.only("pk", "number", "status", "trashed"):
                try:
                    order_change_status(order=order, status=form.cleaned_data["status"], user=request.user,
                                        note=form.cleaned_data["note"])
                    changed += 1
                except OrderActionError:
                    refused.append(f"#{order.number} ({status_label(order.status)})")
            self.message_user(request, ngettext("%(n)d order moved to %(status)s.", "%(n)d orders moved to %(status)s.",
                                                changed) % {"n": changed,
                                                            "status": status_label(form.cleaned_data["status"])})
            if refused:
                self.message_user(request, _("Not allowed from their status: %(orders)s") % {
                    "orders": ", ".join(refused)}, messages.WARNING)
            return None
        orders = list(selection.only("pk", "number"))
        context = {
            **self.admin_site.each_context(request), "opts": self.model._meta, "form": form,
            "orders": orders, "count": len(orders),
            "action_checkbox_name": admin.helpers.ACTION_CHECKBOX_NAME, "title": _("Change status"),
            # The orders listed are the ones changed: "select all" is not run again on orders that came in since.
            "select_across": "0",
        }
        return TemplateResponse(request, "admin/fulfillment/order/bulk_status.html", context)

    @admin.action(description=_("Export the selected orders as CSV"), permissions=["export"])
    def export_csv(self, request, queryset):
        writer = csv.writer(Echo())
        fields = [name for name, _ in EXPORT_COLUMNS]

        total, currency = fields.index("total"), fields.index("currency")

        def rows():
            yield writer.writerow([str(label) for _, label in EXPORT_COLUMNS])
            for row in queryset.order_by("pk").values_list(*fields).iterator(chunk_size=2000):
                row = [spreadsheet_safe(value) for value in row]
                row[total] = quantize(row[total], row[currency])  # the column holds 4 decimals for every currency
                yield writer.writerow(row)

        response = StreamingHttpResponse(rows(), content_type="text/csv; charset=utf-8")
        response["Content-Disposition"] = 'attachment; filename="orders.csv"'
        return response

    def has_change_status_permission(self, request):
        return request.user.has_perm("fulfillment.change_order_status")

    def has_export_permission(self, request):
        return request.user.has_perm("fulfillment.export_orders")

    # -- import --------------------------------------------------------------------------------

    def get_urls(self):
        return [
            path("import/", self.admin_site.admin_view(self.import_view), name="fulfillment_order_import"),
        ] + super().get_urls()

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


