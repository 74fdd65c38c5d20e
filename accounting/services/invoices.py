"""Issuing invoices and credit notes: numbered without gaps, from every path that changes an order.

- The follower (position 50) sees every change of an order and queues `invoices_issue_due` after the change's
  commit for the orders that may need a document: an invoice when the status matches the store's invoice rule, a
  credit note for each refund WooCommerce confirmed, a full credit note when an order with an invoice is cancelled.
- `invoices_issue_due` asks VIES first when the customer gives a VAT number of another member state (HTTP, outside
  any transaction), then issues in one transaction under the order's lock: the number is taken last, from the
  series' counter row locked FOR UPDATE, so two workers never take the same number and a rolled-back issue burns
  none. The counter never goes below the highest number the series holds, so a restored counter that is behind
  does not reuse a number.
- A document that cannot be issued (totals off by a cent, a seller's detail missing) is not: the reason is kept as
  an InvoiceProblem, shown on the order page and in the invoices' Open list, and the next change tries again.
"""

import logging
from dataclasses import dataclass, field, replace

from django.db import IntegrityError, OperationalError, transaction
from django.db.models import Exists, Max, OuterRef
from django.utils import timezone
from django.utils.translation import gettext as _, gettext_noop as N_

from accounting.choices import Connector, DocumentKind, InvoiceCause
from accounting.documents.serial import document_from_json, document_to_json
from accounting.models import ExportRule, Invoice, InvoiceCounter, InvoiceProblem, InvoiceRule, VatCheck
from accounting.services import invoice_building as building
from accounting.services.invoice_building import NotIssuable
from accounting.services.vat_checks import vat_check_due, vat_check_refresh
from fulfillment.choices import EventSource, EventType, OrderStatus, PushKind, RefundState
from fulfillment.events import order_event
from fulfillment.followers import Changed
from fulfillment.models import Order
from fulfillment.services.outbox import push_create
from fulfillment.task_queue import enqueue
from fulfillment.texts import text

logger = logging.getLogger("accounting.invoices")

PLACEHOLDER = "…"  # the number a document is checked with before it takes its real one
INVOICE_META_KEY = "_invoice_number"
CONFIRMED_REFUNDS = (RefundState.MIRRORED, RefundState.PUSHED)
BATCH = 20  # orders per issuing task: four workers share a page of the mirror, each task's overhead is paid once
ATTEMPTS = 3  # a write conflict (SQLite's lock, a unique number taken meanwhile) is tried again this often


class InvoiceError(Exception):
    """Staff's request cannot be done (the message says why)."""


@dataclass
class IssueOutcome:
    issued: list = field(default_factory=list)  # Invoice rows, in the order they were issued
    problems: list = field(default_factory=list)  # reasons, in staff's words
    known_problems: set = field(default_factory=set)  # the keys of the order's InvoiceProblems when it began


# -- the follower ---------------------------------------------------------------------------------------------

def invoices_follow(changes):
    """Queue the issuing of the orders whose change may call for a document (two queries for a batch)."""
    order_ids = set(changes.order_ids())
    if not order_ids:
        return
    refunded = set(changes.order_ids(Changed.REFUND))
    in_force = Invoice.objects.filter(order=OuterRef("pk"), kind=DocumentKind.INVOICE, credited=False)
    ever = Invoice.objects.filter(order=OuterRef("pk"))
    rows = (Order.objects.filter(pk__in=order_ids, store__invoice_rule__enabled=True)
            .annotate(in_force=Exists(in_force), ever=Exists(ever))
            .values_list("pk", "status", "trashed", "store__invoice_rule__statuses", "in_force", "ever"))
    due = []
    for pk, status, trashed, statuses, has_in_force, ever_invoiced in rows:
        needs_invoice = not ever_invoiced and not trashed and status in (statuses or [])
        needs_credit = has_in_force and (pk in refunded or status == OrderStatus.CANCELLED)
        if needs_invoice or needs_credit:
            due.append(pk)
    for start in range(0, len(due), BATCH):
        enqueue("accounting.tasks.issue_invoices", sorted(due[start:start + BATCH]))


# -- issuing --------------------------------------------------------------------------------------------------

def invoices_issue_due_batch(*, order_ids):
    """The follower's task: each order issued in its own transaction, then one dispatch of their pushes per store."""
    outcomes, stores = {}, set()
    for order_id in order_ids:
        outcome = invoices_issue_due(order_id=order_id, dispatch=False)
        outcomes[order_id] = outcome
        stores.update(document.store_id for document in outcome.issued)
    for store_id in sorted(stores):
        enqueue("fulfillment.tasks.dispatch_pushes", store_id)
    return outcomes


def invoices_issue_due(*, order_id, user=None, manual=False, vies=None, dispatch=True):
    """Issue what the order calls for now: its invoice, credit notes for refunds, a full one when cancelled.

    manual: staff's *Issue invoice* — an invoice whatever the status, if none is in force. Returns IssueOutcome;
    safe to run twice and from several workers at once (the order's row is the lock).
    """
    for attempt in range(1, ATTEMPTS + 1):
        try:
            with transaction.atomic():
                return _issue_due(order_id, user=user, manual=manual, dispatch=dispatch)
        except NeedsVatCheck as needed:
            # Asked outside the transaction (no HTTP while the order is locked), then issued again.
            vat_check_refresh(needed.order, vies=vies)
            with transaction.atomic():
                return _issue_due(order_id, user=user, manual=manual, vat_checked=True, dispatch=dispatch)
        except (IntegrityError, OperationalError) as exc:
            # SQLite: another writer held the database; PostgreSQL: a unique number or document was written
            # by someone else between our read and our write. Everything was rolled back: read again.
            if attempt == ATTEMPTS:
                raise
            logger.info("order %s: issuing again after %s", order_id, exc)


class NeedsVatCheck(Exception):
    def __init__(self, order):
        super().__init__(order.pk)
        self.order = order


def _issue_due(order_id, *, user, manual, vat_checked=False, dispatch=True):
    # One query: the order (locked), its store's export and invoice rules and the rule's series.
    order = (Order.objects.select_for_update(of=("self",))
             .select_related("store", "store__export_rule", "store__invoice_rule__invoice_series",
                             "store__invoice_rule__credit_note_series")
             .filter(pk=order_id).first())
    outcome = IssueOutcome()
    if order is None:
        outcome.problems.append(_("The order is gone."))
        return outcome
    rule = getattr(order.store, "invoice_rule", None)
    if rule is None or not (rule.enabled or manual):
        if manual:
            raise InvoiceError(_("The store %(store)s has no invoice rule: set one up under Accounting → Invoice "
                                 "rules.") % {"store": order.store})
        return outcome
    documents = list(Invoice.objects.filter(order=order).order_by("pk"))
    # Read before anything is issued: the counter's lock, taken with the number, is then held for the writes only.
    outcome.known_problems = set(InvoiceProblem.objects.filter(order=order).values_list("key", flat=True))
    refunds = list(order.refunds.filter(state__in=CONFIRMED_REFUNDS, woo_refund_id__isnull=False)
                   .order_by("created_at", "pk"))
    in_force = next((d for d in documents if d.kind == DocumentKind.INVOICE and not d.credited), None)
    if manual and in_force is not None:
        raise InvoiceError(_("Order #%(number)s already has invoice %(invoice)s: to change it, correct it (a credit "
                             "note and a new invoice).") % {"number": order.number, "invoice": in_force.number})
    wants_invoice = manual or (not documents and not order.trashed and order.status in rule.statuses)
    if in_force is None and wants_invoice:
        if not vat_checked and vat_check_due(order):
            raise NeedsVatCheck(order)
        in_force = _attempt(outcome, order, "invoice", lambda: _issue_invoice(
            order, rule, user=user, cause=InvoiceCause.MANUAL if manual else InvoiceCause.ORDER, dispatch=dispatch))
        if in_force is not None:
            documents.append(in_force)
    if in_force is not None:
        _credit_refunds(outcome, order, rule, in_force, documents, refunds, user=user)
        if order.status == OrderStatus.CANCELLED and not in_force.credited:
            _attempt(outcome, order, "cancel", lambda: _credit_in_full(
                order, rule, in_force, documents, user=user, cause=InvoiceCause.CANCEL,
                note=_("Order #%(number)s was cancelled.") % {"number": order.number}))
    return outcome


def _attempt(outcome, order, key, issue):
    """Run one issue; a NotIssuable is kept as the order's problem for that key, a success clears it."""
    try:
        # No savepoint: everything that can refuse a document runs before its first write.
        invoice = issue()
    except NotIssuable as exc:
        reason = str(exc)
        outcome.problems.append(reason)
        _record_problem(order, key, reason)
        return None
    if key in outcome.known_problems:
        InvoiceProblem.objects.filter(order=order, key=key).delete()
    if invoice is not None:
        outcome.issued.append(invoice)
    return invoice


def _record_problem(order, key, reason):
    problem = InvoiceProblem.objects.filter(order=order, key=key).first()
    if problem is not None:
        problem.attempts += 1
        if problem.reason != reason:
            problem.reason = reason
        problem.save(update_fields=["reason", "attempts", "last_at"])
        return
    InvoiceProblem.objects.create(order=order, key=key, reason=reason)
    # On the timeline once, not at every change of an order that cannot be invoiced.
    order_event(text(N_("Invoice not issued: %(reason)s"), reason=reason), order_id=order.pk,
                type=EventType.INVOICE, source=EventSource.SYSTEM, data={"problem": key}).save()
    logger.warning("order %s: %s not issued: %s", order.pk, key, reason)


def _issue_date(order):
    return timezone.now().astimezone(building.store_zone(order.store)).date()


def _reverse_charge(order, rule, vat_id):
    """Reverse charge: a business of another member state, its VAT number valid in VIES, charged no VAT."""
    if not vat_id or order.total_tax != 0:
        return False
    country, seller = building.vat_country(vat_id), building.vat_country(rule.seller_country)
    if country not in building.EU or country == seller:
        return False
    check = VatCheck.objects.filter(vat_id=vat_id).first()
    if check is None:
        raise NotIssuable(_("The customer's VAT number %(vat_id)s has not been checked in VIES yet (the service "
                            "could not be reached): the invoice is issued once it has been.") % {"vat_id": vat_id})
    if not check.valid:
        raise NotIssuable(_("The shop charged no VAT, but VIES says the customer's VAT number %(vat_id)s is not "
                            "valid: charge the VAT in WooCommerce, or ask the customer for a valid number.")
                          % {"vat_id": vat_id})
    return True


def _issue_invoice(order, rule, *, user, cause, dispatch=True):
    vat_id = building.buyer_vat_id(order)
    reverse_charge = _reverse_charge(order, rule, vat_id)
    issue_date = _issue_date(order)
    document = building.invoice_document(order, rule=rule, number=PLACEHOLDER, issue_date=issue_date,
                                         reverse_charge=reverse_charge, vat_id=vat_id if vat_id else "")
    invoice = _save(order, rule.invoice_series, document, kind=DocumentKind.INVOICE, cause=cause, user=user)
    order_event(text(N_("Invoice %(number)s issued: %(total)s %(currency)s"), number=invoice.number,
                     total=str(invoice.gross_total), currency=invoice.currency),
                order_id=order.pk, type=EventType.INVOICE, source=EventSource.STAFF if user else EventSource.SYSTEM,
                user=user, data={"invoice_id": invoice.pk, "number": invoice.number}).save()
    # The shop's order shows its invoice number (the customer's emails and WooCommerce's own screens).
    push_create(order=order, kind=PushKind.META, user=user, dispatch=dispatch,
                payload={"meta": {INVOICE_META_KEY: invoice.number}, "invoice_id": invoice.pk})
    return invoice


def _credit_refunds(outcome, order, rule, invoice, documents, refunds, *, user):
    credited = {d.woo_refund_id for d in documents if d.cause == InvoiceCause.REFUND}
    for refund in refunds:
        if refund.woo_refund_id in credited or invoice.credited:
            continue
        key = f"refund:{refund.woo_refund_id}"
        if refund.lines_pending:
            # Its lines are being fetched from WooCommerce (a refund made there): the fetch changes the order again.
            _record_problem(order, key, _("Waiting for the lines of refund %(id)s from WooCommerce.") % {
                "id": refund.woo_refund_id})
            outcome.problems.append(key)
            continue
        note = _attempt(outcome, order, key, lambda refund=refund: _issue_refund_credit(
            order, rule, invoice, documents, refund, user=user))
        if note is not None:
            documents.append(note)
            credited.add(refund.woo_refund_id)


def _credited_documents(invoice, documents):
    return [d for d in documents if d.kind == DocumentKind.CREDIT_NOTE and d.corrects_id == invoice.pk]


def _issue_refund_credit(order, rule, invoice, documents, refund, *, user):
    issued = document_from_json(invoice.document)
    earlier = _credited_documents(invoice, documents)
    remaining = invoice.gross_total - sum((d.gross_total for d in earlier), 0)
    if refund.amount > remaining:
        raise NotIssuable(_("Refund %(id)s of %(amount)s is more than what invoice %(invoice)s still holds "
                            "(%(remaining)s): correct the invoice by hand.") % {
            "id": refund.woo_refund_id, "amount": refund.amount, "invoice": invoice.number, "remaining": remaining})
    document = building.refund_credit_note(order, refund, rule=rule, invoice=invoice, invoice_document_=issued,
                                           number=PLACEHOLDER, issue_date=_issue_date(order),
                                           credited_so_far=[document_from_json(d.document) for d in earlier])
    note = _save(order, rule.credit_series, document, kind=DocumentKind.CREDIT_NOTE, cause=InvoiceCause.REFUND,
                 user=user, corrects=invoice, woo_refund_id=refund.woo_refund_id)
    _credited_event(order, note, invoice, user)
    if note.gross_total == remaining:
        invoice.credited = True
        invoice.save(update_fields=["credited"])
    return note


def _credit_in_full(order, rule, invoice, documents, *, user, cause, note):
    issued = document_from_json(invoice.document)
    so_far = [document_from_json(d.document) for d in _credited_documents(invoice, documents)]
    document = building.full_credit_note(rule=rule, invoice=invoice, invoice_document_=issued,
                                         credited_so_far=so_far, number=PLACEHOLDER, issue_date=_issue_date(order),
                                         note=note)
    invoice.credited = True
    invoice.save(update_fields=["credited"])
    if document is None:
        return None  # refunds credited all of it already
    credit = _save(order, rule.credit_series, document, kind=DocumentKind.CREDIT_NOTE, cause=cause, user=user,
                   corrects=invoice)
    _credited_event(order, credit, invoice, user)
    return credit


def _credited_event(order, note, invoice, user):
    order_event(text(N_("Credit note %(number)s issued for invoice %(invoice)s: %(total)s %(currency)s"),
                     number=note.number, invoice=invoice.number, total=str(note.gross_total),
                     currency=note.currency),
                order_id=order.pk, type=EventType.INVOICE, source=EventSource.STAFF if user else EventSource.SYSTEM,
                user=user, data={"invoice_id": note.pk, "number": note.number, "corrects": invoice.number}).save()


def take_number(series, issue_date):
    """(year, sequence, number): the next of the series, under its counter row's lock, inside the caller's transaction.

    The counter is read FOR UPDATE (a second worker waits here until the first commits or rolls back) and never
    goes below the highest sequence the series holds: a counter restored from an older backup skips ahead instead of
    handing out a number that exists.
    """
    year = series.counter_year(issue_date)
    counter = InvoiceCounter.objects.select_for_update().filter(series=series, year=year).first()
    if counter is None:  # the series' first number of the year: a second worker making it too waits, then reads it
        InvoiceCounter.objects.get_or_create(series=series, year=year)
        counter = InvoiceCounter.objects.select_for_update().get(series=series, year=year)
    highest = Invoice.objects.filter(series=series, year=year).aggregate(highest=Max("sequence"))["highest"] or 0
    sequence = max(counter.last, highest) + 1
    counter.last = sequence
    counter.save(update_fields=["last"])
    return year, sequence, series.format(sequence, issue_date)


def _save(order, series, document, *, kind, cause, user, corrects=None, woo_refund_id=None):
    # Everything that can refuse the document has run: only now is a number taken, as the transaction's last lock.
    year, sequence, number = take_number(series, document.issue_date)
    document = replace(document, number=number)
    invoice = Invoice.objects.create(
        store_id=order.store_id, order=order, kind=kind, cause=cause, series=series, year=year, sequence=sequence,
        number=number, corrects=corrects, woo_refund_id=woo_refund_id, issue_date=document.issue_date,
        supply_date=document.supply_date, currency=document.currency, net_total=document.net_total,
        vat_total=document.vat_total, gross_total=document.gross_total, buyer_name=document.buyer.company or
        document.buyer.name, buyer_country=document.buyer.country, buyer_vat_id=document.buyer.vat_id,
        reverse_charge=document.reverse_charge, language=document.language, document=document_to_json(document),
        created_by=user,
    )
    _queue_export(order, invoice)
    return invoice


def _queue_export(order, invoice):
    try:
        rule = order.store.export_rule  # read with the order
    except ExportRule.DoesNotExist:
        return
    if rule.enabled and rule.connector in (Connector.FILE, Connector.MONEYBIRD):
        enqueue("accounting.tasks.export_invoice", invoice.pk)


# -- staff ----------------------------------------------------------------------------------------------------

def invoice_issue(*, order, user):
    """Staff issue the order's invoice now (whatever its status); raises InvoiceError with the reason it cannot."""
    outcome = invoices_issue_due(order_id=order.pk, user=user, manual=True)
    invoices = [d for d in outcome.issued if d.kind == DocumentKind.INVOICE]
    if not invoices:
        raise InvoiceError(" ".join(outcome.problems) or _("No invoice was issued."))
    return outcome


def invoice_correct(*, invoice, user):
    """A correction: a credit note for the whole invoice and a new invoice of the order as it is now."""
    if invoice.kind != DocumentKind.INVOICE:
        raise InvoiceError(_("%(number)s is a credit note: correct the invoice it belongs to.") % {
            "number": invoice.number})
    with transaction.atomic():
        order = (Order.objects.select_for_update(of=("self",)).select_related("store", "store__export_rule")
                 .get(pk=invoice.order_id))
        invoice = Invoice.objects.select_for_update().get(pk=invoice.pk)
        if invoice.credited:
            raise InvoiceError(_("Invoice %(number)s is credited in full already.") % {"number": invoice.number})
        rule = InvoiceRule.objects.select_related("invoice_series", "credit_note_series").get(store_id=order.store_id)
        documents = list(Invoice.objects.filter(order=order).order_by("pk"))
        try:
            credit = _credit_in_full(order, rule, invoice, documents, user=user, cause=InvoiceCause.CORRECTION,
                                     note=_("Corrects invoice %(number)s.") % {"number": invoice.number})
            new = _issue_invoice(order, rule, user=user, cause=InvoiceCause.CORRECTION)
        except NotIssuable as exc:
            # Both or neither (the error rolls the credit note back): a credit note without its new invoice would
            # leave the order uninvoiced.
            raise InvoiceError(str(exc)) from None
    return credit, new
