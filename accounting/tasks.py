"""django-q2 entry points: take ids, load, call a service. Each is safe to run twice."""

from accounting.services.exports import export_order as _export_order, exports_run_open
from accounting.services.invoice_exports import invoice_export, invoices_export_due, invoices_nightly
from accounting.services.invoices import invoices_issue_due


def export_order(export_id):
    export = _export_order(export_id=export_id)
    if export is None:
        return f"export {export_id} gone"
    return f"{export.state} {export.reference or export.error}".strip()


def run_open_exports():
    """Nightly: whatever is still open and now matches its store's rule is exported; invoices too, and checked."""
    counts = exports_run_open()
    invoices = invoices_nightly()
    return ", ".join(f"{name}: {n}" for name, n in {**counts.as_dict(), **invoices}.items())


def issue_invoices(order_id):
    outcome = invoices_issue_due(order_id=order_id)
    issued = ", ".join(document.number for document in outcome.issued)
    return f"issued {issued or 'nothing'}" + (f"; not issued: {' '.join(outcome.problems)}" if outcome.problems
                                              else "")


def export_invoice(invoice_id):
    invoice = invoice_export(invoice_id=invoice_id)
    if invoice is None:
        return f"invoice {invoice_id} gone"
    return f"{invoice.number}: {invoice.export_state} {invoice.external_id or invoice.export_error}".strip()


def export_due_invoices():
    """Every 5 minutes: documents issued or waiting after a retryable failure are exported."""
    return f"queued {invoices_export_due()}"
