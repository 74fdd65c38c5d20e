"""Read queries of the accounting app, for the admin and the dashboard."""

from django.db.models import Count, OuterRef, Subquery
from django.db.models.functions import Coalesce

from accounting.choices import ExportState
from accounting.models import AccountingExport, ExportRule


def export_counts_of_stores_with_a_rule(store_ids):
    """{store_id: {"open": n, "failed": n}} of those of the stores that have an export rule, in one query (two
    counts per rule, each read from acctexport_store_state_idx); trashed orders left out as below."""
    def count(state):
        exports = (AccountingExport.objects.filter(store_id=OuterRef("store_id"), state=state, order__trashed=False)
                   .order_by().values("store_id").annotate(n=Count("id")).values("n"))
        return Coalesce(Subquery(exports), 0)

    rows = (ExportRule.objects.filter(store_id__in=store_ids).order_by()
            .annotate(n_open=count(ExportState.OPEN), n_failed=count(ExportState.FAILED))
            .values_list("store_id", "n_open", "n_failed"))
    return {store_id: {ExportState.OPEN.value: n_open, ExportState.FAILED.value: n_failed}
            for store_id, n_open, n_failed in rows}


def export_counts_by_store():
    """{store_id: {"open": n, "failed": n}}: exports still to do, one grouped query for every store.

    Orders in WooCommerce's trash are left out: they are never exported, so they are not work to do.
    """
    counts = {}
    for store_id, state, n in (
        AccountingExport.objects.filter(state__in=[ExportState.OPEN, ExportState.FAILED], order__trashed=False)
        .values_list("store_id", "state").annotate(n=Count("id")).order_by()
    ):
        counts.setdefault(store_id, {ExportState.OPEN.value: 0, ExportState.FAILED.value: 0})[state] = n
    return counts
