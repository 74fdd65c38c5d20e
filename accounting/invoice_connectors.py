"""Connectors that book our invoices and credit notes (accounting.documents.Document) in an accounting system.

The invoice export calls `export(document, customer_key=..., pdf=..., may_exist=...)` and keeps the external id it
returns; `verify(document, external_id=...)` says in staff's words whether the system still holds the document with
its total. Errors are the typed AccountingErrors of accounting.integrations.errors (retryable, outcome_unknown,
retry_after), their messages for staff. Another system (e-Boekhouden, Exact Online) is one more InvoiceConnector.

Not the order export's connectors (accounting/connectors.py): those take an order, these take a Document. A
connector may be shared by a worker's threads: its caches only ever gain entries, and the client counts each
thread's requests apart.
"""

import logging
import os
import time
from abc import ABC, abstractmethod
from dataclasses import dataclass, replace
from decimal import Decimal, InvalidOperation

from django.utils.translation import gettext as _

from accounting.integrations.errors import (
    AccountingDuplicateError,
    AccountingError,
    AccountingRejectedError,
    AccountingRetryableError,
)
from accounting.integrations.moneybird import MoneybirdClient, choose_tax_rates, contact_payload, invoice_payload
from accounting.integrations.moneybird.client import BASE_URL
from fulfillment.money import quantize

logger = logging.getLogger("accounting.invoice_connectors")

# Seconds one export may spend waiting out the system's request limit before it gives the retry to its task: a
# worker blocked for minutes holds up every other export queued behind it.
MAX_WAIT = 60.0


@dataclass(frozen=True)
class Exported:
    external_id: str             # the system's id of the booked document
    total: Decimal | None        # the total as the system booked it, negative for a credit note (None: not said)
    requests: int                # requests this export sent
    existing: bool = False       # the system had it already (an earlier attempt got through): nothing was created
    attach_error: str = ""       # the PDF was not attached, the document is booked: export again with may_exist=True


class InvoiceConnector(ABC):
    """What the invoice export needs from an accounting system."""

    system = ""  # the system's name in messages to staff
    wants_pdf = True  # the caller renders the PDF only for a connector that keeps it

    @abstractmethod
    def export(self, document, *, customer_key, pdf=None, may_exist=False):
        """Book the document (once) and return an Exported.

        may_exist: an earlier attempt may have got through (its outcome was unknown, or this is a retry): the
        system is asked for the document before anything is created.
        """

    @abstractmethod
    def verify(self, document, *, external_id):
        """"" when the system holds the document under external_id with the same total, else the difference."""


def booked_total(document):
    """The document's gross total as an accounting system books it: a credit note's is negative."""
    total = quantize(document.gross_total, document.currency)
    return -total if document.kind == "credit_note" else total


def missing(system, document):
    values = {"system": system, "number": document.number}
    if document.kind == "credit_note":
        return _("%(system)s no longer has credit note %(number)s") % values
    return _("%(system)s no longer has invoice %(number)s") % values


def difference(system, document, *, external_id, reference, currency, total):
    """What differs between the document and the system's record of it, in staff's words ("" when nothing)."""
    if str(reference) != document.number:
        return _("%(system)s's record %(external_id)s has the reference %(reference)s, not %(number)s") % {
            "system": system, "external_id": external_id, "reference": reference or "''", "number": document.number}
    ours, theirs = booked_total(document), total
    same_currency = not currency or currency.upper() == document.currency.upper()
    if same_currency and theirs is not None and theirs == ours:
        return ""
    ours_text = str(ours) if same_currency else f"{ours} {document.currency}"
    theirs_text = "?" if theirs is None else (str(theirs) if same_currency else f"{theirs} {currency}")
    values = {"system": system, "theirs": theirs_text, "ours": ours_text}
    if document.kind == "credit_note":
        return _("%(system)s has %(theirs)s, the credit note %(ours)s") % values
    return _("%(system)s has %(theirs)s, the invoice %(ours)s") % values


class _Waits:
    """The system's request limit (429 with Retry-After) within one export: waited out while the total stays
    within max_wait, else the error goes to the caller, whose task tries again later."""

    def __init__(self, max_wait, sleep):
        self.max_wait = max_wait
        self.sleep = sleep
        self.waited = 0

    def call(self, function, *args, **kwargs):
        while True:
            try:
                return function(*args, **kwargs)
            except AccountingRetryableError as error:
                # A 429 is refused before anything is done: the same request, creations included, is safe again.
                if error.status != 429 or error.retry_after is None:
                    raise
                wait = max(error.retry_after, 1)  # "Retry-After: 0" asked again at once would spin
                if self.waited + wait > self.max_wait:
                    raise
                logger.info("request limit reached, waiting %s s (%s s so far)", wait, self.waited)
                self.sleep(wait)
                self.waited += wait


class MoneybirdConnector(InvoiceConnector):
    """Documents as Moneybird external sales invoices, their PDF attached, the buyer as a contact.

    ledger_account_id: the revenue account of every line (else Moneybird's default for the tax rate);
    tax_rate_overrides: {(VAT category, rate): Moneybird tax rate id} from the store's mapping, chosen before
    what choose_tax_rates() would pick. Contacts found or created are kept by customer key, the tax rates are read
    once: once a shop's customers are known, an export is two requests (the invoice, its PDF).
    """

    system = "Moneybird"

    def __init__(self, client, *, ledger_account_id=None, tax_rate_overrides=None, max_wait=MAX_WAIT,
                 sleep=time.sleep):
        self.client = client
        self.ledger_account_id = ledger_account_id
        self.tax_rate_overrides = {(str(category), Decimal(str(rate))): str(rate_id)
                                   for (category, rate), rate_id in (tax_rate_overrides or {}).items()}
        self.max_wait = max_wait
        self.sleep = sleep
        self.contact_ids = {}  # our customer key → Moneybird contact id
        self._tax_rates = None

    def __repr__(self):
        return f"<MoneybirdConnector {self.client!r}>"

    def export(self, document, *, customer_key, pdf=None, may_exist=False):
        if not str(customer_key or "").strip():
            raise ValueError("customer_key is required: Moneybird finds the contact again by it")
        waits = _Waits(self.max_wait, self.sleep)
        sent = self.client.requests_sent
        # Tax rates first: a rate Moneybird lacks stops the export before it leaves a new contact behind.
        tax_rate_ids = self._tax_rate_ids(document, waits)
        contact_id, new_contact = self._contact_id(document.buyer, str(customer_key), waits)
        invoice, existing = None, False
        # A contact made just now has no invoices: nothing to look for.
        if may_exist and not new_contact:
            invoice = self._booked(document, contact_id, waits)
            existing = invoice is not None
        if invoice is None:
            payload = invoice_payload(document, contact_id=contact_id, tax_rate_ids=tax_rate_ids,
                                      ledger_account_id=self.ledger_account_id)
            try:
                invoice = waits.call(self.client.create_external_sales_invoice, payload)
            except AccountingDuplicateError as error:
                # An earlier attempt got through although its answer was lost: that invoice is this one.
                invoice = self._booked(document, contact_id, waits)
                if invoice is None:
                    raise AccountingDuplicateError(_(
                        "Moneybird already has an invoice with the reference %(number)s, but not for this customer "
                        "on %(date)s: check that invoice in Moneybird before exporting again.") % {
                        "number": document.number, "date": document.issue_date.isoformat()},
                        status=error.status, details=error.details, response=error.response) from None
                existing = True
        attach_error = self._attach(invoice, document, pdf, waits) if pdf else ""
        return Exported(external_id=str(invoice["id"]), total=_total(invoice, document.currency),
                        requests=self.client.requests_sent - sent, existing=existing, attach_error=attach_error)

    def verify(self, document, *, external_id):
        invoice = _Waits(self.max_wait, self.sleep).call(self.client.get_external_sales_invoice, external_id)
        if invoice is None:
            return missing(self.system, document)
        return difference(self.system, document, external_id=external_id, reference=invoice.get("reference") or "",
                          currency=invoice.get("currency") or "", total=_total(invoice, document.currency))

    # -- steps ----------------------------------------------------------------------------------------------

    def _contact_id(self, party, customer_key, waits):
        """(Moneybird's contact id for our customer key, made just now?)."""
        if customer_key in self.contact_ids:
            return self.contact_ids[customer_key], False
        contact, created = waits.call(self.client.find_contact, customer_key), False
        if contact is None:
            try:
                contact, created = waits.call(self.client.create_contact, contact_payload(party, customer_key)), True
            except AccountingRejectedError as error:
                if "customer_id" not in error.details:
                    raise
                # Another export made the contact between our lookup and our creation (two workers, one new customer).
                contact = waits.call(self.client.find_contact, customer_key)
                if contact is None:
                    raise
        self.contact_ids[customer_key] = str(contact["id"])
        return self.contact_ids[customer_key], created

    def _tax_rate_ids(self, document, waits):
        """{(category, rate): tax rate id} for the document's lines: the store's mapping first, then Moneybird's."""
        chosen = {}
        unmapped = []
        for line in document.lines:
            key = (line.vat_category, Decimal(line.vat_rate))
            if key in self.tax_rate_overrides:
                chosen[key] = self.tax_rate_overrides[key]
            else:
                unmapped.append(line)
        if unmapped:
            if self._tax_rates is None:
                self._tax_rates = waits.call(self.client.tax_rates)
            chosen.update(choose_tax_rates(replace(document, lines=tuple(unmapped)), self._tax_rates))
        return chosen

    def _booked(self, document, contact_id, waits):
        return waits.call(self.client.find_external_sales_invoice, document.number,
                          invoice_date=document.issue_date, contact_id=contact_id)

    def _attach(self, invoice, document, pdf, waits):
        """"" once the PDF is attached (now or by an earlier attempt), else why not: the invoice stays booked."""
        if invoice.get("attachments"):
            return ""
        name = "".join(c if c.isalnum() or c in "-_" else "_" for c in document.number) or str(invoice["id"])
        try:
            waits.call(self.client.attach_pdf, invoice["id"], f"{name}.pdf", pdf)
        except AccountingError as error:
            logger.warning("invoice %s booked as %s, its PDF not attached: %s", document.number, invoice["id"], error)
            return str(error)
        return ""


def _total(invoice, currency):
    """Moneybird's total including VAT (in the invoice's currency, as a string), quantised; None if it said none."""
    try:
        return quantize(Decimal(str(invoice["total_price_incl_tax"])), currency)
    except (KeyError, TypeError, InvalidOperation):
        return None


def moneybird_connector(*, base_url=BASE_URL, administration_id, token_env, ledger_account_id=None,
                        tax_rate_overrides=None, max_wait=MAX_WAIT):
    """A MoneybirdConnector whose API token is read from the environment variable token_env.

    A missing token fails the first export with an AccountingAuthError naming the variable, not here: the caller's
    task turns it into the export's error for staff.
    """
    token = os.environ.get(token_env, "").strip()
    client = MoneybirdClient(base_url, administration_id=administration_id, token=token, token_env=token_env)
    return MoneybirdConnector(client, ledger_account_id=ledger_account_id, tax_rate_overrides=tax_rate_overrides,
                              max_wait=max_wait)
