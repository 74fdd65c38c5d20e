"""The order list's own tools: sorts that follow an index, the status, production stage and customer filters;
the shared ones are in backoffice.list_tools."""

from django.contrib import admin
from django.utils.text import capfirst
from django.utils.translation import gettext_lazy as _

from backoffice.list_tools import STORE_PARAM, FirstPageChangeList
from backoffice.numbers import whole_number
from fulfillment import selectors
from fulfillment.choices import OrderStatus, status_label
from fulfillment.selectors.customers import CUSTOMER_PARAM, customer_orders
from fulfillment.selectors.pipeline import STAGES, stage_orders

# The sortable columns (OrderAdmin.sortable_by) and the index each sort reads, as an ORDER BY: a sort is that index
# in order or exactly reversed, so PostgreSQL reads a page of it and stops. Django's own tie-breaker ("status,
# -pk") matches no index: PostgreSQL then sorts every order of the first status by id before it can show 100
# of them ("Incremental Sort, Presorted Key: status"), a million-row sort for a big status.
SORT_INDEXES = {
    "created_at": ("-created_at", "-id"),  # order_created_idx
    "status": ("status", "-created_at", "-id"),  # order_status_created_id_idx
    "order_type": ("order_type", "-created_at", "-id"),  # order_type_created_idx (+ id among equal times)
    "submit_status": ("submit_status", "-created_at", "-id"),  # order_submit_created_idx
    "customer_name": ("customer_name", "-created_at", "-id"),  # order_customer_name_idx (names rarely tie)
}


def _reversed(field):
    return field[1:] if field.startswith("-") else f"-{field}"


class OrderChangeList(FirstPageChangeList):
    """The order list; each row is told the zone the list shows its times in (one store's, or UTC)."""

    def get_ordering(self, request, queryset):
        """The column staff sorted by, then the tie-breakers of its index (SORT_INDEXES), in one direction.

        Only the first sorted column counts: a second one (the admin keeps the previous sort as one) would make
        the sort match no index again. A column without an index (a crafted ?o=) falls back to the default.
        """
        ordering = super().get_ordering(request, queryset)
        first = ordering[0] if ordering and isinstance(ordering[0], str) else "-created_at"
        index = SORT_INDEXES.get(first.lstrip("-"), SORT_INDEXES["created_at"])
        if first.lstrip("-") not in SORT_INDEXES:
            return list(index)
        return list(index) if index[0] == first else [_reversed(field) for field in index]

    def get_results(self, request):
        super().get_results(request)
        self.time_zone = selectors.list_timezone(request.GET.get(STORE_PARAM))
        for order in self.result_list:
            order.list_time_zone = self.time_zone


class StatusFilter(admin.SimpleListFilter):
    """Core statuses plus the custom ones seen; no SELECT DISTINCT over the whole table on each view."""

    title = _("status")
    parameter_name = "status"

    def lookups(self, request, model_admin):
        # The custom statuses come from the status tab counts the page computes anyway (cached a minute, for
        # the same store): no query of its own. The former SELECT DISTINCT kept the model's ordering, so it
        # was DISTINCT over (status, created_at, id) and only saw the custom statuses of the 50 newest orders
        # that had one, reading the table newest first until it found them.
        store_id = request.GET.get("store__id__exact")
        counts = selectors.status_counts(whole_number(store_id))
        custom = sorted(set(counts) - set(OrderStatus.values))
        return [(s.value, s.label) for s in OrderStatus] + [(s, status_label(s)) for s in custom]

    def queryset(self, request, queryset):
        return queryset.filter(status=self.value()) if self.value() else queryset


class CustomerFilter(admin.SimpleListFilter):
    """One customer's orders: `?customer=42` (a registered customer's id) or `?customer=anna@example.at` (a guest's
    billing email), as the order page's customer history links to them. Shown only while it filters: the list has
    no customer to choose from (the search finds one by name or email)."""

    title = _("customer")
    parameter_name = CUSTOMER_PARAM

    def lookups(self, request, model_admin):
        value = self.value()
        if not value:
            return []
        label = _("Customer id %(id)s") % {"id": value} if value.strip().isdigit() else value
        return [(value, label)]

    def has_output(self):
        return bool(self.value())

    def queryset(self, request, queryset):
        return customer_orders(queryset, self.value()) if self.value() else queryset


class ProductionFilter(admin.SimpleListFilter):
    """The production pipeline's stage (fulfillment.selectors.pipeline), as the dashboard counts it and links to it.

    Its choices are fixed: no query of its own. Each stage reads its own index (see the selectors' module).
    """

    title = _("production")
    parameter_name = "production"

    def lookups(self, request, model_admin):
        return [(stage, capfirst(label)) for stage, label in STAGES.items()]

    def queryset(self, request, queryset):
        if self.value() not in STAGES:
            return queryset  # no choice, or a crafted one: the list as it is
        return stage_orders(self.value(), queryset)
