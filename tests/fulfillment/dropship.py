"""Dropshipping test helpers: the fake supplier's SKUs, an order arriving from WooCommerce, a supplier's sync."""

from fulfillment.choices import EventSource
from fulfillment.models import Order
from fulfillment.services.mirror import orders_upsert
from fulfillment.services.supplier_sync import supplier_sync
from tests.woo_payloads import line_item, order_payload

SNEAKER_40, SNEAKER_41, SCARF = "GF-SN1830-WHITE-40", "GF-SN1830-WHITE-41", "TR-SC2214-GREY-UNI"


def arrive(supplier, woo_id, *, status="pending", lines=None, **extra):
    """An order mirrored from WooCommerce (as a webhook, an import or the reconcile does)."""
    lines = lines or [line_item(woo_id * 10 + 1, name="Leather sneakers", sku=SNEAKER_40, quantity=1)]
    orders_upsert(store=supplier.store, payloads=[order_payload(woo_id, status=status, line_items=lines, **extra)],
                  source=EventSource.WEBHOOK)
    return Order.objects.get(store=supplier.store, woo_id=woo_id)


def sync(supplier):
    return supplier_sync(supplier_id=supplier.pk)
