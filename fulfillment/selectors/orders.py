"""Read queries of the order page: the order with what it shows, its timeline, refunds and shipments so far."""

from dataclasses import dataclass
from decimal import Decimal, InvalidOperation

from django.db.models import Sum
from django.utils import timezone
from django.utils.translation import gettext as _

from fulfillment.choices import EventSource, EventType, PushKind, PushState, RefundState, choice_label
from fulfillment.events import address_changes
from fulfillment.models import Order, OrderEvent, StorePush
from fulfillment.services.outbox import held_behind
from fulfillment.texts import render as render_text


def order_for_page(pk):
    return (
        Order.objects.select_related("store")
        .prefetch_related("lines", "refunds__created_by", "shipments__created_by")
        .get(pk=pk)
    )


def order_timeline(order):
    """Events and pushes of an order, newest first, as one list of dicts for the template.

    A note (and its push) says who reads it: "to the customer" (WooCommerce emails it) or "private"; an address
    correction says what changed, in the staff's language.
    """
    entries = [
        {"at": e.created_at, "kind": "event", "type": e.type, "label": choice_label(EventType, e.type),
         "message": _event_message(e), "user": e.user, "source": choice_label(EventSource, e.source),
         "audience": _audience(e.data) if e.type == EventType.NOTE_ADDED else ""}
        for e in OrderEvent.objects.filter(order=order).select_related("user")
    ]
    pushes = list(StorePush.objects.filter(order=order).select_related("created_by"))
    held = held_behind(pushes)
    entries += [
        {"at": p.created_at, "kind": "push", "type": f"push_{p.state}",
         "label": f"→ WooCommerce: {choice_label(PushKind, p.kind)}", "message": _push_message(p, held),
         "user": p.created_by, "source": _("Held") if p.pk in held else choice_label(PushState, p.state), "push": p,
         "audience": _audience(p.payload) if p.kind == PushKind.NOTE else ""}
        for p in pushes
    ]
    return sorted(entries, key=lambda e: e["at"], reverse=True)


def held_message(failed):
    """What staff read on a push held behind a failed one, and their way forward."""
    return _("Waiting behind push #%(id)s (%(kind)s), which WooCommerce did not accept: retry or discard that one "
             "in the outbox, and this one follows.") % {"id": failed.pk, "kind": failed.get_kind_display().lower()}


def _push_message(push, held):
    return held_message(held[push.pk]) if push.pk in held else push.last_error


def _audience(data):
    if "customer_note" not in (data or {}):
        return ""
    return _("to the customer") if data["customer_note"] else _("private")


def _event_message(event):
    data = event.data or {}
    if isinstance(event.text, dict):
        return render_text(event.text)  # in the staff's language, whoever wrote it
    if event.type == EventType.ADDRESS_CHANGED and isinstance(data.get("before"), dict) \
            and isinstance(data.get("after"), dict):
        # From the data, not the message: in the staff's language, and for corrections recorded before the
        # message said what changed.
        return address_changes(data["before"], data["after"]) or _("nothing changed")
    return event.message


def countdown_display(order, now=None):
    """{"state": "running"|"paused", "seconds": n, "due_at": dt} or None, for the list and the order page."""
    now = now or timezone.now()
    if order.countdown_due_at:
        return {"state": "running", "seconds": max(int((order.countdown_due_at - now).total_seconds()), 0),
                "due_at": order.countdown_due_at}
    if order.countdown_paused_seconds is not None:
        return {"state": "paused", "seconds": order.countdown_paused_seconds, "due_at": None}
    return None


# -- refunds and shipments so far ----------------------------------------------------------------------

# Refunds that no longer count against what remains: WooCommerce refused them.
NOT_COUNTING = (RefundState.FAILED,)


def charge_label(kind, name):
    """A shipping line or a fee as the order page and the refund form name it, or None for another kind."""
    if kind == "shipping":
        return _("Shipping: %(name)s") % {"name": name}
    if kind == "fee":
        return _("Fee: %(name)s") % {"name": name}
    return None


@dataclass
class RefundableItem:
    """A line that can be refunded: a product, the shipping or a fee, with what is left of it."""

    id: int  # WooCommerce item id
    kind: str  # "product", "shipping" or "fee"
    name: str
    quantity: int
    total: Decimal  # including tax
    tax: Decimal
    tax_rate_id: int | None
    refunded_quantity: int = 0
    refunded_amount: Decimal = Decimal("0")

    @property
    def label(self):
        """As the refund form names it: the product's name, "Shipping: Flat rate", "Fee: Gift wrap"."""
        return charge_label(self.kind, self.name) or self.name

    @property
    def remaining_quantity(self):
        return max(self.quantity - self.refunded_quantity, 0)

    @property
    def remaining_amount(self):
        return max(self.total - self.refunded_amount, Decimal("0"))

    @property
    def unit_amount(self):
        return self.total / self.quantity if self.quantity else Decimal("0")


def _tax_rate_id(item):
    for tax in item.get("taxes") or []:
        if isinstance(tax, dict) and tax.get("id") is not None:
            return int(tax["id"])
    return None


def _money(value):
    try:
        return Decimal(str(value or "0"))
    except InvalidOperation:
        return Decimal("0")


def refundable_items(order):
    """The order's product, shipping and fee lines with what has already been refunded of each."""
    items = [
        RefundableItem(id=line.woo_line_id, kind="product", name=line.name, quantity=line.quantity,
                       total=line.total + line.total_tax, tax=line.total_tax,
                       tax_rate_id=_tax_rate_id(next((i for i in order.raw.get("line_items", [])
                                                      if i.get("id") == line.woo_line_id), {})))
        for line in order.lines.all()
    ]
    for kind, key, name_key in (("shipping", "shipping_lines", "method_title"), ("fee", "fee_lines", "name")):
        for raw in order.raw.get(key) or []:
            total, tax = _money(raw.get("total")), _money(raw.get("total_tax"))
            items.append(RefundableItem(id=int(raw["id"]), kind=kind, name=str(raw.get(name_key) or kind),
                                        quantity=0, total=total + tax, tax=tax, tax_rate_id=_tax_rate_id(raw)))
    by_id = {item.id: item for item in items}
    for refund in order.refunds.exclude(state__in=NOT_COUNTING):
        for part in refund.lines:
            item = by_id.get(part.get("line_id"))
            if item:
                item.refunded_quantity += int(part.get("quantity") or 0)
                item.refunded_amount += _money(part.get("amount"))
    return items


def refunded_quantities(order):
    """{woo line id: items refunded so far} over the refunds that count (lines still being fetched count 0)."""
    refunded = {}
    for refund in order.refunds.exclude(state__in=NOT_COUNTING):
        for part in refund.lines:
            if part.get("line_id") is not None and part.get("quantity"):
                refunded[part["line_id"]] = refunded.get(part["line_id"], 0) + int(part["quantity"])
    return refunded


def refund_lines_pending(order):
    """Whether a refund made in WooCommerce still has unknown line quantities (they are being fetched)."""
    return order.refunds.filter(lines_pending=True).exclude(state__in=NOT_COUNTING).exists()


def refunded_so_far(order):
    return order.refunds.exclude(state__in=NOT_COUNTING).aggregate(s=Sum("amount"))["s"] or Decimal("0")


def shipped_quantities(order):
    """{woo line id: quantity shipped so far} over the order's shipments."""
    shipped = {}
    for shipment in order.shipments.all():
        for part in shipment.lines:
            shipped[part["line_id"]] = shipped.get(part["line_id"], 0) + int(part["quantity"])
    return shipped


def left_to_ship(order, shipped=None):
    """{woo line id: items still to ship}: ordered, less what has shipped and what was refunded."""
    shipped = shipped_quantities(order) if shipped is None else shipped
    refunded = refunded_quantities(order)
    return {line.woo_line_id: max(line.quantity - shipped.get(line.woo_line_id, 0)
                                  - refunded.get(line.woo_line_id, 0), 0)
            for line in order.lines.all()}
