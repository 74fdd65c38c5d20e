"""The order page's invoices: the order's invoices and credit notes, why one is not issued, *Issue* and *Correct*.

A panel of fulfillment's order page (fulfillment.extensions), registered in AccountingConfig.ready(): fulfillment's
OrderAdmin knows nothing of invoices, and is not replaced. The views are thin: a permission, one service call, a
message, back to the order page.
"""

from django.contrib import messages
from django.core.exceptions import PermissionDenied
from django.shortcuts import get_object_or_404, redirect
from django.template.response import TemplateResponse
from django.urls import path, reverse
from django.utils.translation import gettext as _

from accounting import selectors
from accounting.choices import DocumentKind
from accounting.models import InvoiceRule
from accounting.services.invoices import InvoiceError, invoice_correct, invoice_issue
from fulfillment.extensions import OrderPagePanel
from fulfillment.models import Order
from fulfillment.money import quantize

VIEW_PERMISSION = "accounting.view_invoice"
ISSUE_PERMISSION = "accounting.add_invoice"


def problem_subject(key):
    """What an InvoiceProblem's key is about, in staff's words ("invoice", "refund:<id>", "cancel")."""
    if key.startswith("refund:"):
        return _("Credit note for refund %(id)s") % {"id": key.partition(":")[2]}
    if key == "cancel":
        return _("Credit note for the cancellation")
    return _("Invoice")


def amount(value, currency):
    return f"{quantize(value, currency)} {currency}"


class InvoicesPanel(OrderPagePanel):
    name = "invoices"
    position = 50
    template = "accounting/order_panel.html"
    stylesheets = ("accounting/staff.css",)

    def urls(self, model_admin):
        def correct(request, pk):
            return correct_view(model_admin, request, pk)

        return [
            path("<int:pk>/invoice/issue/", model_admin.admin_site.admin_view(issue_view),
                 name="accounting_order_invoice_issue"),
            path("<int:pk>/invoice/correct/", model_admin.admin_site.admin_view(correct),
                 name="accounting_order_invoice_correct"),
        ]

    def context(self, request, order, page):
        # Two queries whatever the number of documents: the documents (with the invoice a credit note corrects),
        # and the problems.
        if not request.user.has_perm(VIEW_PERMISSION):
            return {"invoices_shown": False}
        documents = selectors.order_documents(order.pk)
        return {
            "invoices_shown": True,
            "invoice_documents": documents,
            "invoice_in_force": selectors.invoice_in_force(documents),
            "invoice_problems": [{"subject": problem_subject(p.key), "reason": p.reason, "attempts": p.attempts,
                                  "last_at": p.last_at} for p in selectors.order_invoice_problems(order.pk)],
            "can_issue_invoice": request.user.has_perm(ISSUE_PERMISSION),
        }


def _order_page(pk):
    return redirect(reverse("admin:fulfillment_order_change", args=[pk]))


def issue_view(request, pk):
    if not request.user.has_perm(ISSUE_PERMISSION):
        raise PermissionDenied
    if request.method != "POST":
        return _order_page(pk)
    order = get_object_or_404(Order.objects.select_related("store"), pk=pk)
    try:
        outcome = invoice_issue(order=order, user=request.user)
    except InvoiceError as exc:
        messages.error(request, _("No invoice issued: %(why)s") % {"why": exc})
        return _order_page(pk)
    issued = ", ".join(f"{d.number} ({amount(d.gross_total, d.currency)})" for d in outcome.issued)
    messages.success(request, _("Issued: %(documents)s.") % {"documents": issued})
    if outcome.problems:
        # The invoice is out, but a credit note it should be followed by is not (its reason is in the panel).
        messages.warning(request, _("Not issued: %(problems)s") % {"problems": "; ".join(outcome.problems)})
    return _order_page(pk)


def correct_view(model_admin, request, pk):
    """GET: what the correction will do, to confirm; POST: the correction (a credit note and a new invoice)."""
    if not request.user.has_perm(ISSUE_PERMISSION):
        raise PermissionDenied
    order = get_object_or_404(Order.objects.select_related("store"), pk=pk)
    documents = selectors.order_documents(order.pk)
    invoice = selectors.invoice_in_force(documents)
    if invoice is None:
        messages.error(request, _("Order #%(number)s has no invoice to correct.") % {"number": order.number})
        return _order_page(pk)
    rule = (InvoiceRule.objects.select_related("invoice_series", "credit_note_series")
            .filter(store_id=order.store_id).first())
    if rule is None:
        messages.error(request, _("The store %(store)s has no invoice rule: set one up under Accounting → Invoice "
                                  "rules.") % {"store": order.store})
        return _order_page(pk)
    if request.method == "POST":
        if request.POST.get("invoice") != str(invoice.pk):
            # The confirmation named another invoice: someone corrected it meanwhile. Show what is there now.
            messages.error(request, _("The order's invoice changed since the confirmation was shown: nothing was "
                                      "issued. Look at it again before correcting."))
            return _order_page(pk)
        try:
            credit, new = invoice_correct(invoice=invoice, user=request.user)
        except InvoiceError as exc:
            messages.error(request, _("Not corrected: %(why)s") % {"why": exc})
            return _order_page(pk)
        messages.success(request, _("Invoice %(invoice)s corrected: credit note %(credit)s (%(credited)s) and new "
                                    "invoice %(new)s (%(total)s).") % {
            "invoice": invoice.number, "credit": credit.number if credit else "—",
            "credited": amount(credit.gross_total if credit else 0, invoice.currency),
            "new": new.number, "total": amount(new.gross_total, new.currency)})
        return _order_page(pk)
    left = invoice.gross_total - selectors.credited_so_far(invoice, documents)
    context = {
        **model_admin.admin_site.each_context(request),
        "opts": model_admin.model._meta,
        "title": _("Correct invoice %(number)s?") % {"number": invoice.number},
        "order": order,
        "invoice": invoice,
        "left": amount(left, invoice.currency),
        "partly_credited": left != invoice.gross_total,
        "credit_series": rule.credit_series,
        "invoice_series": rule.invoice_series,
        "credit_notes": [d for d in documents if d.kind == DocumentKind.CREDIT_NOTE and d.corrects_id == invoice.pk],
    }
    return TemplateResponse(request, "accounting/invoice_correct.html", context)
