"""Exporting orders to the accounting system.

An order of a store with an enabled export rule gets an export record when it is mirrored: *open* until its status
is one the shop chose, then exported once (file written, record *exported*) or *failed* with the reason. The
mirror and staff status changes queue the export the moment the status matches; a nightly job picks up whatever is
still open (a missed webhook, a rule created or changed later, a failure fixed since).
"""

import logging
from dataclasses import dataclass, field
from datetime import timedelta

from django.db import transaction
from django.db.models import Q, prefetch_related_objects
from django.utils import timezone
from django.utils.translation import gettext as _

from accounting import events
from accounting.choices import Connector, ExportState
from accounting.connectors import ExportError, connector_for
from accounting.models import AccountingExport, ExportRule
from fulfillment.models import Order
from fulfillment.task_queue import enqueue

logger = logging.getLogger("accounting.exports")

# A failed export is tried again automatically (on the order's next change, and nightly) this many times in all;
# after that only staff's "Export now / retry" sends it, so a broken directory does not fill the timeline.
MAX_AUTOMATIC_ATTEMPTS = 5
# How far back the nightly job opens records for orders that have none (a rule created after the orders were
# mirrored): three months, as the shops' previous accounting link did; older orders were booked by hand.
CATCH_UP_DAYS = 90
CHUNK = 1000


def _retryable(state, attempts):
    return state == ExportState.OPEN or (state == ExportState.FAILED and attempts < MAX_AUTOMATIC_ATTEMPTS)


def exports_follow_orders(*, order_ids):
    """Open export records for orders just written, and queue the export of those whose status now matches.

    Called inside the mirror's and the status change's transaction: two queries for a batch, none per order.
    """
    if not order_ids:
        return []
    rows = list(
        Order.objects.filter(pk__in=list(order_ids), trashed=False, store__export_rule__enabled=True,
                             store__export_rule__connector=Connector.FILE)
        .values_list("pk", "store_id", "status", "store__export_rule__statuses", "accounting_export__pk",
                     "accounting_export__state", "accounting_export__attempts")
    )
    if not rows:
        return []
    missing = [AccountingExport(order_id=pk, store_id=store_id, state=ExportState.OPEN)
               for pk, store_id, _status, _statuses, export_id, _state, _attempts in rows if export_id is None]
    created = {}
    if missing:
        # The callers hold the orders' rows, so no one else opens these records meanwhile; should it happen all the
        # same, the conflict updates nothing that matters instead of failing the whole batch of the mirror.
        for export in AccountingExport.objects.bulk_create(
                missing, update_conflicts=True, unique_fields=["order"], update_fields=["store"]):
            created[export.order_id] = export.pk
    queued = []
    for pk, _store_id, status, statuses, export_id, state, attempts in rows:
        if export_id is None:
            export_id, state, attempts = created.get(pk), ExportState.OPEN, 0
        if export_id is None or status not in (statuses or []) or not _retryable(state, attempts):
            continue
        enqueue("accounting.tasks.export_order", export_id)
        queued.append(export_id)
    return queued


def exports_follow(changes):
    """The order follower (fulfillment.followers): orders arrived, updated or moved to another status."""
    exports_follow_orders(order_ids=changes.order_ids())


def export_order(*, export_id, retry=False, user=None):
    """Export one order if its record is open (or failed and retried) and its status matches; never twice.

    Returns the export record, or None when it is gone. Safe to run twice or from several workers at once.
    """
    with transaction.atomic():
        # The record's row only: FOR UPDATE on the join would lock the order and store rows for the whole write.
        export = (AccountingExport.objects.select_for_update(of=("self",))
                  .select_related("order__store__export_rule").filter(pk=export_id).first())
        if export is None or not _due(export, retry=retry):
            return export
        order = export.order
        prefetch_related_objects([order], "lines", "refunds")
        export.attempts += 1
        try:
            # A file is written under the record's lock: a second worker waits, then finds it exported. Should the
            # commit fail after the write, the next run writes the same file name again: still one document.
            reference = connector_for(order.store.export_rule).export(order)
        except ExportError as exc:
            export.state, export.error = ExportState.FAILED, str(exc)[:2000]
            export.save(update_fields=["state", "error", "attempts", "updated_at"])
            events.export_failed_event(export, user=user).save()
            logger.warning("order %s not exported to accounting: %s", export.order_id, exc)
            return export
        export.state, export.error, export.reference = ExportState.EXPORTED, "", reference[:255]
        export.exported_at = timezone.now()
        export.save(update_fields=["state", "error", "attempts", "reference", "exported_at", "updated_at"])
        events.exported_event(export, user=user).save()
    return export


def _due(export, *, retry):
    if export.state == ExportState.EXPORTED:
        return False
    if export.state == ExportState.FAILED and not (retry or export.attempts < MAX_AUTOMATIC_ATTEMPTS):
        return False
    order = export.order
    rule = getattr(order.store, "export_rule", None)
    return bool(not order.trashed and rule is not None and rule.enabled and order.status in rule.statuses)


def export_not_due_reason(export):
    """Why `export_order` left this record alone, for staff; empty when it would export."""
    if export.state == ExportState.EXPORTED:
        return _("already exported")
    order = export.order
    rule = getattr(order.store, "export_rule", None)
    if order.trashed:
        return _("the order is in the trash")
    if rule is None or not rule.enabled:
        return _("the store's export rule is off")
    if order.status not in rule.statuses:
        return _("status %(status)s is not one that exports") % {"status": order.status_label}
    return ""


@dataclass
class ExportNowOutcome:
    exported: list = field(default_factory=list)  # records
    failed: list = field(default_factory=list)  # records, with their error
    not_due: list = field(default_factory=list)  # [(record, reason)]


def exports_export_now(*, exports, user):
    """Staff export the chosen records now: open ones whose status matches, and failed ones again."""
    outcome = ExportNowOutcome()
    for export in exports:
        reason = export_not_due_reason(export)
        if reason:
            outcome.not_due.append((export, reason))
            continue
        done = export_order(export_id=export.pk, retry=True, user=user)
        if done is not None and done.state == ExportState.EXPORTED:
            outcome.exported.append(done)
        elif done is not None and done.state == ExportState.FAILED:
            outcome.failed.append(done)
        else:  # changed meanwhile: the status moved on, the rule was switched off
            outcome.not_due.append((export, export_not_due_reason(done) if done else _("gone")))
    return outcome


@dataclass
class RunCounts:
    opened: int = 0
    exported: int = 0
    failed: int = 0
    stores: list = field(default_factory=list)

    def as_dict(self):
        return {"opened": self.opened, "exported": self.exported, "failed": self.failed}


def exports_run_open(*, store=None, now=None):
    """The nightly job: export every open (and automatically retryable failed) record whose status now matches."""
    now = now or timezone.now()
    counts = RunCounts()
    # Moneybird takes invoices, not orders: its stores' documents go through services.invoice_exports.
    rules = (ExportRule.objects.filter(enabled=True, connector=Connector.FILE).select_related("store")
             .order_by("store__slug"))
    if store is not None:
        rules = rules.filter(store=store)
    for rule in rules:
        counts.stores.append(rule.store.slug)
        counts.opened += _open_missing(rule, since=now - timedelta(days=CATCH_UP_DAYS))
        due = list(
            AccountingExport.objects.filter(store=rule.store, order__trashed=False, order__status__in=rule.statuses)
            .filter(Q(state=ExportState.OPEN) | Q(state=ExportState.FAILED, attempts__lt=MAX_AUTOMATIC_ATTEMPTS))
            .order_by("pk").values_list("pk", flat=True)
        )
        for export_id in due:
            export = export_order(export_id=export_id)
            if export is not None and export.state == ExportState.EXPORTED:
                counts.exported += 1
            elif export is not None and export.state == ExportState.FAILED:
                counts.failed += 1
    return counts


def _open_missing(rule, *, since):
    # Orders mirrored before the rule existed (or while it was off) have no record yet.
    opened = 0
    while True:
        order_ids = list(
            Order.objects.filter(store=rule.store, trashed=False, modified_at__gte=since,
                                 accounting_export__isnull=True)
            .order_by("pk").values_list("pk", flat=True)[:CHUNK]
        )
        if not order_ids:
            return opened
        AccountingExport.objects.bulk_create(
            [AccountingExport(order_id=pk, store_id=rule.store_id, state=ExportState.OPEN) for pk in order_ids],
            ignore_conflicts=True,
        )
        opened += len(order_ids)
        if len(order_ids) < CHUNK:
            return opened
