"""The staff side of invoices: rules and series, the Invoices list, the VAT summary, orders without an invoice.

An issued document is read-only here for everybody (a correction is a credit note and a new invoice, from the order
page). The list reads everything it shows from the invoice rows and two joins: a constant number of queries.
"""

import csv
from datetime import date, timedelta

from django import forms
from django.contrib import admin, messages
from django.contrib.admin.options import ActionLocation
from django.core.exceptions import PermissionDenied, ValidationError
from django.db.models import Exists, OuterRef, Q, Subquery
from django.http import StreamingHttpResponse
from django.template.response import TemplateResponse
from django.urls import path, reverse
from django.utils.html import format_html, format_html_join
from django.utils.translation import gettext_lazy as _

from accounting.choices import DocumentKind, ExportState
from accounting.forms import StatusListField
from accounting.models import Invoice, InvoiceProblem, InvoiceRule, InvoiceSeries
from accounting.selectors import vat_summary
from accounting.services.invoice_exports import invoices_check_back, invoices_export_now
from accounting.services.invoices import InvoiceError, invoice_issue
from backoffice.list_tools import FastActionCheckbox, StoreFilter, pk_url
from fulfillment.choices import choice_label
from fulfillment.models import Order, Store

STATE_COLOURS = {ExportState.OPEN: "#ef6c00", ExportState.EXPORTED: "#2e7d32", ExportState.FAILED: "#b71c1c"}
WITHOUT_INVOICE_SHOWN = 500


@admin.register(InvoiceSeries)
class InvoiceSeriesAdmin(admin.ModelAdmin):
    list_display = ("name", "store", "prefix", "digits", "yearly_reset")
    list_filter = (("store", StoreFilter),)
    list_select_related = ("store",)

    def has_delete_permission(self, request, obj=None):
        # A series with invoices is their numbering's history (PROTECT keeps it; say so before trying).
        return super().has_delete_permission(request, obj) and not (obj and obj.invoices.exists())


class InvoiceRuleForm(forms.ModelForm):
    statuses = StatusListField(label=_("statuses that issue the invoice"),
                               help_text=_("Comma-separated WooCommerce status slugs, e.g. processing, completed."))

    class Meta:
        model = InvoiceRule
        exclude = ()


@admin.register(InvoiceRule)
class InvoiceRuleAdmin(admin.ModelAdmin):
    form = InvoiceRuleForm
    list_display = ("store", "enabled", "statuses_text", "invoice_series", "credit_note_series", "seller_vat_id")
    list_select_related = ("store", "invoice_series", "credit_note_series")

    @admin.display(description=_("statuses"))
    def statuses_text(self, rule):
        return ", ".join(rule.statuses)


class DiffersFilter(admin.SimpleListFilter):
    title = _("check back")
    parameter_name = "differs"

    def lookups(self, request, model_admin):
        return [("yes", _("differs at the accounting system")), ("no", _("as booked"))]

    def queryset(self, request, queryset):
        if self.value() == "yes":
            return queryset.exclude(check_error="")
        if self.value() == "no":
            return queryset.filter(check_error="")
        return queryset


@admin.register(Invoice)
class InvoiceAdmin(FastActionCheckbox, admin.ModelAdmin):
    list_display = ("number", "kind_badge", "issue_date", "order_link", "customer", "net", "vat", "gross",
                    "corrects_number", "export_badge", "downloads")
    list_filter = (("store", StoreFilter), "kind", "export_state", DiffersFilter, "reverse_charge", "series")
    list_select_related = ("order", "corrects", "store")
    date_hierarchy = "issue_date"
    search_fields = ("=number",)
    search_help_text = _("Invoice or order number (exact)")
    list_per_page = 100
    actions = ["export_now", "check_back_now"]
    readonly_fields = ("number", "kind", "cause", "store", "order", "series", "issue_date", "supply_date",
                       "currency", "net_total", "vat_total", "gross_total", "buyer_name", "buyer_country",
                       "buyer_vat_id", "reverse_charge", "corrects", "woo_refund_id", "credited", "created_by",
                       "created_at", "export_state", "export_error", "export_attempts", "external_id", "exported_at",
                       "checked_at", "check_error", "document_lines")
    fields = readonly_fields

    def has_add_permission(self, request):
        return False

    def has_change_permission(self, request, obj=None):
        return False

    def has_delete_permission(self, request, obj=None):
        return False

    def get_search_results(self, request, queryset, search_term):
        term = search_term.strip()
        if not term:
            return queryset, False
        # Exact and indexed: the invoice number (store, number) or the order number, never a scan of either table.
        return queryset.filter(Q(number=term) | Q(order__number=term)), False

    @admin.display(description=_("kind"), ordering="kind")
    def kind_badge(self, invoice):
        colour = "#6a1b9a" if invoice.kind == DocumentKind.CREDIT_NOTE else "#1565c0"
        return format_html('<span style="color:{};font-weight:bold">{}</span>', colour,
                           choice_label(DocumentKind, invoice.kind))

    @admin.display(description=_("order"), ordering="order__number")
    def order_link(self, invoice):
        return format_html('<a href="{}">#{}</a>', pk_url("admin:fulfillment_order_change", invoice.order_id),
                           invoice.order.number)

    @admin.display(description=_("customer"))
    def customer(self, invoice):
        return f"{invoice.buyer_name} ({invoice.buyer_country})" if invoice.buyer_country else invoice.buyer_name

    @admin.display(description=_("total excl. VAT"), ordering="net_total")
    def net(self, invoice):
        return f"{invoice.net_total} {invoice.currency}"

    @admin.display(description=_("VAT"), ordering="vat_total")
    def vat(self, invoice):
        return f"{invoice.vat_total}"

    @admin.display(description=_("total incl. VAT"), ordering="gross_total")
    def gross(self, invoice):
        return f"{invoice.gross_total} {invoice.currency}"

    @admin.display(description=_("corrects"))
    def corrects_number(self, invoice):
        return invoice.corrects.number if invoice.corrects_id else ""

    @admin.display(description=_("export"), ordering="export_state")
    def export_badge(self, invoice):
        badge = format_html('<span style="color:{}" title="{}">{}</span>', STATE_COLOURS.get(invoice.export_state),
                            invoice.export_error or invoice.external_id, choice_label(ExportState, invoice.export_state))
        if invoice.check_error:
            badge = format_html('{} <strong style="color:#b71c1c" title="{}">{}</strong>', badge,
                                invoice.check_error, _("differs"))
        return badge

    @admin.display(description=_("documents"))
    def downloads(self, invoice):
        return format_html('<a href="{}">PDF</a> · <a href="{}">UBL</a>',
                           pk_url("accounting:staff_invoice_pdf", invoice.pk),
                           pk_url("accounting:staff_invoice_ubl", invoice.pk))

    @admin.display(description=_("lines"))
    def document_lines(self, invoice):
        rows = format_html_join("", "<tr><td>{}</td><td>{}</td><td>{}</td><td>{}%</td><td>{}</td><td>{}</td></tr>", (
            (line["description"], line["quantity"], line["unit_price"], line["vat_rate"], line["net_amount"],
             line["vat_amount"]) for line in invoice.document.get("lines", [])))
        return format_html("<table><tr><th>{}</th><th>{}</th><th>{}</th><th>{}</th><th>{}</th><th>{}</th></tr>{}"
                           "</table>", _("description"), _("quantity"), _("unit price excl. VAT"), _("VAT rate"),
                           _("amount excl. VAT"), _("VAT"), rows)

    # -- actions ---------------------------------------------------------------------------------------------

    def _require_finance(self, request):
        if not request.user.has_perm("accounting.change_invoice"):
            raise PermissionDenied

    @admin.action(description=_("Export now / retry"))
    def export_now(self, request, queryset):
        self._require_finance(request)
        done = invoices_export_now(invoices=list(queryset[:200]), user=request.user)
        for number, invoice in done.items():
            if invoice is not None and invoice.export_state == ExportState.EXPORTED:
                messages.success(request, _("%(number)s: exported as %(reference)s") % {
                    "number": number, "reference": invoice.external_id})
            else:
                messages.error(request, _("%(number)s: not exported: %(error)s") % {
                    "number": number, "error": invoice.export_error if invoice else _("gone")})

    @admin.action(description=_("Check back at the accounting system now"))
    def check_back_now(self, request, queryset):
        self._require_finance(request)
        counts = invoices_check_back(invoices=list(queryset[:200]))
        messages.info(request, _("%(checked)s checked, %(differ)s differ, %(unchecked)s could not be checked.")
                      % counts)

    def get_actions(self, request, action_location=ActionLocation.CHANGE_LIST):
        actions = super().get_actions(request, action_location)
        if not request.user.has_perm("accounting.change_invoice"):
            actions.pop("export_now", None)
            actions.pop("check_back_now", None)
        return actions

    # -- pages -------------------------------------------------------------------------------------------------

    def get_urls(self):
        return [
            path("vat-summary/", self.admin_site.admin_view(self.vat_summary_view),
                 name="accounting_invoice_vat_summary"),
            path("without-invoice/", self.admin_site.admin_view(self.without_invoice_view),
                 name="accounting_invoice_without"),
        ] + super().get_urls()

    def changelist_view(self, request, extra_context=None):
        extra_context = {**(extra_context or {}), "vat_summary_url": reverse("admin:accounting_invoice_vat_summary"),
                         "without_invoice_url": reverse("admin:accounting_invoice_without")}
        return super().changelist_view(request, extra_context)

    def vat_summary_view(self, request):
        # The VAT return's figures are finance's, not support's.
        self._require_finance(request)
        form = VatSummaryForm(request.GET or None, initial=VatSummaryForm.last_quarter())
        rows, totals = [], []
        if form.is_valid():
            rows, totals = vat_summary(store=form.cleaned_data["store"], since=form.cleaned_data["since"],
                                       until=form.cleaned_data["until"])
            if request.GET.get("format") == "csv":
                return _csv(rows, form.cleaned_data)
        context = {**self.admin_site.each_context(request), "title": _("VAT summary"), "form": form, "rows": rows,
                   "totals": totals, "opts": self.model._meta,
                   "csv_query": request.GET.urlencode() + "&format=csv" if form.is_bound else ""}
        return TemplateResponse(request, "admin/accounting/invoice/vat_summary.html", context)

    def without_invoice_view(self, request):
        if not self.has_view_permission(request):
            raise PermissionDenied
        if request.method == "POST":
            if not request.user.has_perm("accounting.add_invoice"):
                raise PermissionDenied
            for order in Order.objects.filter(pk__in=request.POST.getlist("order")).select_related("store")[:100]:
                try:
                    outcome = invoice_issue(order=order, user=request.user)
                except InvoiceError as exc:
                    messages.error(request, _("Order #%(number)s: %(reason)s") % {"number": order.number,
                                                                                   "reason": exc})
                else:
                    messages.success(request, _("Order #%(number)s: %(documents)s issued") % {
                        "number": order.number, "documents": ", ".join(d.number for d in outcome.issued)})
        orders = orders_without_invoice(store_id=request.GET.get("store"))
        context = {**self.admin_site.each_context(request), "title": _("Orders without invoice"),
                   "orders": orders[:WITHOUT_INVOICE_SHOWN], "opts": self.model._meta,
                   "stores": Store.objects.filter(invoice_rule__enabled=True).order_by("name"),
                   "can_issue": request.user.has_perm("accounting.add_invoice"),
                   "differs_url": reverse("admin:accounting_invoice_changelist") + "?differs=yes"}
        return TemplateResponse(request, "admin/accounting/invoice/without_invoice.html", context)


def orders_without_invoice(*, store_id=None):
    """Orders whose status matches their store's enabled invoice rule and that have no invoice, with the reason
    kept when one was tried (one query: the rule's statuses are compared in Python per store, which are few)."""
    rules = {rule.store_id: rule.statuses for rule in InvoiceRule.objects.filter(enabled=True)}
    if store_id:
        rules = {k: v for k, v in rules.items() if str(k) == str(store_id)}
    if not rules:
        return Order.objects.none()
    matching = Q()
    for rule_store, statuses in rules.items():
        matching |= Q(store_id=rule_store, status__in=statuses)
    reason = InvoiceProblem.objects.filter(order=OuterRef("pk"), key="invoice").values("reason")[:1]
    return (Order.objects.filter(matching, trashed=False)
            .exclude(Exists(Invoice.objects.filter(order=OuterRef("pk"))))
            .annotate(reason=Subquery(reason)).select_related("store").order_by("-created_at"))


class VatSummaryForm(forms.Form):
    store = forms.ModelChoiceField(queryset=Store.objects.order_by("name"), required=False, label=_("store"),
                                   empty_label=_("all stores"))
    since = forms.DateField(label=_("from"), widget=forms.DateInput(attrs={"type": "date"}))
    until = forms.DateField(label=_("until"), widget=forms.DateInput(attrs={"type": "date"}))

    @staticmethod
    def last_quarter(today=None):
        today = today or date.today()
        first_of_quarter = date(today.year, 3 * ((today.month - 1) // 3) + 1, 1)
        until = first_of_quarter - timedelta(days=1)
        return {"since": date(until.year, 3 * ((until.month - 1) // 3) + 1, 1), "until": until}

    def clean(self):
        data = super().clean()
        if data.get("since") and data.get("until") and data["since"] > data["until"]:
            raise ValidationError(_("The period ends before it starts."))
        return data


class _Echo:
    def write(self, value):
        return value


def _csv(rows, period):
    writer = csv.writer(_Echo())
    header = ["currency", "country", "vat_category", "vat_rate", "taxable_amount", "vat_amount", "invoices",
              "credit_notes"]
    lines = [writer.writerow(header)] + [writer.writerow([
        row["currency"], row["country"], row["category"], row["rate"], row["taxable"], row["vat"], row["invoices"],
        row["credit_notes"]]) for row in rows]
    name = f"vat-summary-{period['since']:%Y%m%d}-{period['until']:%Y%m%d}.csv"
    response = StreamingHttpResponse(lines, content_type="text/csv; charset=utf-8")
    response["Content-Disposition"] = f'attachment; filename="{name}"'
    return response
