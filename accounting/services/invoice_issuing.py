"""Numbering and writing issued documents: the documents of one transaction take their numbers together, last.

Whoever issues (accounting.services.invoices) builds and checks every document of its transaction first, with a
placeholder number, and adds it to an `Issuing`. `flush()` then takes their numbers — per series and year one
counter row locked FOR UPDATE and one update for all of them, never below the highest sequence the series holds —
and writes the documents, their timeline events and their invoice-number pushes to the shop in one insert each.
So the counter is held from the numbering to the commit, for the writes only; a rollback gives every number
back; the unique constraints (series, year, sequence), (store, number) and "one invoice in force per order" are
the last guard.
"""

from collections import defaultdict
from dataclasses import dataclass

from django.db.models import Max
from django.utils import timezone
from django.utils.translation import gettext_noop as N_

from accounting.choices import Connector, DocumentKind
from accounting.documents.serial import document_to_json
from accounting.models import ExportRule, Invoice, InvoiceCounter
from fulfillment import bulk
from fulfillment.choices import EventSource, EventType, PushKind
from fulfillment.events import order_event
from fulfillment.models import OrderEvent
from fulfillment.services.outbox import pushes_create
from fulfillment.task_queue import enqueue
from fulfillment.texts import text

PLACEHOLDER = "…"  # the number a document is checked with before it takes its real one
INVOICE_META_KEY = "_invoice_number"
# What add() sets of an Invoice: its row (the other columns take their defaults).
WRITTEN = ("store_id", "order_id", "kind", "cause", "series_id", "year", "sequence", "number", "corrects_id",
           "woo_refund_id", "issue_date", "supply_date", "currency", "net_total", "vat_total", "gross_total",
           "buyer_name", "buyer_country", "buyer_vat_id", "reverse_charge", "language", "document", "created_by_id",
           "created_at")


def take_sequences(series, year, count):
    """The first of `count` consecutive sequences of the series' year, under its counter row's lock.

    The counter is read FOR UPDATE (a second worker waits here until the first commits or rolls back) and never
    goes below the highest sequence the series holds: a counter restored from an older backup skips ahead instead
    of handing out a number that exists. The highest is read after the lock, in a statement of its own: in READ
    COMMITTED each statement sees what was committed before it began, so it sees the previous holder's documents.
    """
    counter = InvoiceCounter.objects.select_for_update().filter(series=series, year=year).first()
    if counter is None:  # the series' first number of the year: a second worker making it too waits, then reads it
        InvoiceCounter.objects.get_or_create(series=series, year=year)
        counter = InvoiceCounter.objects.select_for_update().get(series=series, year=year)
    highest = Invoice.objects.filter(series=series, year=year).aggregate(highest=Max("sequence"))["highest"] or 0
    first = max(counter.last, highest) + 1
    counter.last = first + count - 1
    counter.save(update_fields=["last"])
    return first


def take_number(series, issue_date):
    """(year, sequence, number): the next of the series, under its counter row's lock, inside the caller's transaction."""
    year = series.counter_year(issue_date)
    sequence = take_sequences(series, year, 1)
    return year, sequence, series.format(sequence, issue_date)


@dataclass
class _Pending:
    invoice: Invoice  # not saved yet: no number, no document
    document: object  # accounting.documents.Document, numbered PLACEHOLDER
    order: object
    series: object


class Issuing:
    """The documents one transaction issues: added as they are built and checked, numbered and written by flush()."""

    def __init__(self, *, user=None, dispatch=True):
        self.user = user
        self.dispatch = dispatch
        self._pending = []

    def add(self, order, series, document, *, kind, cause, corrects=None, woo_refund_id=None):
        """The document as an Invoice not saved yet (flush() numbers and writes it): its totals may be read."""
        invoice = Invoice(
            store_id=order.store_id, order=order, kind=kind, cause=cause, series=series, corrects=corrects,
            woo_refund_id=woo_refund_id, issue_date=document.issue_date, supply_date=document.supply_date,
            currency=document.currency, net_total=document.net_total, vat_total=document.vat_total,
            gross_total=document.gross_total, buyer_name=document.buyer.company or document.buyer.name,
            buyer_country=document.buyer.country, buyer_vat_id=document.buyer.vat_id,
            reverse_charge=document.reverse_charge, language=document.language, created_by=self.user,
        )
        self._pending.append(_Pending(invoice, document, order, series))
        return invoice

    def document_of(self, invoice):
        """The content of a document added here and not written yet (None for any other)."""
        return next((p.document for p in self._pending if p.invoice is invoice), None)

    def flush(self):
        """Number every document added (series by series, in the order added) and write them; returns them."""
        pending, self._pending = self._pending, []
        if not pending:
            return []
        groups = defaultdict(list)
        for item in pending:
            groups[(item.series.pk, item.series.counter_year(item.document.issue_date))].append(item)
        # Counters are locked in one order (series, year) by every worker: two of them never wait on each other.
        for series_pk, year in sorted(groups):
            items = groups[(series_pk, year)]
            first = take_sequences(items[0].series, year, len(items))
            for offset, item in enumerate(items):
                invoice = item.invoice
                invoice.year, invoice.sequence = year, first + offset
                invoice.number = item.series.format(invoice.sequence, item.document.issue_date)
                content = document_to_json(item.document)
                content["number"] = invoice.number
                invoice.document = content
        invoices = [item.invoice for item in pending]
        _write(invoices)
        bulk.upsert(OrderEvent, [
            {"order_id": e.order_id, "type": e.type, "source": e.source, "user_id": e.user_id, "message": e.message,
             "data": e.data, "text": e.text} for e in map(self._event, invoices)])
        # The shop's order shows its invoice number (the customer's emails and WooCommerce's own screens).
        pushes_create(pushes=[(invoice.order, PushKind.META, {"meta": {INVOICE_META_KEY: invoice.number},
                                                              "invoice_id": invoice.pk})
                              for invoice in invoices if invoice.kind == DocumentKind.INVOICE],
                      user=self.user, dispatch=self.dispatch)
        for invoice in invoices:
            _queue_export(invoice)
        return invoices

    def _event(self, invoice):
        source = EventSource.STAFF if self.user else EventSource.SYSTEM
        if invoice.kind == DocumentKind.INVOICE:
            spec = text(N_("Invoice %(number)s issued: %(total)s %(currency)s"), number=invoice.number,
                        total=str(invoice.gross_total), currency=invoice.currency)
            data = {"invoice_id": invoice.pk, "number": invoice.number}
        else:
            corrected = invoice.corrects.number
            spec = text(N_("Credit note %(number)s issued for invoice %(invoice)s: %(total)s %(currency)s"),
                        number=invoice.number, invoice=corrected, total=str(invoice.gross_total),
                        currency=invoice.currency)
            data = {"invoice_id": invoice.pk, "number": invoice.number, "corrects": corrected}
        return order_event(spec, order_id=invoice.order_id, type=EventType.INVOICE, source=source, user=self.user,
                           data=data)


def _write(invoices):
    """One insert for the documents (fulfillment.bulk: their JSON travels as one document); each learns its pk."""
    now = timezone.now()
    for invoice in invoices:
        invoice.created_at = now
    written = bulk.upsert(Invoice, [{name: getattr(invoice, name) for name in WRITTEN} for invoice in invoices],
                          returning=("series", "year", "sequence", "pk"))
    pks = {(series_id, year, sequence): pk for series_id, year, sequence, pk in written}
    for invoice in invoices:
        invoice.pk = pks[(invoice.series_id, invoice.year, invoice.sequence)]
        invoice._state.adding, invoice._state.db = False, Invoice.objects.db


def _queue_export(invoice):
    try:
        rule = invoice.order.store.export_rule  # read with the order
    except ExportRule.DoesNotExist:
        return
    if rule.enabled and rule.connector in (Connector.FILE, Connector.MONEYBIRD):
        enqueue("accounting.tasks.export_invoice", invoice.pk)
