"""WooCommerce order JSON → our fields. Pure functions: no Django models, no database."""

import hashlib
import json
from dataclasses import dataclass, field
from datetime import UTC, datetime
from decimal import Decimal, InvalidOperation

from fulfillment.choices import OrderType

# Line item meta keys under which the shop's editor puts the personalisation project id.
PROJECT_META_KEYS = ("_project_id", "project_id", "_bo_project_id")
AMAZON_MARKERS = ("amazon",)
# Amazon Pay is a checkout gateway on the shop itself: its orders are not Amazon marketplace orders.
AMAZON_PAY_METHODS = ("amazon_payments_advanced", "amazon_pay")
IMAGE_SRC_MAX = 500  # OrderLine.image_src; a longer URL cut short would be a broken one
# Our money columns hold 14 digits, 4 after the point: an amount from 10^10 on cannot be stored.
MAX_AMOUNT = Decimal("1e10")
MAX_INTEGER = 2 ** 63  # ids are 64-bit columns (a smaller column, as a quantity, is the database's to refuse)
SHINEON_MARKERS = ("shineon",)


class MappingError(ValueError):
    """The JSON is not a WooCommerce order we can mirror; the message says why."""


@dataclass
class MappedLine:
    woo_line_id: int
    fields: dict


@dataclass
class MappedRefund:
    woo_refund_id: int
    amount: Decimal
    reason: str


@dataclass
class MappedOrder:
    woo_id: int
    fields: dict
    lines: list[MappedLine] = field(default_factory=list)
    refunds: list[MappedRefund] = field(default_factory=list)
    raw_json: str = ""  # fields["raw"] as the JSON text its hash was taken of


def canonical_json(payload):
    """The payload's JSON with sorted keys: the same text for the same order whatever the order of its keys."""
    return json.dumps(payload, sort_keys=True, separators=(",", ":"))


def payload_hash(payload, text=None):
    return hashlib.sha256((canonical_json(payload) if text is None else text).encode()).hexdigest()


def parse_gmt(value, name):
    """A WooCommerce `*_gmt` date ("YYYY-MM-DDTHH:MM:SS", no offset) as an aware UTC datetime."""
    if value in (None, ""):
        return None
    try:
        parsed = datetime.fromisoformat(str(value))
    except ValueError:
        raise MappingError(f"{name}: not a date: {value!r}") from None
    if parsed.tzinfo is None:
        return parsed.replace(tzinfo=UTC)
    return parsed.astimezone(UTC)


def money(value, name):
    if isinstance(value, float):
        value = repr(value)  # 9.5 → "9.5", never the binary expansion
    if value is None or value == "":
        return Decimal("0")
    try:
        # WooCommerce's usual "12.50" as it is (Decimal ignores surrounding blanks itself), a number as text.
        amount = Decimal(value if type(value) is str else str(value))
    except InvalidOperation:
        raise MappingError(f"{name}: not an amount: {value!r}") from None
    if not amount.is_finite():
        raise MappingError(f"{name}: not an amount: {value!r}")
    if abs(amount) >= MAX_AMOUNT:
        raise MappingError(f"{name}: {value!r} is too large an amount")
    return amount


def without_nul(value):
    """`value` with every NUL character in its strings (keys too) replaced by U+FFFD.

    PostgreSQL's text and JSON cannot hold NUL: an order whose note carries one (pasted from a PDF) would be
    refused whole. The replacement character shows staff where it was.
    """
    if isinstance(value, str):
        return value.replace("\x00", "\ufffd")
    if isinstance(value, dict):
        return {without_nul(k): without_nul(v) for k, v in value.items()}
    if isinstance(value, list):
        return [without_nul(v) for v in value]
    return value


def integer(value, name, default=0):
    if value in (None, ""):
        return default
    if isinstance(value, str) and not value.strip().lstrip("+-").isascii():
        # int() reads '١٢٣' (Arabic-Indic digits) as 123: WooCommerce writes ASCII digits, anything else is not
        # its number.
        raise MappingError(f"{name}: not an integer: {value!r}")
    try:
        number = int(value)
    except (TypeError, ValueError, OverflowError):  # OverflowError: 1e400 in JSON is a float infinity
        raise MappingError(f"{name}: not an integer: {value!r}") from None
    if not -MAX_INTEGER <= number < MAX_INTEGER:
        raise MappingError(f"{name}: {value!r} is too large a number")
    return number


def _text(value, limit):
    return ("" if value is None else str(value)).strip()[:limit]


def _address(data):
    return data if isinstance(data, dict) else {}


def _meta_value(meta, keys):
    for item in meta or []:
        if isinstance(item, dict) and item.get("key") in keys and item.get("value") not in (None, ""):
            return str(item["value"])
    return ""


def variation_label(meta):
    """Visible attributes of a line ("Size: L, Colour: Red"); keys starting with "_" are internal."""
    parts = []
    for item in meta or []:
        if not isinstance(item, dict):
            continue
        key = str(item.get("key", ""))
        if not key or key.startswith("_"):
            continue
        value = item.get("display_value", item.get("value"))
        if isinstance(value, (dict, list)):
            continue
        label = item.get("display_key") or key
        parts.append(f"{label}: {value}")
    return ", ".join(parts)[:300]


def order_type(payload, lines):
    """In-app (a line made in our editor), Amazon, ShineOn or other, from the lines and the order's meta."""
    if any(line.fields["project_ref"] for line in lines):
        return OrderType.IN_APP
    haystack = " ".join(
        [
            str(payload.get("created_via") or ""),
            str(payload.get("payment_method") or ""),
            str(payload.get("payment_method_title") or ""),
            " ".join(str(m.get("key", "")) for m in payload.get("meta_data") or [] if isinstance(m, dict)),
        ]
    ).lower()
    # Amazon Pay's gateway and its order meta (amazon_charge_id, ...) mention Amazon on a plain shop order.
    paid_with_amazon_pay = str(payload.get("payment_method") or "").lower() in AMAZON_PAY_METHODS
    if not paid_with_amazon_pay and any(marker in haystack for marker in AMAZON_MARKERS):
        return OrderType.AMAZON
    if any(marker in haystack for marker in SHINEON_MARKERS):
        return OrderType.SHINEON
    return OrderType.OTHER


def map_line(item, index):
    if not isinstance(item, dict):
        raise MappingError(f"line_items[{index}]: not an object")
    name = f"line_items[{index}]"
    meta = item.get("meta_data") if isinstance(item.get("meta_data"), list) else []
    image = item.get("image") if isinstance(item.get("image"), dict) else {}
    src = image.get("src") or ""
    return MappedLine(
        woo_line_id=integer(item.get("id"), f"{name}.id", default=None) or _missing(f"{name}.id"),
        fields={
            "name": _text(item.get("name"), 300),
            "product_id": integer(item.get("product_id"), f"{name}.product_id"),
            "variation_id": integer(item.get("variation_id"), f"{name}.variation_id"),
            "sku": _text(item.get("sku"), 100),
            "variation": variation_label(meta),
            "quantity": integer(item.get("quantity"), f"{name}.quantity"),
            "price": money(item.get("price"), f"{name}.price"),
            "subtotal": money(item.get("subtotal"), f"{name}.subtotal"),
            "subtotal_tax": money(item.get("subtotal_tax"), f"{name}.subtotal_tax"),
            "total": money(item.get("total"), f"{name}.total"),
            "total_tax": money(item.get("total_tax"), f"{name}.total_tax"),
            "image_src": src if str(src).startswith(("http://", "https://")) and len(src) <= IMAGE_SRC_MAX else "",
            "project_ref": _meta_value(meta, PROJECT_META_KEYS)[:64],
            "meta": meta,
        },
    )


def order_place(billing, shipping):
    """The order list's city, state and country: where it ships, or the billing address without one."""
    billing, shipping = _address(billing), _address(shipping)
    place = shipping if (shipping.get("city") or shipping.get("country")) else billing
    return {"city": _text(place.get("city"), 100), "state": _text(place.get("state"), 100),
            "country": _text(place.get("country"), 2).upper()}


def _missing(name):
    raise MappingError(f"{name} is missing")


def map_order(payload):
    """Map one order as GET /orders/<id> (or a webhook) returns it; raise MappingError if it is not one."""
    if not isinstance(payload, dict):
        raise MappingError("not a JSON object")
    raw_json = canonical_json(payload)
    if "\\u0000" in raw_json:  # rare, so the cheap test on the text comes first
        payload = without_nul(payload)
        raw_json = canonical_json(payload)
    woo_id = integer(payload.get("id"), "id", default=None)
    if not woo_id:
        raise MappingError("id is missing")
    for required in ("status", "currency", "line_items"):
        if required not in payload:
            raise MappingError(f"{required} is missing: this is not an order")
    created = parse_gmt(payload.get("date_created_gmt"), "date_created_gmt")
    modified = parse_gmt(payload.get("date_modified_gmt"), "date_modified_gmt") or created
    if created is None:
        raise MappingError("date_created_gmt is missing")
    line_items = payload.get("line_items")
    if not isinstance(line_items, list):
        raise MappingError("line_items: not a list")
    lines = [map_line(item, i) for i, item in enumerate(line_items)]

    refunds = []
    for i, refund in enumerate(payload.get("refunds") or []):
        if not isinstance(refund, dict):
            raise MappingError(f"refunds[{i}]: not an object")
        refunds.append(
            MappedRefund(
                woo_refund_id=integer(refund.get("id"), f"refunds[{i}].id", default=None) or _missing(f"refunds[{i}].id"),
                # WooCommerce lists refund totals as negative amounts ("-10.00").
                amount=abs(money(refund.get("total"), f"refunds[{i}].total")),
                reason=_text(refund.get("reason"), 10_000),
            )
        )

    billing = _address(payload.get("billing"))
    shipping = _address(payload.get("shipping"))
    name_source = billing if (billing.get("first_name") or billing.get("last_name")) else shipping
    customer_name = " ".join(
        part for part in (_text(name_source.get("first_name"), 100), _text(name_source.get("last_name"), 100)) if part
    ) or _text(billing.get("company") or shipping.get("company"), 200)
    place = order_place(billing, shipping)

    fields = {
        "number": _text(payload.get("number") or woo_id, 64),
        "status": _text(payload.get("status"), 64) or "pending",
        "created_via": _text(payload.get("created_via"), 64),
        "parent_woo_id": integer(payload.get("parent_id"), "parent_id"),
        "created_at": created,
        "modified_at": modified,
        "paid_at": parse_gmt(payload.get("date_paid_gmt"), "date_paid_gmt"),
        "completed_at": parse_gmt(payload.get("date_completed_gmt"), "date_completed_gmt"),
        "customer_woo_id": integer(payload.get("customer_id"), "customer_id"),
        "customer_name": customer_name[:200],
        "customer_email": _text(billing.get("email"), 254).lower(),
        **place,
        "billing": billing,
        "shipping": shipping,
        "customer_note": _text(payload.get("customer_note"), 10_000),
        "currency": _text(payload.get("currency"), 3).upper(),
        "prices_include_tax": bool(payload.get("prices_include_tax")),
        "total": money(payload.get("total"), "total"),
        "total_tax": money(payload.get("total_tax"), "total_tax"),
        "shipping_total": money(payload.get("shipping_total"), "shipping_total"),
        "shipping_tax": money(payload.get("shipping_tax"), "shipping_tax"),
        "discount_total": money(payload.get("discount_total"), "discount_total"),
        "discount_tax": money(payload.get("discount_tax"), "discount_tax"),
        "refunded_total": sum((r.amount for r in refunds), Decimal("0")),
        "payment_method": _text(payload.get("payment_method"), 100),
        "payment_method_title": _text(payload.get("payment_method_title"), 200),
        "transaction_id": _text(payload.get("transaction_id"), 200),
        "item_count": sum(max(line.fields["quantity"], 0) for line in lines),
        "order_type": order_type(payload, lines),
        "raw": payload,
        "raw_hash": payload_hash(payload, raw_json),
        "trashed": payload.get("status") == "trash",
    }
    return MappedOrder(woo_id=woo_id, fields=fields, lines=lines, refunds=refunds, raw_json=raw_json)


# The order item a refund's line takes back: WooCommerce keeps it in the refund line's meta.
REFUNDED_ITEM_KEY = "_refunded_item_id"
REFUND_ITEM_GROUPS = (("line_items", "product", "name"), ("shipping_lines", "shipping", "method_title"),
                      ("fee_lines", "fee", "name"))


@dataclass
class MappedRefundLine:
    refunded_item_id: int | None  # the order's item; None when WooCommerce did not say
    kind: str  # "product", "shipping" or "fee"
    name: str
    product_id: int
    variation_id: int
    quantity: int  # positive: how many items it took back
    amount: Decimal  # positive, tax included
    tax: Decimal
    tax_rate_id: int | None


@dataclass
class MappedRefundDetail:
    """A refund as GET orders/<id>/refunds gives it: its own date and the lines it took back."""
    woo_refund_id: int
    created_at: datetime | None
    amount: Decimal
    reason: str
    meta: dict  # meta key → value (a refund made by the back-office carries its own id there)
    lines: list[MappedRefundLine] = field(default_factory=list)


def map_refund_detail(payload):
    """Map one refund of the refunds list; raise MappingError if it is not one."""
    if not isinstance(payload, dict):
        raise MappingError("refund: not a JSON object")
    woo_refund_id = integer(payload.get("id"), "refund.id", default=None) or _missing("refund.id")
    meta = {str(m.get("key")): m.get("value") for m in payload.get("meta_data") or [] if isinstance(m, dict)}
    lines = []
    for group, kind, name_key in REFUND_ITEM_GROUPS:
        for i, item in enumerate(payload.get(group) or []):
            if not isinstance(item, dict):
                raise MappingError(f"refund {woo_refund_id} {group}[{i}]: not an object")
            where = f"refund {woo_refund_id} {group}[{i}]"
            # Amounts and quantities of a refund's lines are negative; the net amount is `total` in what
            # WooCommerce answers (`refund_total` is what a request sends).
            net = money(item["total"] if "total" in item else item.get("refund_total"), f"{where}.total")
            tax = abs(money(item.get("total_tax"), f"{where}.total_tax"))
            taxes = [t for t in item.get("taxes") or [] if isinstance(t, dict) and t.get("id") is not None]
            item_meta = item.get("meta_data") if isinstance(item.get("meta_data"), list) else []
            refunded_item = _meta_value(item_meta, (REFUNDED_ITEM_KEY,))
            lines.append(MappedRefundLine(
                refunded_item_id=integer(refunded_item, f"{where}.{REFUNDED_ITEM_KEY}", default=None),
                kind=kind, name=_text(item.get(name_key), 300),
                product_id=integer(item.get("product_id"), f"{where}.product_id"),
                variation_id=integer(item.get("variation_id"), f"{where}.variation_id"),
                quantity=abs(integer(item.get("quantity"), f"{where}.quantity")),
                amount=abs(net) + tax, tax=tax,
                tax_rate_id=integer(taxes[0]["id"], f"{where}.taxes[0].id") if taxes else None,
            ))
    return MappedRefundDetail(
        woo_refund_id=woo_refund_id, created_at=parse_gmt(payload.get("date_created_gmt"), "refund.date_created_gmt"),
        amount=abs(money(payload.get("amount"), "refund.amount")), reason=_text(payload.get("reason"), 10_000),
        meta=meta, lines=lines,
    )
