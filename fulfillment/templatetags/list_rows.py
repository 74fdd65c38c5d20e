"""The rows of a big admin list (orders, reservations, invoices), drawn without the admin's per-cell machinery.

Django's `result_list` tag works cell by cell: for each of 100 rows × 10 columns it looks the column up again
(`lookup_field`), asks for the empty value, formats through `display_for_value`/`display_for_field`, builds the
cell with `format_html`, and reverses the change URL for every row. Profiled on the order list that was three
quarters of the page's rendering CPU. Here the columns are resolved once per page (the admin's method, or the
model field with the admin's own display rules), the change URL is reversed once and the row's key put in it, and
each row is one string; the headers, sorting links and actions are the admin's own. A cell that a column method
made safe (`format_html`) is taken as it is, as Django would. The markup is Django's, cell for cell
(tests/fulfillment/test_list_rows.py compares the two). A list Django's way must draw (a popup, an editable list)
goes through Django's tag unchanged.

`{% list_rows cl %}` in admin/fast_change_list.html, which a list's change_list template extends; the list's admin
takes `backoffice.list_tools.FastActionCheckbox` for its select boxes.
"""

from django import template
from django.contrib.admin.templatetags.admin_list import result_headers, result_list
from django.contrib.admin.templatetags.admin_urls import add_preserved_filters
from django.contrib.admin.utils import display_for_field, display_for_value, quote
from django.core.exceptions import FieldDoesNotExist
from django.db import models
from django.urls import NoReverseMatch, reverse
from django.utils.html import conditional_escape
from django.utils.safestring import SafeString

register = template.Library()

_KEY = "0a1b2c3d4e5f"  # a placeholder for the row's key in the change URL, reversed once per page


def _shown(value, empty, boolean=False):
    # display_for_value, with the commonest case first: a column method's markup (a non-empty SafeString) is shown
    # as it is — what display_for_value gives for it, without its nine isinstance checks.
    if value.__class__ is SafeString and value and not boolean:
        return value
    return display_for_value(value, empty, boolean)


def _column(cl, name, empty):
    """(css classes, function(row) -> shown value) for one column, as Django's items_for_result decides them."""
    admin = cl.model_admin
    if name == "action_checkbox":
        return "action-checkbox", lambda row: _shown(admin.action_checkbox(row), empty)
    method = getattr(admin, name, None)
    if callable(method):
        column_empty = getattr(method, "empty_value_display", empty)
        boolean = getattr(method, "boolean", False)
        return f"field-{name}", lambda row: _shown(method(row), column_empty, boolean)
    field = cl.lookup_opts.get_field(name)  # FieldDoesNotExist (a model method, a relation path): Django's way
    classes = f"field-{name}"
    if isinstance(field, (models.DateField, models.TimeField, models.ForeignKey)):
        classes += " nowrap"
    if isinstance(field.remote_field, models.ManyToOneRel):
        attname = field.name
        return classes, lambda row: getattr(row, attname) if getattr(row, field.attname) is not None else empty
    link = name in cl.list_display_links
    attname = field.attname
    return classes, lambda row: display_for_field(getattr(row, attname), field, empty, avoid_link=link)


def _columns(cl):
    empty = cl.model_admin.get_empty_value_display()
    url = reverse(f"admin:{cl.opts.app_label}_{cl.opts.model_name}_change", args=(_KEY,),
                  current_app=cl.model_admin.admin_site.name)
    url = add_preserved_filters({"preserved_filters": cl.preserved_filters, "opts": cl.opts}, url)
    before, after = (conditional_escape(part) for part in url.split(_KEY, 1))
    columns = []
    for name in cl.list_display:
        classes, shown = _column(cl, name, empty)
        columns.append((name in cl.list_display_links, classes, shown))
    return columns, before, after


def _rows(cl, columns, before, after):
    pk = cl.lookup_opts.pk.attname
    for row in cl.result_list:
        cells, linked = [], False
        for link, classes, shown in columns:
            value = shown(row)
            if value.__class__ is not SafeString:
                value = conditional_escape(value)
            if link:
                tag = "td" if linked else "th"
                linked = True
                href = f"{before}{conditional_escape(quote(getattr(row, pk)))}{after}"
                cells.append(f'<{tag} class="{classes}"><a href="{href}">{value}</a></{tag}>')
            else:
                cells.append(f'<td class="{classes}">{value}</td>')
        yield [SafeString("".join(cells))]


def fast_result_list(cl):
    """The context of admin/change_list_results.html, as Django's result_list gives it."""
    if cl.is_popup or cl.formset or not cl.list_display_links or cl.to_field:
        return result_list(cl)
    try:
        columns, before, after = _columns(cl)
    except (FieldDoesNotExist, NoReverseMatch):
        return result_list(cl)
    headers = list(result_headers(cl))
    return {
        "cl": cl,
        "result_hidden_fields": [],
        "result_headers": headers,
        "num_sorted_fields": sum(1 for header in headers if header["sortable"] and header["sorted"]),
        "results": list(_rows(cl, columns, before, after)),
    }


@register.inclusion_tag("admin/change_list_results.html")
def list_rows(cl):
    return fast_result_list(cl)
