from django.db import models
from django.utils.translation import gettext_lazy as _, pgettext_lazy


class ExportState(models.TextChoices):
    # Waiting for the order to reach one of the rule's statuses (or for its export task to run).
    OPEN = "open", _("Open")
    EXPORTED = "exported", _("Exported")
    # The connector refused it; `error` says why. Retried by the nightly job a few times, then only by staff.
    FAILED = "failed", _("Failed")


class Connector(models.TextChoices):
    FILE = "file", _("File (one JSON document per order)")
    MONEYBIRD = "moneybird", _("Moneybird (invoices and credit notes)")


class DocumentKind(models.TextChoices):
    INVOICE = "invoice", pgettext_lazy("document", "Invoice")
    CREDIT_NOTE = "credit_note", _("Credit note")


class InvoiceCause(models.TextChoices):
    ORDER = "order", _("Order reached an invoicing status")
    MANUAL = "manual", _("Issued by hand")
    REFUND = "refund", _("Refund")
    CANCEL = "cancel", _("Order cancelled")
    CORRECTION = "correction", _("Correction")
