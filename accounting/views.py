"""Downloads of issued invoices and credit notes: the customers' My Account pages, and the staff's files.

A customer sees only the documents of their own orders (accounting.selectors.customer_documents: their shop's
customer id, or a guest order with their confirmed address): another customer's document is a 404, never a 403
that would tell it exists. Staff need the invoices' view permission.
"""

from django.contrib.admin.views.decorators import staff_member_required
from django.contrib.auth.decorators import login_required, permission_required
from django.core.paginator import Paginator
from django.http import Http404, HttpResponse
from django.shortcuts import get_object_or_404, render
from django.utils.http import content_disposition_header
from django.views.decorators.http import require_GET

from accounting import selectors
from accounting.models import Invoice
from accounting.services.invoice_exports import document_pdf, document_ubl

# fmt → (how the file is made, its media type, its extension)
FORMATS = {
    "pdf": (document_pdf, "application/pdf", "pdf"),
    "ubl": (document_ubl, "application/xml", "xml"),
}

customer_required = login_required(login_url="account:login")


def document_file(invoice, fmt):
    """The document's PDF or UBL, made again from what it was issued as, as a download."""
    if fmt not in FORMATS:
        raise Http404
    make, content_type, extension = FORMATS[fmt]
    response = HttpResponse(make(invoice), content_type=content_type)
    response["Content-Disposition"] = content_disposition_header(
        as_attachment=True, filename=f"{invoice.file_stem}.{extension}")
    # An issued document never changes, but it holds a customer's name and address: no shared cache keeps it.
    response["Cache-Control"] = "private, max-age=3600"
    return response


@customer_required
@require_GET
def invoice_list(request):
    paginator = Paginator(selectors.customer_documents(user=request.user), 25)
    page = paginator.get_page(request.GET.get("page"))
    return render(request, "accounting/account/invoices.html", {"page": page, "documents": page.object_list})


@customer_required
@require_GET
def invoice_file(request, pk, fmt):
    invoice = selectors.customer_document(user=request.user, pk=pk)
    if invoice is None:
        raise Http404
    return document_file(invoice, fmt)


@staff_member_required
@permission_required("accounting.view_invoice", raise_exception=True)
@require_GET
def staff_invoice_file(request, pk, fmt):
    invoice = get_object_or_404(Invoice.objects.select_related("store", "order"), pk=pk)
    return document_file(invoice, fmt)
