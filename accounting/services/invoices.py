"""Issuing invoices and credit notes: numbered without gaps, from every path that changes an order.

- The follower (position 50) sees every change of an order and queues `invoices_issue_due` after the change's
  commit for the orders that may need a document: an invoice when the status matches the store's invoice rule, a
  credit note for each refund WooCommerce confirmed, a full credit note when an order with an invoice is cancelled.
- `invoices_issue_due_batch` (the follower's task, 20 orders) and `invoices_issue_due` (one order) issue in one
  transaction under the orders' locks: every document is built and checked first, then all of them take their
  numbers at once, last, from the series' counter row locked FOR UPDATE, and are written in one insert each
  (accounting.services.invoice_issuing). Two workers never take the same number and a rolled-back issue burns none;
  the counter never goes below the highest number the series holds, so a restored counter that is behind does not
  reuse a number. A customer's VAT number of another member state is asked of VIES outside the transaction (its
  order is left out and issued in a second one), and the credit notes of an invoice issued in the same run follow
  in a second transaction too (a credit note corrects a numbered invoice).
- A document that cannot be issued (totals off by a cent, a seller's detail missing) is not: the reason is kept as
  an InvoiceProblem, shown on the order page and in the invoices' Open list, and the next change tries again.
"""

import logging
from collections import defaultdict
from dataclasses import dataclass, field

from django.db import IntegrityError, OperationalError, transaction
from django.db.models import Exists, OuterRef
from django.utils import timezone
from django.utils.translation import gettext as _, gettext_noop as N_

from accounting.choices import DocumentKind, InvoiceCause
from accounting.documents.serial import document_from_json
from accounting.models import Invoice, InvoiceProblem, InvoiceRule, VatCheck
from accounting.services import invoice_building as building
from accounting.services.invoice_building import NotIssuable
from accounting.services.invoice_issuing import (  # noqa: F401 - INVOICE_META_KEY and take_number re-exported
    INVOICE_META_KEY,
    PLACEHOLDER,
    Issuing,
    take_number,
)
from accounting.services.vat_checks import vat_check_due, vat_check_refresh
from fulfillment.choices import EventSource, EventType, OrderStatus, RefundState
from fulfillment.events import order_event
from fulfillment.followers import Changed
from fulfillment.models import Order, Refund
from fulfillment.task_queue import enqueue
from fulfillment.texts import text

logger = logging.getLogger("accounting.invoices")

CONFIRMED_REFUNDS = (RefundState.MIRRORED, RefundState.PUSHED)
BATCH = 20  # orders per issuing task: four workers share a page of the mirror, each task's overhead is paid once
ATTEMPTS = 3  # a write conflict (SQLite's lock, a unique number taken meanwhile) is tried again this often
PASSES = 3  # transactions of one issuing: the documents, the credit notes of new invoices, after VIES


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
    """The follower's task: the orders' documents issued together (one transaction, one counter lock per series).

    Should that fail for a reason other than a write conflict (an order the code cannot handle), each order is
    issued on its own, so that one order does not hold back the others; the first error is raised after them.
    """
    try:
        return _issue_orders(order_ids)
    except Exception:
        if len(order_ids) <= 1:
            raise
        logger.exception("orders %s: issuing them together failed; issuing them one by one", list(order_ids))
    outcomes, failure = {}, None
    for order_id in order_ids:
        try:
            outcomes.update(_issue_orders([order_id]))
        except Exception as exc:  # noqa: BLE001 - raised after the other orders are issued
            failure = failure or exc
    if failure is not None:
        raise failure
    return outcomes


def invoices_issue_due(*, order_id, user=None, manual=False, vies=None):
    """Issue what the order calls for now: its invoice, credit notes for refunds, a full one when cancelled.

    manual: staff's *Issue invoice* — an invoice whatever the status, if none is in force. Returns IssueOutcome;
    safe to run twice and from several workers at once (the order's row is the lock).
    """
    return _issue_orders([order_id], user=user, manual=manual, vies=vies)[order_id]


@dataclass
class _Run:
    """What one transaction did, and the orders it leaves for the next one."""
    outcomes: dict = field(default_factory=dict)  # order pk → IssueOutcome
    vat_due: list = field(default_factory=list)  # orders whose customer's VAT number is to be asked of VIES first
    again: set = field(default_factory=set)  # orders whose new invoice has credit notes to follow


def _issue_orders(order_ids, *, user=None, manual=False, vies=None):
    outcomes = {order_id: IssueOutcome() for order_id in order_ids}
    todo, vat_checked = sorted(set(order_ids)), set()
    by_hand = set(todo) if manual else set()  # staff's invoice, until it is issued (not its credit notes after it)
    # A pass: one transaction. The next one issues, once the first committed, the credit notes of invoices it
    # issued (a credit note corrects an invoice already numbered) and the invoices VIES had to be asked about.
    for _pass in range(PASSES):
        if not todo:
            break
        run = _in_transaction(todo, user=user, by_hand=by_hand, vat_checked=vat_checked)
        for order_id, outcome in run.outcomes.items():
            outcomes[order_id].issued += outcome.issued
            outcomes[order_id].problems += outcome.problems
            outcomes[order_id].known_problems |= outcome.known_problems
        for order in run.vat_due:
            # Asked outside the transaction (no HTTP while the order is locked), then issued in the next pass.
            vat_check_refresh(order, vies=vies)
            vat_checked.add(order.pk)
        todo = sorted(run.again | {order.pk for order in run.vat_due})
        by_hand &= {order.pk for order in run.vat_due}
    return outcomes


def _in_transaction(order_ids, **options):
    for attempt in range(1, ATTEMPTS + 1):
        try:
            with transaction.atomic():
                return _issue_batch(order_ids, **options)
        except (IntegrityError, OperationalError) as exc:
            # SQLite: another writer held the database; PostgreSQL: a unique number or document was written
            # by someone else between our read and our write. Everything was rolled back: read again.
            if attempt == ATTEMPTS:
                raise
            logger.info("orders %s: issuing again after %s", order_ids, exc)
    raise AssertionError("unreachable")


def _issue_batch(order_ids, *, user, by_hand, vat_checked):
    """One transaction: the orders locked (pk order) and read in a few queries, their documents built and checked
    one by one, then numbered and written together."""
    orders = list(Order.objects.select_for_update().filter(pk__in=order_ids).order_by("pk")
                  .prefetch_related("lines"))
    ids = [order.pk for order in orders]
    rules = {rule.store_id: rule for rule in InvoiceRule.objects.select_related(
        "store", "store__export_rule", "invoice_series", "credit_note_series").filter(
        store_id__in={order.store_id for order in orders})}
    documents, refunds, known = defaultdict(list), defaultdict(list), defaultdict(set)
    if rules:
        for invoice in Invoice.objects.filter(order_id__in=ids).order_by("pk"):
            documents[invoice.order_id].append(invoice)
        for order_id, key in InvoiceProblem.objects.filter(order_id__in=ids).values_list("order_id", "key"):
            known[order_id].add(key)
        for refund in (Refund.objects.filter(order_id__in=ids, state__in=CONFIRMED_REFUNDS,
                                             woo_refund_id__isnull=False).order_by("created_at", "pk")):
            refunds[refund.order_id].append(refund)
    run = _Run()
    for order_id in set(order_ids) - set(ids):
        run.outcomes[order_id] = IssueOutcome(problems=[_("The order is gone.")])
    issuing = Issuing(user=user)
    for order in orders:
        rule = rules.get(order.store_id)
        if rule is not None:
            order.store = rule.store  # with its export rule, shared by the batch's orders
        outcome = run.outcomes[order.pk] = IssueOutcome(known_problems=known[order.pk])
        _order_due(run, issuing, order, rule, outcome, documents[order.pk], refunds[order.pk], user=user,
                   manual=order.pk in by_hand, vat_checked=order.pk in vat_checked)
    issuing.flush()
    return run


def _order_due(run, issuing, order, rule, outcome, documents, refunds, *, user, manual, vat_checked):
    if rule is None or not (rule.enabled or manual):
        if manual:
            raise InvoiceError(_("The store %(store)s has no invoice rule: set one up under Accounting → Invoice "
                                 "rules.") % {"store": order.store})
        return
    in_force = next((d for d in documents if d.kind == DocumentKind.INVOICE and not d.credited), None)
    if manual and in_force is not None:
        raise InvoiceError(_("Order #%(number)s already has invoice %(invoice)s: to change it, correct it (a credit "
                             "note and a new invoice).") % {"number": order.number, "invoice": in_force.number})
    wants_invoice = manual or (not documents and not order.trashed and order.status in rule.statuses)
    if in_force is None and wants_invoice:
        if not vat_checked and vat_check_due(order):
            run.vat_due.append(order)
            return
        invoice = _attempt(outcome, order, "invoice", lambda: _issue_invoice(
            issuing, order, rule, cause=InvoiceCause.MANUAL if manual else InvoiceCause.ORDER))
        if invoice is not None and (refunds or order.status == OrderStatus.CANCELLED):
            run.again.add(order.pk)  # its credit notes, once it has its number
        return
    if in_force is not None:
        _credit_refunds(issuing, outcome, order, rule, in_force, documents, refunds)
        if order.status == OrderStatus.CANCELLED and not in_force.credited:
            _attempt(outcome, order, "cancel", lambda: _credit_in_full(
                issuing, order, rule, in_force, documents, cause=InvoiceCause.CANCEL,
                note=_("Order #%(number)s was cancelled.") % {"number": order.number}))


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


def _issue_invoice(issuing, order, rule, *, cause):
    vat_id = building.buyer_vat_id(order)
    reverse_charge = _reverse_charge(order, rule, vat_id)
    document = building.invoice_document(order, rule=rule, number=PLACEHOLDER, issue_date=_issue_date(order),
                                         reverse_charge=reverse_charge, vat_id=vat_id if vat_id else "")
    return issuing.add(order, rule.invoice_series, document, kind=DocumentKind.INVOICE, cause=cause)


def _content(issuing, document):
    """What a document says: as issued, or as built in this transaction."""
    return issuing.document_of(document) or document_from_json(document.document)


def _credit_refunds(issuing, outcome, order, rule, invoice, documents, refunds):
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
            issuing, order, rule, invoice, documents, refund))
        if note is not None:
            documents.append(note)
            credited.add(refund.woo_refund_id)


def _credited_documents(invoice, documents):
    return [d for d in documents if d.kind == DocumentKind.CREDIT_NOTE and d.corrects_id == invoice.pk]


def _issue_refund_credit(issuing, order, rule, invoice, documents, refund):
    earlier = _credited_documents(invoice, documents)
    remaining = invoice.gross_total - sum((d.gross_total for d in earlier), 0)
    if refund.amount > remaining:
        raise NotIssuable(_("Refund %(id)s of %(amount)s is more than what invoice %(invoice)s still holds "
                            "(%(remaining)s): correct the invoice by hand.") % {
            "id": refund.woo_refund_id, "amount": refund.amount, "invoice": invoice.number, "remaining": remaining})
    document = building.refund_credit_note(order, refund, rule=rule, invoice=invoice,
                                           invoice_document_=_content(issuing, invoice), number=PLACEHOLDER,
                                           issue_date=_issue_date(order),
                                           credited_so_far=[_content(issuing, d) for d in earlier])
    note = issuing.add(order, rule.credit_series, document, kind=DocumentKind.CREDIT_NOTE, cause=InvoiceCause.REFUND,
                       corrects=invoice, woo_refund_id=refund.woo_refund_id)
    if note.gross_total == remaining:
        invoice.credited = True
        invoice.save(update_fields=["credited"])
    return note


def _credit_in_full(issuing, order, rule, invoice, documents, *, cause, note):
    so_far = [_content(issuing, d) for d in _credited_documents(invoice, documents)]
    document = building.full_credit_note(rule=rule, invoice=invoice, invoice_document_=_content(issuing, invoice),
                                         credited_so_far=so_far, number=PLACEHOLDER, issue_date=_issue_date(order),
                                         note=note)
    # Before the new invoice a correction writes with it: one invoice in force per order.
    invoice.credited = True
    invoice.save(update_fields=["credited"])
    if document is None:
        return None  # refunds credited all of it already
    return issuing.add(order, rule.credit_series, document, kind=DocumentKind.CREDIT_NOTE, cause=cause,
                       corrects=invoice)


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
        issuing = Issuing(user=user)
        try:
            credit = _credit_in_full(issuing, order, rule, invoice, documents, cause=InvoiceCause.CORRECTION,
                                     note=_("Corrects invoice %(number)s.") % {"number": invoice.number})
            new = _issue_invoice(issuing, order, rule, cause=InvoiceCause.CORRECTION)
        except NotIssuable as exc:
            # Both or neither (the error rolls the credit note back): a credit note without its new invoice would
            # leave the order uninvoiced.
            raise InvoiceError(str(exc)) from None
        issuing.flush()
    return credit, new
