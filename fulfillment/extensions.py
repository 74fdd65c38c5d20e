"""Where other apps add to fulfillment's pages without fulfillment knowing them: order page panels, dashboard figures.

Registered from an app's AppConfig.ready(), in a stated position; fulfillment's admin and dashboard ask this module
for what to show. (What follows a change of an order is `fulfillment.followers`; where print files come from is
`fulfillment.print_files`.)
"""

from dataclasses import dataclass


class OrderPagePanel:
    """A part of the order page owned by another app (projects: each line's personalisation and *Reprocess*).

    `template` is included in the actions column and `line_template` in each product line's cell, with the page's
    context (plus what `context` added; each line's row is `row`). `urls` are added to the order admin's URLs,
    `bulk_actions` to the order list's actions.
    """

    name = ""
    position = 100
    template = ""
    line_template = ""
    stylesheets = ()

    def urls(self, model_admin):
        return []

    def context(self, request, order, page):
        """Names for the page's context; may also add to each row of `page["lines"]`. The order is `order`."""
        return {}

    def bulk_actions(self):
        """[BulkAction] for the order list."""
        return []


@dataclass(frozen=True)
class BulkAction:
    """An action of the order list: `run(model_admin, request, queryset)`, shown to whom `allowed(request)`."""

    name: str
    description: str
    run: object
    allowed: object


@dataclass(frozen=True)
class Figure:
    """One figure on a store's dashboard card, linked to the list it counts."""

    count: int
    label: str
    url: str
    bad: bool = False


@dataclass(frozen=True)
class DashboardFigures:
    """Figures another app adds to each store's dashboard card.

    `numbers(stores)` returns {store id: data} and is cached a minute for every reader (so it must be picklable and
    the same in every language); `figures(user, store, data)` turns one store's data into [Figure] for one reader,
    in the reader's language, without a query. A store missing from `numbers` gets no figures.
    """

    name: str
    numbers: object
    figures: object
    position: int = 100


_panels = {}
_dashboard = {}


def register_order_page_panel(panel):
    """Add (or replace, by name) a panel of the order page."""
    _panels[panel.name] = panel


def order_page_panels():
    return sorted(_panels.values(), key=lambda p: (p.position, p.name))


def register_dashboard_figures(figures):
    """Add (or replace, by name) figures of the dashboard."""
    _dashboard[figures.name] = figures


def dashboard_figures():
    return sorted(_dashboard.values(), key=lambda f: (f.position, f.name))
