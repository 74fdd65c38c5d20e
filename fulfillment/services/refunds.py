"""Refunds made here: amounts or quantities per line, restock, reason; pushed to WooCommerce exactly once."""

from decimal import Decimal, InvalidOperation

from django.db import IntegrityError, transaction
from django.utils import timezone
from django.utils.translation import gettext as _
from django.utils.translation import gettext_noop as N_

from backoffice.numbers import whole_number
from fulfillment import events
from fulfillment.choices import EventSource, OrderStatus, PushKind, RefundState
from fulfillment.errors import OrderActionError
from fulfillment.followers import Changed, OrderChange, orders_changed
from fulfillment.models import Order, Refund
from fulfillment.money import currency_decimals, quantize
from fulfillment.selectors import refund_lines_pending, refundable_items, refunded_so_far
from fulfillment.services.orders import clean_form_token
from fulfillment.services.outbox import push_create
from fulfillment.texts import text

REFUND_META_KEY = "_backoffice_refund_id"  # lets a retry find a refund WooCommerce made before a timeout


def parse_amount(text, currency, field, errors):
    """A staff-typed amount: positive, with no more decimals than the currency has."""
    text = str(text or "").strip().replace(",", ".")
    if not text:
        return Decimal("0")
    try:
        amount = Decimal(text)
    except InvalidOperation:
        errors[field] = _("Enter an amount such as 12.50.")
        return Decimal("0")
    if not amount.is_finite():
        errors[field] = _("Enter an amount such as 12.50.")
        return Decimal("0")
    if amount < 0:
        errors[field] = _("An amount cannot be negative.")
        return Decimal("0")
    decimals = currency_decimals(currency)
    if -amount.as_tuple().exponent > decimals:
        errors[field] = _("%(currency)s amounts have at most %(n)s decimals.") % {"currency": currency, "n": decimals}
        return Decimal("0")
    return amount


def order_refund(*, order, amounts, quantities, reason, restock, user, api_refund=False, token=""):
    """Refund parts of an order (amount and quantity per item id), record it and push it to WooCommerce.

    `token` is the refund form's one-time token: the same form posted again is answered with the refund it made.
    """
    token = clean_form_token(token)
    with transaction.atomic():
        order = Order.objects.select_for_update().select_related("store").get(pk=order.pk)
        # Under the order's lock: a second post of the same form waits for the first and then finds its refund
        # (before validating, as what it asks no longer fits once the first is made).
        already = order.refunds.filter(token=token).first() if token else None
        if already is not None:
            return already
        items = {item.id: item for item in refundable_items(order)}
        quantities_unknown = refund_lines_pending(order)
        errors, parts, restock_only, total = {}, [], [], Decimal("0")
        for item_id, item in items.items():
            amount_text = str(amounts.get(item_id) or "").strip()
            amount = parse_amount(amount_text, order.currency, f"amount_{item_id}", errors)
            quantity_text = str(quantities.get(item_id) or "0").strip()
            quantity = whole_number(quantity_text, max_digits=6)
            if quantity is None:
                errors[f"quantity_{item_id}"] = _("Enter a whole number of items, 0 or more.")
                continue
            if quantity and item.kind == "product" and quantities_unknown:
                # Which items a refund made in WooCommerce took back is not known yet: any quantity could be
                # one too many.
                errors[f"quantity_{item_id}"] = _("The quantities of a refund made in WooCommerce are still being "
                                                  "fetched: refund an amount only, or try again in a minute.")
            elif quantity > item.remaining_quantity:
                errors[f"quantity_{item_id}"] = _("Only %(n)s left to refund on this line.") % {
                    "n": item.remaining_quantity}
            elif quantity and not amount_text and f"amount_{item_id}" not in errors:
                # A blank amount refunds the items at their price. The last units take what is left of the line:
                # rounding each unit must not strand a cent.
                amount = quantize(item.remaining_amount if quantity == item.remaining_quantity
                                  else item.unit_amount * quantity, order.currency)
            if amount > item.remaining_amount:
                errors[f"amount_{item_id}"] = _("At most %(amount)s is left to refund on this line.") % {
                    "amount": quantize(item.remaining_amount, order.currency)}
            if amount or quantity:
                parts.append((item, quantity, amount))
                total += amount
            if quantity and amount_text and not amount and not {f"amount_{item_id}", f"quantity_{item_id}"} & set(errors):
                restock_only.append(item)
        # An amount of 0 typed beside a quantity returns no money for those items and only puts them back in
        # stock: it needs the restock, and money refunded on another line (WooCommerce refuses a refund of 0).
        for item in restock_only:
            if not restock:
                errors[f"amount_{item.id}"] = _("An amount of 0 only puts the items back in stock: tick \"Restock "
                                                "refunded items\", or leave the amount blank to refund them at "
                                                "their price.")
            elif total <= 0:
                errors[f"amount_{item.id}"] = _("An amount of 0 only puts the items back in stock, and a refund must "
                                                "return some money: refund an amount on this or another line, or "
                                                "leave it blank to refund the items at their price.")
        if api_refund and not order.store.allow_gateway_refunds:
            errors["api_refund"] = _("This store does not allow refunds through the payment gateway.")
        remaining = order.total - refunded_so_far(order)
        if not errors:
            if total <= 0:
                errors["__all__"] = _("Nothing to refund: enter a quantity or an amount on at least one line.")
            elif total > remaining:
                errors["__all__"] = _("%(total)s is more than the %(remaining)s that remains to refund.") % {
                    "total": quantize(total, order.currency), "remaining": quantize(remaining, order.currency)}
        if errors:
            raise OrderActionError(_("The refund was not made."), errors)

        try:
            with transaction.atomic():
                refund = Refund.objects.create(
                    order=order, amount=total, reason=(reason or "").strip(), created_at=timezone.now(),
                    created_by=user, state=RefundState.PENDING, restock=bool(restock), api_refund=bool(api_refund),
                    lines=[_part(item, quantity, amount, order.currency) for item, quantity, amount in parts],
                    token=token,
                )
        except IntegrityError:
            # The order's lock makes a second post wait for the first; the constraint is the last word all the same.
            already = order.refunds.filter(token=token).first() if token else None
            if already is None:
                raise
            return already
        events.refund_event(refund, user=user).save()
        payload = {"refund_id": refund.pk}
        before = order.status
        if total == remaining and order.status != OrderStatus.REFUNDED:
            # WooCommerce sets the status itself on a full refund; we show it at once, and remember what it
            # was in case WooCommerce refuses the refund.
            payload["status_before"] = order.status
            _mark_refunded(order, user=user, source=EventSource.STAFF)
        # Followers first: what they queue (the accounting export of a refunded order) goes before the push, whose
        # refusal would give the status back.
        _follow(order, before=before, refund=refund, source=EventSource.STAFF, user=user)
        push_create(order=order, kind=PushKind.REFUND, payload=payload, user=user)
    return refund


def _follow(order, *, before, refund, source, user=None):
    # A full refund changes the status, and what a status change drives follows it (the countdown: a refunded
    # order must not go to production; the accounting export): WooCommerce's later webhook brings no change.
    what = {Changed.REFUND} | ({Changed.STATUS} if order.status != before else set())
    orders_changed([OrderChange(order.pk, frozenset(what), before, order.status, (refund.pk,))], source=source,
                   user=user)


def _mark_refunded(order, *, user, source):
    before, order.status = order.status, OrderStatus.REFUNDED
    order.save(update_fields=["status"])
    events.status_changed_event(order, before=before, after=order.status, source=source, user=user,
                                note=text(N_("fully refunded"))).save()


def _part(item, quantity, amount, currency):
    tax = quantize(amount * item.tax / item.total, currency) if item.total else Decimal("0")
    return {"line_id": item.id, "kind": item.kind, "name": item.name, "quantity": quantity,
            "amount": str(quantize(amount, currency)), "tax": str(tax), "tax_rate_id": item.tax_rate_id}


def refund_mark_pushed(*, refund, remote):
    """WooCommerce made our refund: keep its id (dropping a copy the mirror may have made meanwhile)."""
    woo_refund_id = int(remote["id"])
    Refund.objects.filter(order_id=refund.order_id, woo_refund_id=woo_refund_id, state=RefundState.MIRRORED).delete()
    refund.woo_refund_id, refund.state = woo_refund_id, RefundState.PUSHED
    refund.save(update_fields=["woo_refund_id", "state"])
    status = Order.objects.filter(pk=refund.order_id).values_list("status", flat=True).first() or ""
    orders_changed([OrderChange(refund.order_id, frozenset({Changed.REFUND}), status, status, (refund.pk,))],
                   source=EventSource.PUSH)


def refund_mark_failed(*, push):
    """WooCommerce refused our refund for good: it no longer counts, and a full refund gives the status back."""
    refund = Refund.objects.select_related("order").get(pk=push.payload["refund_id"])
    refund.state = RefundState.FAILED
    refund.save(update_fields=["state"])
    order = Order.objects.select_for_update().get(pk=refund.order_id)
    before, status_before = order.status, push.payload.get("status_before")
    if status_before and order.status == OrderStatus.REFUNDED:
        order.status = status_before
        order.save(update_fields=["status"])
        events.status_changed_event(order, before=OrderStatus.REFUNDED, after=status_before, source=EventSource.PUSH,
                                    note=text(N_("WooCommerce refused the refund"))).save()
    _follow(order, before=before, refund=refund, source=EventSource.PUSH)


def refund_requeue(*, push, user):
    """Staff retry a refused refund: only if it still fits in what remains (it may have been made again)."""
    refund = Refund.objects.select_related("order").get(pk=push.payload["refund_id"])
    order = Order.objects.select_for_update().get(pk=refund.order_id)
    remaining = order.total - refunded_so_far(order)
    if refund.amount > remaining:
        raise OrderActionError(_("This refund of %(amount)s no longer fits in the %(remaining)s that remains "
                                 "(was it made again?).") % {"amount": quantize(refund.amount, order.currency),
                                                             "remaining": quantize(remaining, order.currency)})
    refund.state = RefundState.PENDING
    refund.save(update_fields=["state"])
    before = order.status
    if refund.amount == remaining and order.status != OrderStatus.REFUNDED:
        _mark_refunded(order, user=user, source=EventSource.STAFF)
    _follow(order, before=before, refund=refund, source=EventSource.STAFF, user=user)
