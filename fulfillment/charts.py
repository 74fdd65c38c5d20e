"""Small SVG charts drawn on the server: no external script, readable without JavaScript."""

from django.utils.dateformat import format as date_format
from django.utils.html import escape
from django.utils.safestring import mark_safe
from django.utils.translation import gettext as _


def bar_chart_svg(points, *, width=600, height=120, colour="#417690", title="", value=str):
    """points: [(date, n)] → an inline SVG bar chart with a label on every seventh day.

    `value` writes a number for people (a bar's tooltip, the top of the scale): format_money for amounts. A negative
    day (more refunded than sold) has no bar; its tooltip says the figure.
    """
    if not points:
        return mark_safe("")
    top = max(max(n for _, n in points), 0) or 1
    gap, label_h = 2, 16
    bar_w = (width - gap * len(points)) / len(points)
    plot_h = height - label_h
    parts = [f'<svg xmlns="http://www.w3.org/2000/svg" class="bar-chart" viewBox="0 0 {width} {height}" '
             f'width="100%" role="img" aria-label="{escape(title)}">']
    for i, (day, n) in enumerate(points):
        h = plot_h * float(max(n, 0)) / float(top)
        x = i * (bar_w + gap)
        parts.append(f'<rect x="{x:.1f}" y="{plot_h - h:.1f}" width="{bar_w:.1f}" height="{h:.1f}" '
                     f'fill="{colour}"><title>{day:%Y-%m-%d}: {escape(value(n))}</title></rect>')
        if i % 7 == 0:
            label = escape(date_format(day, "d M"))  # month abbreviated in the staff's language
            parts.append(f'<text x="{x:.1f}" y="{height - 3}" font-size="10" fill="#666">{label}</text>')
    top_label = escape(_("max %(n)s") % {"n": value(top)})
    parts.append(f'<text x="{width - 2}" y="10" font-size="10" fill="#666" text-anchor="end">{top_label}</text>')
    parts.append("</svg>")
    return mark_safe("".join(parts))
