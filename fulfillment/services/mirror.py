"""Writing WooCommerce's orders into the mirror: one bulk upsert for a batch, never a query per order."""

import logging
from collections import defaultdict
from dataclasses import dataclass, field

from django.db import DataError, transaction
from django.db.models import Case, DateTimeField, Q, Value, When
from django.utils import timezone

from fulfillment import bulk, events
from fulfillment.choices import EventSource, RefundState
from fulfillment.followers import Changed, OrderChange, orders_changed
from fulfillment.integrations.woocommerce.mapping import MappingError, map_order, parse_gmt
from fulfillment.models import Order, OrderEvent, OrderLine, Refund
from fulfillment.task_queue import enqueue

logger = logging.getLogger("fulfillment.mirror")

# What an import, webhook or reconcile may write. Local fields (submission state, countdowns, ...)
# are deliberately absent so that no sync ever overwrites them.
MIRROR_FIELDS = [
    "number", "status", "created_via", "parent_woo_id", "created_at", "modified_at", "paid_at", "completed_at",
    "customer_woo_id", "customer_name", "customer_email", "city", "state", "country", "billing", "shipping",
    "customer_note", "currency", "prices_include_tax", "total", "total_tax", "shipping_total", "shipping_tax",
    "discount_total", "discount_tax", "refunded_total", "payment_method", "payment_method_title",
    "transaction_id", "item_count", "order_type", "raw", "raw_hash", "trashed",
]
# Orders per task fetching the lines of refunds made in WooCommerce: one request each, so a slow shop keeps a task
# well inside the worker's timeout, and a page of 100 orders queues a handful of tasks, not one per order.
REFUND_LINES_CHUNK = 20
LINE_FIELDS = [
    "name", "product_id", "variation_id", "sku", "variation", "quantity", "price", "subtotal", "subtotal_tax",
    "total", "total_tax", "image_src", "project_ref", "meta",
]


@dataclass
class UpsertResult:
    created: list = field(default_factory=list)  # woo ids
    updated: list = field(default_factory=list)
    unchanged: list = field(default_factory=list)
    stale: list = field(default_factory=list)  # older than what is stored: ignored
    failed: list = field(default_factory=list)  # [(woo_id or None, reason)]

    def add(self, other):
        for name in ("created", "updated", "unchanged", "stale", "failed"):
            getattr(self, name).extend(getattr(other, name))


def _payload_id(payload):
    return payload.get("id") if isinstance(payload, dict) else None


@dataclass
class MappedBatch:
    """A batch of payloads mapped (no database needed): the newest version of each order, and the failures."""
    orders: dict  # woo id -> MappedOrder
    failed: list  # [(woo_id or None, reason)]


def orders_map(payloads, *, store_slug=""):
    """Map a batch of payloads; pure, so an import can map the next page while the current one is written."""
    mapped, failed = {}, []
    for payload in payloads:
        try:
            order = map_order(payload)
        except MappingError as exc:
            failed.append((_payload_id(payload), str(exc)))
            logger.warning("store %s: order %s not mirrored: %s", store_slug, _payload_id(payload), exc)
            continue
        previous = mapped.get(order.woo_id)
        if previous is None or order.fields["modified_at"] >= previous.fields["modified_at"]:
            mapped[order.woo_id] = order
    return MappedBatch(orders=mapped, failed=failed)


def orders_upsert(*, store, payloads, source, batch=None, read_at=None):
    """Mirror a batch of WooCommerce order payloads; older versions than the stored ones are ignored.

    `batch` is the payloads already mapped by `orders_map` (then `payloads` is not read again). An order the
    database refuses fails alone, with the database's reason, and the rest of the batch is mirrored. `read_at`,
    when given, is a time before which the shop was not asked for these payloads: a live version read after an
    order was marked trashed here shows the order was restored (see `_restored_after_trash`).
    """
    batch = batch if batch is not None else orders_map(payloads, store_slug=store.slug)
    result = UpsertResult(failed=list(batch.failed))
    if not batch.orders:
        return result
    try:
        result.add(_upsert_mapped(store, batch.orders, source, read_at))
    except DataError:
        if len(batch.orders) == 1:
            raise
        # Which order it was (a value PostgreSQL cannot hold, an amount too large): each in its own transaction.
        for woo_id, order in batch.orders.items():
            try:
                result.add(_upsert_mapped(store, {woo_id: order}, source, read_at))
            except DataError as exc:
                reason = f"The database refused the order: {exc}".strip()
                result.failed.append((woo_id, reason))
                logger.warning("store %s: order %s not mirrored: %s", store.slug, woo_id, reason)
    return result


def _upsert_mapped(store, mapped, source, read_at=None):
    result = UpsertResult()
    with transaction.atomic():
        # Locking the existing rows makes "is this newer than what is stored?" and the write one step,
        # so a late webhook and a reconcile running together cannot put an older version back.
        existing = {
            o.woo_id: o
            for o in Order.objects.select_for_update()
            .filter(store=store, woo_id__in=list(mapped))
            .order_by("pk")
            .only("id", "woo_id", "number", "status", "modified_at", "raw_hash", "trashed")
        }
        last_sent = _restored_after_trash(existing, mapped, read_at)
        to_write, receipts = [], {}
        for woo_id, order in mapped.items():
            current = existing.get(woo_id)
            if current is None:
                pass  # created, unless another transaction inserts it meanwhile: the upsert tells
            elif woo_id in last_sent:
                if order.fields["modified_at"] < last_sent[woo_id]:
                    result.stale.append(woo_id)
                    continue
                if order.fields["modified_at"] < current.modified_at:
                    receipts[current.pk] = order.fields["modified_at"]
            elif order.fields["raw_hash"] == current.raw_hash:
                result.unchanged.append(woo_id)
                continue
            elif order.fields["modified_at"] < current.modified_at:
                result.stale.append(woo_id)
                continue
            to_write.append(order)
        if not to_write:
            return result
        if receipts:
            # Their stored version is our receipt time of the deletion, and the upsert only overwrites a row whose
            # version is not newer: it goes back to the restore's. The rows are locked: nobody sees it meanwhile.
            Order.objects.filter(pk__in=list(receipts)).update(
                modified_at=Case(*(When(pk=pk, then=Value(when)) for pk, when in receipts.items()),
                                 output_field=DateTimeField()))

        # The upsert returns the rows' ids, so the orders written are not read back. An order another transaction
        # inserted since the lookup above (a webhook and an import of a new order at once) is only overwritten
        # by a version at least as new; one that is not is left out of what is returned, and so of what follows.
        written = {woo_id: (pk, inserted) for woo_id, pk, inserted in bulk.upsert(
            Order,
            [{"store_id": store.pk, "woo_id": o.woo_id, **o.fields, "raw": bulk.Encoded(o.fields["raw"], o.raw_json)}
             for o in to_write],
            unique_fields=["store", "woo_id"],
            update_fields=MIRROR_FIELDS,
            returning=["woo_id", "id", bulk.INSERTED],
            update_unless_newer="modified_at",
        )}
        result.stale.extend(o.woo_id for o in to_write if o.woo_id not in written)
        to_write = [o for o in to_write if o.woo_id in written]
        result.created.extend(o.woo_id for o in to_write if written[o.woo_id][1])
        result.updated.extend(o.woo_id for o in to_write if not written[o.woo_id][1])
        # Written over a row another transaction inserted meanwhile: it wrote the order's creation, and the
        # status it had is not known here, so no event of ours for it.
        raced = {o.woo_id for o in to_write if not written[o.woo_id][1] and o.woo_id not in existing}
        saved = {o.woo_id: _written(o, written[o.woo_id][0]) for o in to_write}
        _upsert_lines(to_write, saved, all_new=all(inserted for _, inserted in written.values()))
        refund_events, refund_lines_to_fetch, refunds_of = _upsert_refunds(to_write, saved, source)
        _write_events([o for o in to_write if o.woo_id not in raced], saved, existing, source, refund_events)
        orders_changed([_change(o, saved, existing, raced, refunds_of) for o in to_write], source=source)
        _queue_refund_lines(refund_lines_to_fetch, source)
    return result


def _restored_after_trash(existing, mapped, read_at):
    """{woo id: the last date WooCommerce sent} of the trashed orders whose live version was read after the trash.

    A deletion's webhook carries no date, so a trashed order's version is our receipt time of it (see
    order_mark_trashed). A restore made in the shop while that deletion was on its way (deliveries come 20-60 s
    late) is dated before it and would be ignored as stale for ever. A live version read from the shop after the
    order was marked trashed can only be a restore, so it is compared with the last version WooCommerce sent
    (raw's date_modified_gmt) instead. A version whose read time is not known (an order.updated delivery) may be
    one sent before the deletion and is compared with the receipt as before. Read only for those orders, one
    query, and none at all on a page without them.
    """
    if read_at is None:
        return {}
    candidates = [current.pk for woo_id, current in existing.items()
                  if current.trashed and not mapped[woo_id].fields["trashed"] and current.modified_at < read_at]
    if not candidates:
        return {}
    last_sent = {}
    for woo_id, value in Order.objects.filter(pk__in=candidates).values_list("woo_id", "raw__date_modified_gmt"):
        try:
            sent = parse_gmt(value, "date_modified_gmt")
        except MappingError:
            sent = None
        if sent is not None:
            last_sent[woo_id] = sent
    return last_sent


@dataclass(slots=True)
class WrittenOrder:
    """What the rest of the upsert needs of an order it wrote, without reading it back (nor making a model)."""
    pk: int
    woo_id: int
    number: str
    status: str
    trashed: bool
    modified_at: object


def _written(mapped, pk):
    fields = mapped.fields
    return WrittenOrder(pk=pk, woo_id=mapped.woo_id, number=fields["number"], status=fields["status"],
                        trashed=fields["trashed"], modified_at=fields["modified_at"])


def _change(mapped, saved, existing, raced, refunds_of):
    """What the followers learn of an order written: arrived, or updated (and its status, trash, refunds)."""
    order, before = saved[mapped.woo_id], existing.get(mapped.woo_id)
    refund_ids = tuple(refunds_of.get(order.pk, ()))
    if mapped.woo_id in raced:
        # Written over a row another transaction inserted meanwhile: that one told the arrival, and the status the
        # row had is not known here. What was written is an update, nothing more.
        return OrderChange(order.pk, frozenset({Changed.UPDATED}), order.status, order.status, refund_ids)
    if before is None:
        return OrderChange(order.pk, frozenset({Changed.ARRIVED}), None, order.status, refund_ids)
    what = {Changed.UPDATED}
    if before.status != order.status:
        what.add(Changed.STATUS)
    if before.trashed != order.trashed:
        what.add(Changed.TRASHED if order.trashed else Changed.RESTORED)
    if refund_ids:
        what.add(Changed.REFUND)
    return OrderChange(order.pk, frozenset(what), before.status, order.status, refund_ids)


def _upsert_lines(mapped_orders, saved, *, all_new):
    rows, keep = [], set()
    for mapped in mapped_orders:
        order_id = saved[mapped.woo_id].pk
        for line in mapped.lines:
            rows.append({"order_id": order_id, "woo_line_id": line.woo_line_id, **line.fields})
            keep.add((order_id, line.woo_line_id))
    bulk.upsert(OrderLine, rows, unique_fields=["order", "woo_line_id"], update_fields=LINE_FIELDS)
    if all_new:
        return  # orders that did not exist before this batch have no other lines
    # A line removed in WooCommerce (an edited pending order) goes: the payload is the whole order.
    gone = [
        pk
        for pk, order_id, woo_line_id in OrderLine.objects.filter(
            order_id__in=[o.pk for o in saved.values()]
        ).values_list("pk", "order_id", "woo_line_id")
        if (order_id, woo_line_id) not in keep
    ]
    if gone:
        OrderLine.objects.filter(pk__in=gone).delete()


def _upsert_refunds(mapped_orders, saved, source):
    """New refunds (made in WooCommerce) and changed ones.

    Returns (their events, the orders whose refund lines to fetch, {order id: [ids of the refunds new or changed]}).

    The order's JSON gives a refund's id, reason and total only: its lines (what quantities it took back) are
    fetched from the order's refunds list by a task after the commit.
    """
    known, in_flight, lines_unknown = {}, defaultdict(list), set()
    for pk, order_id, woo_refund_id, amount, reason, state, lines_pending in Refund.objects.filter(
        Q(woo_refund_id__isnull=False) | Q(state=RefundState.PENDING), order_id__in=[o.pk for o in saved.values()]
    ).values_list("pk", "order_id", "woo_refund_id", "amount", "reason", "state", "lines_pending"):
        if woo_refund_id is None:
            in_flight[order_id].append(amount)
        else:
            known[(order_id, woo_refund_id)] = (pk, amount, reason)
            if lines_pending:
                lines_unknown.add(order_id)  # an earlier fetch did not get through: try again
    new, changed, currency_of = [], [], {}
    for mapped in mapped_orders:
        order = saved[mapped.woo_id]
        for refund in mapped.refunds:
            current = known.get((order.pk, refund.woo_refund_id))
            if current is None:
                # Dated from the order's change until the refunds list gives the refund's own date.
                new.append(Refund(order_id=order.pk, woo_refund_id=refund.woo_refund_id, amount=refund.amount,
                                  reason=refund.reason, created_at=order.modified_at, lines_pending=True))
                currency_of[order.pk] = mapped.fields["currency"]
            elif (current[1], current[2]) != (refund.amount, refund.reason):
                changed.append(Refund(pk=current[0], order_id=order.pk, amount=refund.amount, reason=refund.reason))
    if new:
        Refund.objects.bulk_create(new)
    if changed:
        Refund.objects.bulk_update(changed, ["amount", "reason"])
    rows = []
    for refund in new:
        lookalikes = in_flight.get(refund.order_id, [])
        if refund.amount in lookalikes:
            # A refund of ours WooCommerce made before its answer reached us (a timeout) looks like this: no
            # "refunded in WooCommerce" yet. The lines' fetch reads our id in its meta and tells which it is.
            lookalikes.remove(refund.amount)
            continue
        rows.append(events.refunded_in_woo_event(refund, currency=currency_of[refund.order_id], source=source))
    refunds_of = defaultdict(list)
    for refund in [*new, *changed]:
        refunds_of[refund.order_id].append(refund.pk)
    return rows, {r.order_id for r in new} | lines_unknown, refunds_of


def _queue_refund_lines(order_ids, source):
    if source == EventSource.IMPORT:
        # An import of the shop's history would ask for the refunds of years of orders at once: those are fetched
        # when the order's page is opened or the order next changes, the only times their quantities matter.
        return
    ids = sorted(order_ids)
    for start in range(0, len(ids), REFUND_LINES_CHUNK):
        enqueue("fulfillment.tasks.fetch_refund_lines", ids[start:start + REFUND_LINES_CHUNK], EventSource(source).value)


def _write_events(mapped_orders, saved, existing, source, refund_events):
    rows = []
    for mapped in mapped_orders:
        order = saved[mapped.woo_id]
        before = existing.get(mapped.woo_id)
        if before is None:
            rows.append(events.order_created_event(order, source=source))
            continue
        if before.status != order.status:
            rows.append(events.status_changed_event(order, before=before.status, after=order.status, source=source))
        if before.trashed != order.trashed:
            rows.append(events.trashed_event(order, source=source, trashed=order.trashed))
    rows += refund_events  # after the order's own: the timeline shows them as what happened next
    bulk.upsert(OrderEvent, [
        {"order_id": e.order_id, "type": e.type, "source": e.source, "user_id": e.user_id, "message": e.message,
         "data": e.data, "text": e.text} for e in rows
    ])


def order_mark_trashed(*, store, woo_id, source):
    """WooCommerce deleted (trashed) an order: keep every row, mark it trashed. Returns the order or None."""
    with transaction.atomic():
        order = Order.objects.select_for_update().filter(store=store, woo_id=woo_id).first()
        if order is None:
            return None
        if not order.trashed:
            order.trashed = True
            # Our receipt time becomes the version: an update delivered late, from before the deletion,
            # is then older than what is stored and cannot bring the order back.
            order.modified_at = max(order.modified_at, timezone.now())
            order.save(update_fields=["trashed", "modified_at", "mirrored_at"])
            events.trashed_event(order, source=source, trashed=True).save()
            orders_changed([OrderChange(order.pk, frozenset({Changed.TRASHED}), order.status, order.status)],
                           source=source)
        return order
