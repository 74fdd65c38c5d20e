from datetime import UTC
from functools import lru_cache
from functools import partial
from zoneinfo import ZoneInfo, ZoneInfoNotFoundError

from django import template
from django.core.cache import cache
from django.urls import reverse
from django.utils import timezone
from django.utils.html import conditional_escape, escape, format_html
from django.utils.safestring import mark_safe
from django.utils.translation import gettext as _, get_language

from fulfillment import extensions
from fulfillment.charts import bar_chart_svg
from fulfillment.choices import status_label
from fulfillment.money import format_money, quantize
from fulfillment.selectors import dashboard
from fulfillment.selectors.pipeline import STAGES

register = template.Library()

STATUS_COLOURS = {
    "pending": "#6d6d6d", "processing": "#2e7d32", "on-hold": "#ef6c00", "completed": "#1565c0",
    "cancelled": "#4e4e4e", "refunded": "#6a1b9a", "failed": "#b71c1c", "trash": "#333",
    "checkout-draft": "#888",
}


@register.filter
def get(mapping, key):
    return (mapping or {}).get(key, "")


@register.filter
def money(amount, currency):
    try:
        return f"{quantize(amount, currency)} {currency}"
    except (TypeError, ValueError, ArithmeticError):
        return f"{amount} {currency}"


def time_zone(name):
    try:
        return ZoneInfo(name or "UTC")
    except (ZoneInfoNotFoundError, ValueError):
        return UTC  # Store.timezone is validated; an old or hand-edited value shows UTC, labelled as such


@register.filter
def local_time(value, zone_name):
    """An aware datetime in a zone, with the zone's abbreviation: "2026-11-21 10:04 CET", "… 06:04 UTC-03"."""
    if not value:
        return ""
    local = value.astimezone(time_zone(zone_name))
    abbreviation = local.tzname() or "UTC"
    if abbreviation[:1] in "+-":  # zones without a common abbreviation (America/Sao_Paulo: "-03")
        abbreviation = f"UTC{abbreviation}"
    return f"{local:%Y-%m-%d %H:%M} {abbreviation}"


@register.filter
def clock_time(value, zone_name):
    """The time of day in a zone, with its abbreviation: "14:30 CET"."""
    return local_time(value, zone_name)[11:] if value else ""


@register.filter
def woo_product_url(store, product_id):
    return store.woo_product_url(product_id)


@register.simple_tag
def status_badge(status):
    return _status_badge(get_language(), status)


@lru_cache(maxsize=1024)
def _status_badge(language, status):
    # Drawn once per status and language: the order list shows 100 of them per page.
    colour = STATUS_COLOURS.get(status, "#00695c")  # custom statuses: teal
    return format_html('<span class="status-badge" style="background:{}">{}</span>', colour, status_label(status))


# The dashboard's numbers, the same in every language: computed once a minute, whatever the staff's languages.
DASHBOARD_KEY = "order-dashboard"


@register.simple_tag(takes_context=True)
def order_dashboard(context):
    """The dashboard's figures per store: the numbers cached a minute, the words (warnings, chart) in the
    staff's language on each view, which costs no query."""
    user = context["request"].user
    if not user.has_perm("fulfillment.view_order"):
        return []
    rows = cache.get(DASHBOARD_KEY)
    if rows is None:
        rows = dashboard()
        cache.set(DASHBOARD_KEY, rows, 60)
    now = timezone.now()
    return [
        {**row, "warnings": row["store"].health_warnings(now),
         "figures": [figure for figures in extensions.dashboard_figures() if figures.name in row["extra"]
                     for figure in figures.figures(user, row["store"], row["extra"][figures.name])],
         "pipeline_links": pipeline_links(row["store"], row["pipeline"]),
         "chart": bar_chart_svg(row["per_day"], title=_("%(store)s: orders per day") % {"store": row["store"].name}),
         "revenue_charts": [
             (currency, bar_chart_svg(points, colour="#2e7d32", value=partial(format_money, currency=currency),
                                      title=_("%(store)s: revenue per day in %(currency)s") % {
                                          "store": row["store"].name, "currency": currency}))
             for currency, points in sorted(row["revenue_per_day"].items())]}
        for row in rows
    ]


def pipeline_links(store, counts):
    """[(stage, label, count, url)] of the production pipeline, each linked to the order list at that stage."""
    url = reverse("admin:fulfillment_order_changelist")
    return [(stage, label, counts.get(stage, 0), f"{url}?store__id__exact={store.pk}&production={stage}")
            for stage, label in STAGES.items()]


@register.filter
def duration_text(seconds):
    """3725 → "1 h 2 min"; under a minute → "< 1 min"."""
    try:
        seconds = int(seconds)
    except (TypeError, ValueError):
        return ""
    hours, minutes = seconds // 3600, (seconds % 3600) // 60
    if hours:
        return _("%(h)d h %(m)d min") % {"h": hours, "m": minutes}
    return _("%(m)d min") % {"m": minutes} if minutes else _("< 1 min")


@register.simple_tag
def timeline_entries(entries, order):
    """The order page's timeline, one <li> per entry, as the template drew it (escaped the same way): an order with
    200 entries spent a fifth of its page's CPU in the template engine's per-variable work for them."""
    zone = order.store.timezone
    retry = None
    items = []
    for entry in entries:
        audience = entry["audience"]
        user = entry["user"]
        message = entry["message"]
        if entry.get("can_retry"):
            if retry is None:
                retry = format_html('<a href="{}?order={}&amp;state__in=failed,retrying">{}</a>',
                                    reverse("admin:fulfillment_storepush_changelist"), order.pk,
                                    _("Retry in the outbox"))
            link = retry
        else:
            link = ""
        items.append(
            f'<li class="entry {escape(entry["kind"])} {escape(entry["type"])}">\n'
            f'          <time datetime="{escape(timezone.template_localtime(entry["at"]).isoformat())}">'
            f'{escape(local_time(entry["at"], zone))}</time>\n'
            f'          <strong>{conditional_escape(entry["label"])}</strong>'
            f'{f" <span class=\"audience\">{conditional_escape(audience)}</span>" if audience else ""}'
            f' <span class="source">{conditional_escape(entry["source"])}'
            f'{f" · {conditional_escape(user)}" if user else ""}</span>\n'
            f'          {f"<div class=\"message\">{conditional_escape(message)}</div>" if message else ""}\n'
            f'          {link}\n'
            f'        </li>')
    return mark_safe("\n      ".join(items))
