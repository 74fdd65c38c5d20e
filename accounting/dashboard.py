"""Accounting's figures on each store's dashboard card: open and failed exports (fulfillment.extensions)."""

from django.urls import reverse
from django.utils.translation import gettext as _

from accounting.selectors import export_counts_of_stores_with_a_rule
from fulfillment.extensions import DashboardFigures, Figure


def export_numbers(stores):
    """{store id: {"open": n, "failed": n}} of the stores with an export rule: one query for every store."""
    return export_counts_of_stores_with_a_rule([store.pk for store in stores])


def export_figures(user, store, numbers):
    if not user.has_perm("accounting.view_accountingexport"):
        return []
    url = reverse("admin:accounting_accountingexport_changelist")
    return [Figure(numbers[state], label, f"{url}?store__id__exact={store.pk}&state__exact={state}"
                                         f"&order__trashed__exact=0", bad=state == "failed" and bool(numbers[state]))
            for state, label in (("open", _("open accounting exports")), ("failed", _("failed accounting exports")))]


EXPORT_FIGURES = DashboardFigures(name="accounting-exports", numbers=export_numbers, figures=export_figures,
                                  position=10)
