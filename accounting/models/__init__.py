from accounting.models.exports import AccountingExport, ExportRule, default_statuses, normalise_statuses
from accounting.models.invoices import (
    Invoice,
    InvoiceCounter,
    InvoiceProblem,
    InvoiceRule,
    InvoiceSeries,
    VatCheck,
)

__all__ = ["AccountingExport", "ExportRule", "Invoice", "InvoiceCounter", "InvoiceProblem", "InvoiceRule",
           "InvoiceSeries", "VatCheck", "default_statuses", "normalise_statuses"]
