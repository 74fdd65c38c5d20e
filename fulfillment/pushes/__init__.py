"""The kinds of push to WooCommerce and their handlers: the dispatcher looks each push's kind up here.

A new kind is a PushKind value, a PushHandler subclass (its request, how to find it after a lost answer, what
follows its answer or its refusal) and a line in HANDLERS — or `register(handler)` from another app's ready().
"""

from fulfillment.pushes.base import PushError, PushHandler
from fulfillment.pushes.notes import NotePush, OrderDetailsPush
from fulfillment.pushes.order_fields import AddressPush, MetaPush, StatusPush
from fulfillment.pushes.refunds import RefundPush
from fulfillment.pushes.tracking import TrackingPush

HANDLERS = {handler.kind: handler for handler in (
    StatusPush(), AddressPush(), NotePush(), OrderDetailsPush(), RefundPush(), TrackingPush(), MetaPush(),
)}


def register(handler):
    """Add (or replace) the handler of a kind of push."""
    HANDLERS[handler.kind] = handler


def handler_for(kind):
    """The handler of a push's kind; KeyError names a kind nothing sends."""
    try:
        return HANDLERS[kind]
    except KeyError:
        raise KeyError(f"no handler for push kind {kind!r}") from None


__all__ = ["HANDLERS", "PushError", "PushHandler", "handler_for", "register"]
