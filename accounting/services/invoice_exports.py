"""Exporting issued invoices and credit notes to the accounting system, and checking back that it holds them.

Each document is exported once, by one worker: a worker claims it for a few minutes in a short transaction, calls
the connector outside any transaction, and writes the outcome. Every claim marks the document as one that *may
exist* at the other end until the answer is in, so an attempt that died mid-call (a killed worker, a timeout after
the create) is followed by a look-up by our number before anything is created again. Retryable failures (the
system is down, its rate limit) wait and are tried again by the five-minute job; refusals are *failed* with the
reason until staff fix what the system refused and export again.
"""

import logging
from datetime import timedelta

from django.conf import settings
from django.db import transaction
from django.db.models import Q
from django.utils import timezone
from django.utils.translation import gettext as _, gettext_noop as N_

from accounting.choices import Connector, ExportState
from accounting.connectors import invoice_connector_for
from accounting.documents.serial import document_from_json
from accounting.integrations.errors import AccountingError, AccountingRetryableError
from accounting.models import ExportRule, Invoice
from fulfillment.choices import EventSource, EventType
from fulfillment.events import order_event
from fulfillment.task_queue import enqueue
from fulfillment.texts import text

logger = logging.getLogger("accounting.invoice_exports")

CLAIM = timedelta(seconds=settings.INVOICE_EXPORT_CLAIM_SECONDS)  # longer than any export takes (a Moneybird call times out after 35 s)
MAX_AUTOMATIC_ATTEMPTS = 8
BACKOFF_SECONDS = (60, 300, 900, 3600)
DUE_BATCH = 500
CHECK_BATCH = 500  # documents checked back per night: Moneybird allows 150 requests per 5 minutes
CHECK_AGAIN_DAYS = 7


def document_pdf(invoice):
    """The PDF of an issued document, made again from what it was issued as (the same bytes every time)."""
    from accounting.documents.pdf import to_pdf  # reportlab loads only where PDFs are made

    rule = getattr(invoice.store, "invoice_rule", None)
    logo = rule.logo.path if rule is not None and rule.logo else None
    return to_pdf(document_from_json(invoice.document), logo_path=logo)


def document_ubl(invoice):
    from accounting.documents.ubl import to_ubl

    return to_ubl(document_from_json(invoice.document))


def customer_key(invoice):
    """What the accounting system knows the customer by: the shop's customer id, else the e-mail address."""
    order = invoice.order
    if order.customer_woo_id:
        return f"{invoice.store.slug}-{order.customer_woo_id}"
    return f"{invoice.store.slug}-{(order.customer_email or order.number).lower()}"


def _export_rule(store_id):
    return ExportRule.objects.filter(store_id=store_id, enabled=True,
                                     connector__in=(Connector.FILE, Connector.MONEYBIRD)).first()


def invoice_export(*, invoice_id, user=None, retry=False, connector=None, now=None):
    """Export one document if it is due; returns it (or None when it is gone). Safe from several workers at once."""
    now = now or timezone.now()
    with transaction.atomic():
        invoice = Invoice.objects.select_for_update(of=("self",)).select_related("store", "order").filter(
            pk=invoice_id).first()
        if invoice is None or not _due(invoice, retry=retry, now=now):
            return invoice
        rule = _export_rule(invoice.store_id)
        if rule is None:
            return invoice
        may_exist = invoice.export_may_exist
        invoice.export_claimed_until = now + CLAIM
        invoice.export_may_exist = True
        invoice.export_attempts += 1
        invoice.export_requeues, invoice.export_requeue_after = 0, None
        invoice.save(update_fields=["export_claimed_until", "export_may_exist", "export_attempts", "export_requeues",
                                    "export_requeue_after"])
    document = document_from_json(invoice.document)
    try:
        connector = connector or invoice_connector_for(rule)
        pdf = document_pdf(invoice) if connector.wants_pdf else None
        exported = connector.export(document, customer_key=customer_key(invoice), pdf=pdf, may_exist=may_exist)
    except AccountingError as exc:
        return _failed(invoice, exc, may_exist=may_exist or exc.outcome_unknown, user=user, now=now)
    if exported.attach_error:
        # Booked, but without its PDF (the legal document): kept as booked, and exported again later, which finds it
        # by its number and attaches the PDF.
        invoice.external_id = str(exported.external_id)[:100]
        invoice.save(update_fields=["external_id"])
        error = AccountingRetryableError(_("Booked as %(reference)s, but the PDF was not attached: %(error)s") % {
            "reference": exported.external_id, "error": exported.attach_error})
        return _failed(invoice, error, may_exist=True, user=user, now=now)
    with transaction.atomic():
        invoice.export_state, invoice.export_error = ExportState.EXPORTED, ""
        invoice.external_id = str(exported.external_id)[:100]
        invoice.exported_at, invoice.export_claimed_until, invoice.export_retry_at = timezone.now(), None, None
        invoice.export_may_exist = False
        invoice.save(update_fields=["export_state", "export_error", "external_id", "exported_at",
                                    "export_claimed_until", "export_retry_at", "export_may_exist"])
        order_event(text(N_("%(number)s exported to accounting as %(reference)s"), number=invoice.number,
                         reference=invoice.external_id),
                    order_id=invoice.order_id, type=EventType.ACCOUNTING_EXPORTED,
                    source=EventSource.STAFF if user else EventSource.SYSTEM, user=user,
                    data={"invoice_id": invoice.pk, "reference": invoice.external_id}).save()
    return invoice


def _due(invoice, *, retry, now):
    if invoice.export_state == ExportState.EXPORTED:
        return False
    if invoice.export_claimed_until and invoice.export_claimed_until > now:
        return False  # another worker is exporting it
    if retry:
        return True
    if invoice.export_state == ExportState.FAILED and invoice.export_attempts >= MAX_AUTOMATIC_ATTEMPTS:
        return False
    return not invoice.export_retry_at or invoice.export_retry_at <= now


def _failed(invoice, exc, *, may_exist, user, now):
    message = str(exc)[:2000]
    with transaction.atomic():
        first_time = invoice.export_error != message
        invoice.export_error = message
        invoice.export_may_exist = bool(may_exist)
        invoice.export_claimed_until = None
        if exc.retryable and invoice.export_attempts < MAX_AUTOMATIC_ATTEMPTS:
            wait = exc.retry_after or BACKOFF_SECONDS[min(invoice.export_attempts, len(BACKOFF_SECONDS)) - 1]
            invoice.export_state, invoice.export_retry_at = ExportState.OPEN, now + timedelta(seconds=wait)
        else:
            invoice.export_state, invoice.export_retry_at = ExportState.FAILED, None
        invoice.save(update_fields=["export_error", "export_may_exist", "export_claimed_until", "export_state",
                                    "export_retry_at"])
        if first_time or invoice.export_state == ExportState.FAILED:
            order_event(text(N_("%(number)s not exported to accounting (attempt %(attempt)s): %(error)s"),
                             number=invoice.number, attempt=invoice.export_attempts, error=message),
                        order_id=invoice.order_id, type=EventType.ACCOUNTING_EXPORT_FAILED,
                        source=EventSource.STAFF if user else EventSource.SYSTEM, user=user,
                        data={"invoice_id": invoice.pk, "retryable": exc.retryable}).save()
    logger.warning("invoice %s not exported: %s", invoice.number, message)
    return invoice


def invoices_export_now(*, invoices, user):
    """Staff export the chosen documents now (failed ones again); returns {number: outcome text}."""
    done = {}
    for invoice in invoices:
        result = invoice_export(invoice_id=invoice.pk, user=user, retry=True)
        done[invoice.number] = result
    return done


def invoices_export_due(*, now=None, limit=DUE_BATCH, failed=False):
    """Queue the export of documents whose turn has come (new, or waiting after a retryable failure).

    failed: refused ones too (the nightly job, a few times in all): staff may have fixed the token or the mapping.
    """
    now = now or timezone.now()
    stores = list(ExportRule.objects.filter(enabled=True, connector__in=(Connector.FILE, Connector.MONEYBIRD))
                  .values_list("store_id", flat=True))
    due = list(
        Invoice.objects.filter(store_id__in=stores)
        .filter(Q(export_state=ExportState.OPEN)
                | Q(export_state=ExportState.FAILED, export_attempts__lt=MAX_AUTOMATIC_ATTEMPTS if failed else 0))
        .filter(Q(export_retry_at__isnull=True) | Q(export_retry_at__lte=now))
        .filter(Q(export_claimed_until__isnull=True) | Q(export_claimed_until__lte=now))
        .filter(Q(export_requeue_after__isnull=True) | Q(export_requeue_after__lte=now))
        .order_by("pk").values_list("pk", "export_requeues")[:limit])
    # A document just issued has its own task queued; one whose task waits behind a backlog (10,000 invoices issued
    # at once, workers that were down) is no harm to queue again once, but queued again at every run a backlog grew
    # by `limit` tasks every 5 minutes (bench/faults/workers_die.py). Each copy waits twice as long as the one
    # before it, from CLAIM on; the count starts again when a worker takes the document.
    by_requeues = {}
    for pk, requeues in due:
        by_requeues.setdefault(requeues, []).append(pk)
    for requeues, pks in by_requeues.items():
        Invoice.objects.filter(pk__in=pks).update(export_requeues=requeues + 1, export_requeue_after=now + min(
            CLAIM * 2 ** requeues, timedelta(days=1)))
    for pk, _requeues in due:
        enqueue("accounting.tasks.export_invoice", pk)
    return len(due)


def invoices_check_back(*, now=None, limit=CHECK_BATCH, connectors=None, invoices=None):
    """Ask the accounting system whether it holds each exported document with the same total; keep differences.

    invoices: these (staff's choice) instead of those due for a check.
    """
    now = now or timezone.now()
    connectors = connectors if connectors is not None else {}
    stale = now - timedelta(days=CHECK_AGAIN_DAYS)
    due = Invoice.objects.filter(export_state=ExportState.EXPORTED).exclude(external_id="")
    if invoices is not None:
        due = due.filter(pk__in=[invoice.pk for invoice in invoices])
    else:
        due = due.filter(Q(checked_at__isnull=True) | Q(checked_at__lt=stale) | ~Q(check_error=""))
    invoices = list(due.select_related("store").order_by("checked_at", "pk")[:limit])
    counts = {"checked": 0, "differ": 0, "unchecked": 0}
    for invoice in invoices:
        if invoice.store_id not in connectors:
            rule = _export_rule(invoice.store_id)
            connectors[invoice.store_id] = invoice_connector_for(rule) if rule else None
        connector = connectors[invoice.store_id]
        if connector is None:
            continue
        try:
            difference = connector.verify(document_from_json(invoice.document), external_id=invoice.external_id)
        except AccountingError as exc:
            counts["unchecked"] += 1
            logger.warning("invoice %s not checked back: %s", invoice.number, exc)
            if exc.status == 429:
                break  # the rest waits for tomorrow night rather than for the rate limit
            continue
        Invoice.objects.filter(pk=invoice.pk).update(checked_at=now, check_error=difference[:2000])
        counts["checked"] += 1
        counts["differ"] += bool(difference)
    return counts


def invoices_nightly(*, now=None):
    exported = invoices_export_due(now=now, failed=True)
    checked = invoices_check_back(now=now)
    return {"invoices queued": exported, "invoices checked": checked["checked"], "differ": checked["differ"]}
