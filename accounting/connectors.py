"""Connectors to accounting systems.

- Orders: the file connector writes one JSON document per order in a directory that the accounting system (or a
  script of the bookkeeper) reads.
- Invoices and credit notes (`invoice_connector_for`): the file connector writes each document's UBL and PDF
  beside the orders; Moneybird books them as external sales invoices (accounting.invoice_connectors). Both take
  `export(document, *, customer_key, pdf, may_exist)` and `verify(document, *, external_id)`.
"""

import json
import os
import tempfile
from decimal import Decimal, InvalidOperation
from pathlib import Path

from django.conf import settings
from django.utils.translation import gettext as _

from accounting.choices import Connector
from accounting.integrations.errors import AccountingError
from accounting.invoice_connectors import Exported, InvoiceConnector
from fulfillment.money import quantize

DOCUMENT_VERSION = 1


class ExportError(Exception):
    """The accounting system did not take the order; the message is for staff."""


class FileConnector:
    """Writes `<directory>/<store slug>-<order number>.json`, whole or not at all."""

    def __init__(self, *, directory, create=False):
        self.directory = Path(directory)
        # The default location (under ACCOUNTING_EXPORT_DIR) is ours to make; a directory staff named is a mount
        # or a share the accounting system reads: if it is missing, writing beside it would lose the exports.
        self.create = create

    def file_name(self, order):
        number = "".join(c if c.isalnum() or c in "-_" else "_" for c in str(order.number)) or str(order.woo_id)
        return f"{order.store.slug}-{number}.json"

    def export(self, order):
        self.check_directory()
        name = self.file_name(order)
        body = json.dumps(order_document(order), indent=2, ensure_ascii=False, sort_keys=False)
        self.write(name, body.encode("utf-8"))
        return name

    def check_directory(self):
        if self.create:
            try:
                self.directory.mkdir(parents=True, exist_ok=True)
            except OSError as exc:
                raise ExportError(_("Cannot create the export directory %(directory)s: %(reason)s") % {
                    "directory": self.directory, "reason": exc.strerror or exc}) from None
        if not self.directory.is_dir():
            raise ExportError(_("The export directory %(directory)s does not exist or is not a directory.") % {
                "directory": self.directory})
        if not os.access(self.directory, os.W_OK | os.X_OK):
            raise ExportError(_("The export directory %(directory)s is not writable.") % {
                "directory": self.directory})

    def write(self, name, body):
        # Written beside the target and renamed: the accounting system never reads half a document, and an export
        # run again replaces the file instead of adding a second one.
        temporary = None
        try:
            handle, temporary = tempfile.mkstemp(dir=self.directory, prefix=f".{name}.", suffix=".part")
            with os.fdopen(handle, "wb") as stream:
                stream.write(body)
            os.replace(temporary, self.directory / name)
            temporary = None
        except OSError as exc:
            raise ExportError(_("Cannot write %(file)s: %(reason)s") % {
                "file": self.directory / name, "reason": exc.strerror or exc}) from None
        finally:
            if temporary and os.path.exists(temporary):
                os.unlink(temporary)


class FileInvoiceConnector(InvoiceConnector):
    """Writes `<directory>/invoices/<number>.xml` (UBL) and `.pdf`, each whole or not at all."""

    system = "files"

    def __init__(self, *, directory, create=False):
        self.files = FileConnector(directory=Path(directory) / "invoices", create=True)
        self.parent = FileConnector(directory=directory, create=create)

    def _stem(self, document):
        return "".join(c if c.isalnum() or c in "-_" else "_" for c in document.number)

    def export(self, document, *, customer_key, pdf=None, may_exist=False):
        from accounting.documents.ubl import to_ubl  # lxml loads only where UBL is written

        try:
            self.parent.check_directory()
            self.files.check_directory()
            stem = self._stem(document)
            self.files.write(f"{stem}.xml", to_ubl(document))
            if pdf is not None:
                self.files.write(f"{stem}.pdf", pdf)
        except ExportError as exc:
            raise AccountingError(str(exc)) from None
        return Exported(external_id=f"invoices/{stem}.xml", total=document.gross_total, requests=0)

    def verify(self, document, *, external_id):
        from accounting.documents.ubl import to_ubl

        path = self.parent.directory / external_id
        if not path.is_file():
            return _("The file %(file)s is no longer in the export directory.") % {"file": path}
        if path.read_bytes() != to_ubl(document):
            return _("The file %(file)s differs from the invoice as it was issued.") % {"file": path}
        return ""


def invoice_connector_for(rule):
    """The connector that exports a store's invoices and credit notes (one per process and rule version)."""
    key = (rule.pk, rule.updated_at, rule.connector)
    connector = _invoice_connectors.get(key)
    if connector is None:
        if rule.connector == Connector.FILE:
            directory = rule.directory or Path(settings.ACCOUNTING_EXPORT_DIR) / rule.store.slug
            connector = FileInvoiceConnector(directory=directory, create=not rule.directory)
        elif rule.connector == Connector.MONEYBIRD:
            from accounting.invoice_connectors import moneybird_connector

            connector = moneybird_connector(
                base_url=rule.moneybird_url, administration_id=rule.moneybird_administration,
                token_env=rule.moneybird_token_env, ledger_account_id=rule.moneybird_ledger_account or None,
                tax_rate_overrides=tax_rate_overrides(rule.moneybird_tax_rates))
        else:
            raise AccountingError(_("Unknown connector %(connector)s.") % {"connector": rule.connector})
        _invoice_connectors.clear()  # an old version of a rule is never asked for again
        _invoice_connectors[key] = connector
    return connector


_invoice_connectors = {}


def tax_rate_overrides(mapping):
    """{"S 21": "id", "AE 0": "id"} as {("S", Decimal("21")): "id"} (entries that do not read are left out)."""
    overrides = {}
    for key, value in (mapping or {}).items():
        category, _space, rate = str(key).strip().partition(" ")
        try:
            overrides[(category.upper(), Decimal(rate or "0"))] = str(value)
        except InvalidOperation:
            continue
    return overrides


def connector_for(rule):
    """The connector of a store's export rule."""
    if rule.connector == Connector.FILE:
        if rule.directory:
            return FileConnector(directory=rule.directory)
        return FileConnector(directory=Path(settings.ACCOUNTING_EXPORT_DIR) / rule.store.slug, create=True)
    raise ExportError(_("Unknown connector %(connector)s.") % {"connector": rule.connector})


# -- the document ---------------------------------------------------------------------------------------------

def _money(value, currency):
    """Money as a string quantised to the currency ("12.30"): never a float in an accounting document."""
    if value in (None, ""):
        value = "0"
    try:
        return str(quantize(Decimal(str(value)), currency))
    except (InvalidOperation, ValueError):
        raise ExportError(_("Not an amount: %(value)s") % {"value": repr(value)}) from None


def _date(value):
    return value.isoformat() if value else None


ADDRESS_KEYS = ("first_name", "last_name", "company", "address_1", "address_2", "postcode", "city", "state",
                "country", "email", "phone")


def _address(address):
    address = address or {}
    return {key: str(address.get(key) or "") for key in ADDRESS_KEYS}


def order_document(order):
    """The order as the accounting system reads it (document version 1)."""
    currency = order.currency
    raw = order.raw or {}
    lines = list(order.lines.all())
    refunds = list(order.refunds.all())
    return {
        "version": DOCUMENT_VERSION,
        "store": order.store.slug,
        "number": order.number,
        "woo_id": order.woo_id,
        "status": order.status,
        "created_at": _date(order.created_at),
        "paid_at": _date(order.paid_at),
        "completed_at": _date(order.completed_at),
        "customer": {"woo_id": order.customer_woo_id, "name": order.customer_name, "email": order.customer_email},
        "billing": _address(order.billing),
        "shipping": _address(order.shipping),
        "currency": currency,
        "prices_include_tax": order.prices_include_tax,
        "payment_method": order.payment_method,
        "payment_method_title": order.payment_method_title,
        "transaction_id": order.transaction_id,
        "totals": {
            "total": _money(order.total, currency),
            "total_tax": _money(order.total_tax, currency),
            "shipping": _money(order.shipping_total, currency),
            "shipping_tax": _money(order.shipping_tax, currency),
            "discount": _money(order.discount_total, currency),
            "discount_tax": _money(order.discount_tax, currency),
            "refunded": _money(order.refunded_total, currency),
        },
        # Per tax rate, as WooCommerce computed it: the VAT return needs the rate, not only the amount.
        "taxes": [
            {"rate_code": str(tax.get("rate_code") or ""), "label": str(tax.get("label") or ""),
             "rate_percent": str(tax.get("rate_percent") if tax.get("rate_percent") is not None else ""),
             "compound": bool(tax.get("compound")),
             "tax_total": _money(tax.get("tax_total"), currency),
             "shipping_tax_total": _money(tax.get("shipping_tax_total"), currency)}
            for tax in raw.get("tax_lines") or [] if isinstance(tax, dict)
        ],
        "lines": [
            {"woo_line_id": line.woo_line_id, "name": line.name, "sku": line.sku, "variation": line.variation,
             "product_id": line.product_id, "variation_id": line.variation_id, "quantity": line.quantity,
             "price": _money(line.price, currency), "subtotal": _money(line.subtotal, currency),
             "subtotal_tax": _money(line.subtotal_tax, currency), "total": _money(line.total, currency),
             "total_tax": _money(line.total_tax, currency)}
            for line in lines
        ],
        "shipping_lines": [
            {"method": str(item.get("method_title") or ""), "total": _money(item.get("total"), currency),
             "total_tax": _money(item.get("total_tax"), currency)}
            for item in raw.get("shipping_lines") or [] if isinstance(item, dict)
        ],
        "fee_lines": [
            {"name": str(item.get("name") or ""), "total": _money(item.get("total"), currency),
             "total_tax": _money(item.get("total_tax"), currency)}
            for item in raw.get("fee_lines") or [] if isinstance(item, dict)
        ],
        "coupons": [
            {"code": str(item.get("code") or ""), "discount": _money(item.get("discount"), currency),
             "discount_tax": _money(item.get("discount_tax"), currency)}
            for item in raw.get("coupon_lines") or [] if isinstance(item, dict)
        ],
        "refunds": [
            {"woo_refund_id": refund.woo_refund_id, "created_at": _date(refund.created_at),
             "amount": _money(refund.amount, currency), "reason": refund.reason}
            for refund in refunds
        ],
    }
