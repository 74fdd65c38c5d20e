"""List-page tools for a million orders: a count that stops counting, cheap filters, a date range."""

from datetime import datetime, time, timedelta

from django.contrib import admin
from django.contrib.admin.views.main import ChangeList
from django.core.paginator import Paginator
from django.utils.functional import cached_property
from django.utils.translation import gettext_lazy as _

from fulfillment import selectors
from fulfillment.choices import OrderStatus, status_label
from fulfillment.templatetags.orderdesk import time_zone

COUNT_CAP = 10_000


class CappedCountPaginator(Paginator):
    """Counts at most COUNT_CAP + 1 rows: "10,000+" is as useful to staff as the exact figure, and cheap."""

    @property
    def cap(self):
        return COUNT_CAP

    def __init__(self, *args, first_page=False, **kwargs):
        super().__init__(*args, **kwargs)
        self.first_page = first_page  # page 1 is asked for: read it before counting (see count)
        self.head = None  # the rows of page 1 and one more, when read

    @cached_property
    def count(self):
        object_list = self.object_list
        if not hasattr(object_list, "order_by"):
            return len(object_list)
        if self.first_page:
            # Page 1 first, one row more than a page: when that is all there is (an email, a number), its length
            # is the count, and FirstPageChangeList shows these rows instead of running the search again.
            self.head = list(object_list[: self.per_page + 1])
            if len(self.head) <= self.per_page:
                return len(self.head)
        # Without the list's ORDER BY: which rows make up the first cap + 1 does not matter to a count, and an
        # ordered count must find and sort every match before it can stop (a search for part of a common
        # surname, a status within a store); unordered, PostgreSQL stops at the cap, often in an index-only scan.
        return object_list.order_by()[: self.cap + 1].count()

    def page(self, number):
        if self.head is not None and self.validate_number(number) == 1:
            return self._get_page(self.head[: self.per_page], 1, self)  # read by count: no second query
        return super().page(number)

    @property
    def capped(self):
        return self.count > self.cap


class FirstPageChangeList(ChangeList):
    """For CappedCountPaginator: a list that fits on one page shows the rows the paginator read to count it.

    Django's ChangeList runs the list's query once more for a single page (queryset._clone()): for a search,
    a second trigram scan of names and emails.
    """

    def get_results(self, request):
        super().get_results(request)
        head = getattr(self.paginator, "head", None)
        if head is not None and not self.multi_page:
            self.result_list = head


STORE_PARAM = "store__id__exact"


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
        counts = selectors.status_counts(store_id if store_id and store_id.isdigit() else None)
        custom = sorted(set(counts) - set(OrderStatus.values))
        return [(s.value, s.label) for s in OrderStatus] + [(s, status_label(s)) for s in custom]

    def queryset(self, request, queryset):
        return queryset.filter(status=self.value()) if self.value() else queryset


class StoreFilter(admin.RelatedFieldListFilter):
    """The stores from the cached list the store column also reads: no query of its own on each view."""

    def field_choices(self, field, request, model_admin):
        return selectors.store_choices()


class CreatedRangeFilter(admin.FieldListFilter):
    """Created between two dates (inclusive); a day runs from midnight to midnight in the store's timezone when
    the list is of one store, else in UTC (the zone the list shows its times in, see selectors.list_timezone)."""

    template = "admin/fulfillment/date_range_filter.html"

    def __init__(self, field, request, params, model, model_admin, field_path):
        self.since_param, self.until_param = f"{field_path}__since", f"{field_path}__until"
        # FieldListFilter.__init__ pops the expected parameters out of `params` into used_parameters: read them
        # from there. (Popping `params` again afterwards found nothing, so the range never filtered.)
        super().__init__(field, request, params, model, model_admin, field_path)
        self.title = _("created between")
        self.since = self._date(self.since_param)
        self.until = self._date(self.until_param)
        # From the request: the store filter has taken its parameter out of `params` by now.
        self.zone_name = selectors.list_timezone(request.GET.get(STORE_PARAM))

    def _date(self, name):
        value = self.used_parameters.get(name)
        if isinstance(value, list):
            value = value[-1] if value else None
        try:
            return datetime.strptime(value, "%Y-%m-%d").date() if value else None
        except ValueError:
            return None

    def expected_parameters(self):
        return [self.since_param, self.until_param]

    def has_output(self):
        return True

    def queryset(self, request, queryset):
        zone = time_zone(self.zone_name)
        if self.since:
            queryset = queryset.filter(**{f"{self.field_path}__gte": datetime.combine(self.since, time.min, zone)})
        if self.until:
            queryset = queryset.filter(
                **{f"{self.field_path}__lt": datetime.combine(self.until + timedelta(days=1), time.min, zone)}
            )
        return queryset

    def choices(self, changelist):
        return [{
            "since_param": self.since_param, "until_param": self.until_param,
            "since": self.since.isoformat() if self.since else "", "until": self.until.isoformat() if self.until else "",
            "zone": self.zone_name,
            "query_parts": [
                (k, v) for k, values in changelist.get_filters_params().items()
                if k not in (self.since_param, self.until_param)
                for v in (values if isinstance(values, list) else [values])
            ] + ([("q", changelist.query)] if changelist.query else []),
            "clear_url": changelist.get_query_string(remove=[self.since_param, self.until_param]),
        }]
