"""Read queries of the accounting app, for the admin and the dashboard."""

from django.db.models import Count

from accounting.choices import ExportState
from accounting.models import AccountingExport


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
