"""Accounting's part of the demo: exports, invoices and credit notes.

The first demo shop books its completed orders (files under ACCOUNTING_EXPORT_DIR); when scripts/run.sh started the
Moneybird stand-in (DEMO_MONEYBIRD_URL, token in DEMO_MONEYBIRD_TOKEN), it books its invoices and credit notes there
instead, and the second shop writes files. Both shops invoice their
processing and completed orders; once a shop's orders are in, its invoices are issued at once (not left to the
worker), and its refunded orders get their invoice and the credit note of the refund, so that the Invoices list,
the order pages and My Account show both kinds of document.
"""

import os

from django.db import transaction

from accounting.choices import Connector
from accounting.models import ExportRule, Invoice, InvoiceRule, InvoiceSeries
from accounting.services.invoices import invoice_issue, invoices_issue_due
from fulfillment.models import Order, Refund

SELLERS = [
    {"seller_name": "Fotoboek & Co B.V. (demo)", "seller_street": "Keizersgracht 123", "seller_postcode": "1015 CJ",
     "seller_city": "Amsterdam", "seller_country": "NL", "seller_vat_id": "NL854091798B01",
     "seller_email": "finance@fotoboek.example", "note": "KvK 12345678 · IBAN NL91 ABNA 0417 1643 00"},
    {"seller_name": "Mugs of London Ltd (demo)", "seller_street": "1 Carnaby Street", "seller_postcode": "W1F 9PS",
     "seller_city": "London", "seller_country": "GB", "seller_vat_id": "GB123456789",
     "seller_email": "accounts@mugs.example", "note": "Registered in England no. 01234567"},
]
DEMO_CREDIT_NOTES = 5  # refunded orders of each shop given an invoice and the credit note of their refund


MONEYBIRD_URL_ENV, MONEYBIRD_TOKEN_ENV = "DEMO_MONEYBIRD_URL", "DEMO_MONEYBIRD_TOKEN"
MONEYBIRD_ADMINISTRATION = "416830557302097823"  # the stand-in's administration (tests/fakes/moneybird.py)


def demo_export_rule(store, index):
    moneybird = os.environ.get(MONEYBIRD_URL_ENV, "").rstrip("/")
    if moneybird and index == 0:
        ExportRule.objects.update_or_create(store=store, defaults={
            "connector": Connector.MONEYBIRD, "moneybird_url": moneybird,
            "moneybird_administration": os.environ.get("DEMO_MONEYBIRD_ADMINISTRATION", MONEYBIRD_ADMINISTRATION),
            "moneybird_token_env": MONEYBIRD_TOKEN_ENV})
    elif moneybird or index == 0:
        ExportRule.objects.update_or_create(store=store, defaults={"connector": Connector.FILE},
                                            create_defaults={"connector": Connector.FILE, "statuses": ["completed"]})


def demo_invoice_rule(store, index):
    series, _ = InvoiceSeries.objects.get_or_create(store=store, prefix="{year}-", defaults={"name": "Invoices"})
    credit, _ = InvoiceSeries.objects.get_or_create(store=store, prefix="CN{year}-",
                                                    defaults={"name": "Credit notes"})
    InvoiceRule.objects.get_or_create(store=store, defaults={
        "invoice_series": series, "credit_note_series": credit, **SELLERS[index % len(SELLERS)]})


def demo_invoices(store, index):
    """Issue the shop's due invoices now, and invoice a few refunded orders with the credit notes of their refunds."""
    due = (Order.objects.filter(store=store, status__in=store.invoice_rule.statuses, invoices__isnull=True)
           .values_list("pk", flat=True))
    for order_id in list(due):
        invoices_issue_due(order_id=order_id)
    refunded = list(Order.objects.filter(store=store, status="refunded", invoices__isnull=True).order_by("pk")
                    [:DEMO_CREDIT_NOTES])
    for order in refunded:
        # Without the shop's stand-in the lines of its refunds are never fetched: the whole amount is credited.
        Refund.objects.filter(order=order).update(lines_pending=False)
        with transaction.atomic():
            invoice_issue(order=order, user=None)
    return Invoice.objects.filter(store=store).count()
