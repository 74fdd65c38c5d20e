"""django-q2 entry points: take ids, load, call a service. Each is safe to run twice."""

from accounting.services.exports import export_order as _export_order, exports_run_open
from accounting.services.invoice_exports import invoice_export, invoices_export_due, invoices_nightly
from accounting.services.invoice_sweep import invoices_issue_lost
from accounting.services.invoices import invoices_issue_due_batch


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


def issue_invoices(order_ids):
    """The orders' invoices and credit notes (a list of ids; one id, as queued before batches, is taken too)."""
    ids = [order_ids] if isinstance(order_ids, int) else list(order_ids)
    outcomes = invoices_issue_due_batch(order_ids=ids)
    issued = [document.number for outcome in outcomes.values() for document in outcome.issued]
    problems = sum(len(outcome.problems) for outcome in outcomes.values())
    return f"{len(ids)} orders: issued {', '.join(issued) or 'nothing'}" + (
        f"; {problems} not issued" if problems else "")


def export_invoice(invoice_id):
    invoice = invoice_export(invoice_id=invoice_id)
    if invoice is None:
        return f"invoice {invoice_id} gone"
    return f"{invoice.number}: {invoice.export_state} {invoice.external_id or invoice.export_error}".strip()


def export_due_invoices():
    """Every 5 minutes: documents issued or waiting after a retryable failure are exported."""
    return f"queued {invoices_export_due()}"


def issue_lost_invoices():
    """Every 5 minutes: orders still without the document they call for, their issuing task lost with a worker."""
    return f"{invoices_issue_lost()} orders queued for issuing"
