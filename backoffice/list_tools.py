"""List-page tools any app's admin may use on a table of millions: a count that stops counting, the first page
read once, the store filter and a created-dates range that read the cached store list (no query of their own).

Neutral on purpose: importing it registers no ModelAdmin (fulfillment.admin does), so accounting's, projects' and
later apps' lists use the same tools as the order list.
"""

from datetime import datetime, time, timedelta
from functools import lru_cache

from django.contrib import admin
from django.contrib.admin import helpers
from django.contrib.admin.views.main import ChangeList
from django.core.paginator import Paginator
from django.urls import get_script_prefix, reverse
from django.utils.functional import cached_property
from django.utils.html import format_html
from django.utils.translation import get_language, gettext, gettext_lazy as _

from fulfillment import selectors
from fulfillment.templatetags.orderdesk import time_zone

COUNT_CAP = 10_000


class FastActionCheckbox:
    """A ModelAdmin mixin: each row's select box in Django's markup, without rendering a form widget template for
    every row (about a third of the time spent drawing a page of 100 orders, a sixth of 100 reservations), its
    label translated once per language. For the lists drawn by `{% list_rows %}` (admin/fast_change_list.html)."""

    def action_checkbox(self, obj):
        return format_html('<input type="checkbox" name="{}" value="{}" class="action-select" aria-label="{}">',
                           helpers.ACTION_CHECKBOX_NAME, obj.pk, format_html(_select_label(get_language()), str(obj)))


@lru_cache(maxsize=64)
def _select_label(language):
    return gettext("Select this object for an action - {}")


_PK = 987654321  # a placeholder key, reversed once


def pk_url(viewname, pk):
    """reverse(viewname, args=[pk]) for an integer key, the URL reversed once per view and script prefix: a list's
    rows link to their order, their documents (a reverse() per row and link was a tenth of a list's CPU)."""
    before, after = _url_parts(viewname, get_script_prefix())
    return f"{before}{int(pk)}{after}"


@lru_cache(maxsize=128)
def _url_parts(viewname, prefix):
    return tuple(reverse(viewname, args=[_PK]).split(str(_PK), 1))


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
        # values("pk"): the columns a list annotates for its rows (subqueries) are not worked out for the count.
        return object_list.order_by().values("pk")[: self.cap + 1].count()

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
