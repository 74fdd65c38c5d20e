"""Realistic WooCommerce order payloads, built from the answers captured from a real WooCommerce 9.9 shop
(tests/fixtures/woocommerce/*.json, copied from shared/reference/samples)."""

import copy
import json
from datetime import UTC, datetime, timedelta
from pathlib import Path

FIXTURES = Path(__file__).parent / "fixtures" / "woocommerce"


def load(name):
    return json.loads((FIXTURES / name).read_text())


SAMPLE_ORDER = load("order.json")
SAMPLE_REFUND = load("refund.json")
SAMPLE_DELIVERY = load("webhook_delivery.json")
SAMPLE_PING = load("webhook_ping.json")


def _wc_date(value):
    return value.astimezone(UTC).strftime("%Y-%m-%dT%H:%M:%S")


def order_payload(woo_id=17, *, status="processing", created=None, modified=None, currency="EUR", country="AT",
                  email=None, first_name="Ben", last_name="Schmidt", city="Wien", line_items=None, refunds=None,
                  **extra):
    """The captured order, renumbered and adjusted; dates are UTC datetimes."""
    payload = copy.deepcopy(SAMPLE_ORDER)
    created = created or datetime(2026, 11, 1, 10, 0, tzinfo=UTC) + timedelta(minutes=woo_id)
    modified = modified or created + timedelta(minutes=1)
    payload.update(
        id=woo_id, number=str(woo_id), status=status, currency=currency,
        date_created_gmt=_wc_date(created), date_modified_gmt=_wc_date(modified),
        date_created=_wc_date(created + timedelta(hours=1)), date_modified=_wc_date(modified + timedelta(hours=1)),
        date_paid_gmt=_wc_date(created), order_key=f"wc_order_{woo_id:08d}",
        refunds=[] if refunds is None else refunds,
    )
    for address in (payload["billing"], payload["shipping"]):
        address.update(first_name=first_name, last_name=last_name, country=country, city=city)
    payload["billing"]["email"] = email or f"customer{woo_id}@example.com"
    if line_items is not None:
        payload["line_items"] = line_items
    else:
        for line in payload["line_items"]:
            line["id"] = woo_id * 10 + 1
    payload["_links"]["self"][0]["href"] = f"http://127.0.0.1:8088/wp-json/wc/v3/orders/{woo_id}"
    payload.update(extra)
    return payload


def line_item(line_id, *, name="Photo mug", product_id=11, variation_id=0, quantity=1, total="9.50",
              total_tax="1.90", sku="MUG-11", meta=None):
    item = copy.deepcopy(SAMPLE_ORDER["line_items"][0])
    item.update(id=line_id, name=name, product_id=product_id, variation_id=variation_id, quantity=quantity,
                subtotal=total, subtotal_tax=total_tax, total=total, total_tax=total_tax, sku=sku,
                price=float(total) / quantity if quantity else 0.0, meta_data=meta or [])
    return item
