"""The refund push: POST /orders/<id>/refunds, carrying our refund's id in its meta.

Money: after any earlier attempt the refund is looked for in the order's refunds (by our id, exact) before it is
sent again, or the customer could be refunded twice.
"""

from decimal import Decimal

from fulfillment.choices import PushKind
from fulfillment.errors import OrderActionError
from fulfillment.models import Refund
from fulfillment.money import quantize
from fulfillment.pushes.base import PushError, PushHandler
from fulfillment.services.refunds import REFUND_META_KEY, refund_mark_failed, refund_mark_pushed, refund_requeue


def refund_request_body(refund):
    """The POST /orders/<id>/refunds body for a refund made here."""
    line_items = []
    for part in refund.lines:
        amount, tax = Decimal(part["amount"]), Decimal(part["tax"])
        item = {"id": part["line_id"], "quantity": part["quantity"], "refund_total": str(amount - tax)}
        if part.get("tax_rate_id") is not None and tax:
            item["refund_tax"] = [{"id": part["tax_rate_id"], "refund_total": str(tax)}]
        line_items.append(item)
    return {
        "amount": str(quantize(refund.amount, refund.order.currency)),
        "reason": refund.reason,
        # False: WooCommerce records the refund without asking the payment gateway to move money.
        "api_refund": refund.api_refund,
        "api_restock": refund.restock,
        "line_items": line_items,
        "meta_data": [{"key": REFUND_META_KEY, "value": str(refund.pk)}],
    }


def find_pushed_refund(remote_refunds, refund):
    """The refund WooCommerce already made for ours (a previous attempt timed out after it was accepted)."""
    for remote in remote_refunds:
        for meta in remote.get("meta_data") or []:
            if meta.get("key") == REFUND_META_KEY and str(meta.get("value")) == str(refund.pk):
                return remote
    return None


class RefundPush(PushHandler):
    kind = PushKind.REFUND
    retry_permission = "fulfillment.refund_order"
    looks_before_resending = True

    def _refund(self, push):
        return Refund.objects.select_related("order").get(pk=push.payload["refund_id"])

    def request(self, client, push):
        return client.create_refund(push.order.woo_id, refund_request_body(self._refund(push)), retries=0)

    def find_sent(self, client, push):
        return find_pushed_refund(client.list_refunds(push.order.woo_id, retries=0), self._refund(push))

    def on_sent(self, push, answer):
        if isinstance(answer, dict) and answer.get("id"):
            refund_mark_pushed(refund=self._refund(push), remote=answer)

    def on_refused(self, push):
        refund_mark_failed(push=push)

    def on_retry(self, push, user):
        try:
            refund_requeue(push=push, user=user)
        except OrderActionError as exc:
            raise PushError(str(exc)) from None
