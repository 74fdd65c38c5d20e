"""The platform's XML and JSON ↔ our plain data: products, the growing order, operations, orders and statuses.

No HTTP here and no Django models: the client sends what these functions build and returns what they read.
"""

import xml.etree.ElementTree as ET
from dataclasses import dataclass, field
from datetime import datetime
from decimal import Decimal, InvalidOperation
from enum import StrEnum
from typing import NamedTuple

import fulfillment.integrations.rewix.dialect as dialect

CENT = Decimal("0.01")


# -- statuses -------------------------------------------------------------------------------------------------------


class SupplierStatus(StrEnum):
    """A supplier order's state in the shop owner's words (the Rewix plugin's manual), plus what can go wrong."""

    BOOKED = "booked"  # reserved for the shop, waiting for the shop's payment to the supplier
    CONFIRMED = "confirmed"  # paid: handed to the supplier's logistics
    WORKING_ON = "working_on"
    READY = "ready"
    DISPATCHED = "dispatched"  # with the carrier, tracking known
    CANCELLED = "cancelled"
    PAYMENT_REFUSED = "payment_refused"
    UNKNOWN = "unknown"  # a code the table below does not know: shown as such, never guessed


STATUS_OF_CODE = {
    0: SupplierStatus.BOOKED,  # pending (cart)
    1: SupplierStatus.BOOKED,  # money waiting
    5: SupplierStatus.BOOKED,  # booked (created through the API)
    5003: SupplierStatus.BOOKED,  # growing: the dropshipper's reserved items
    2: SupplierStatus.CONFIRMED,  # to dispatch
    3001: SupplierStatus.WORKING_ON,
    3002: SupplierStatus.READY,
    3: SupplierStatus.DISPATCHED,
    2000: SupplierStatus.CANCELLED,
    2002: SupplierStatus.PAYMENT_REFUSED,  # verify failed
}


def status_for(code):
    """Our word for a platform status code; SupplierStatus.UNKNOWN for a code not in the table (or no code)."""
    try:
        return STATUS_OF_CODE.get(int(code), SupplierStatus.UNKNOWN)
    except (TypeError, ValueError):
        return SupplierStatus.UNKNOWN


# -- catalogue ------------------------------------------------------------------------------------------------------


@dataclass(frozen=True)
class SupplierModel:
    """A sellable variant; its stock_id is what every order call names."""

    stock_id: str
    size: str
    color: str
    code: str  # the variant SKU, which the shop's imported products carry
    barcode: str
    availability: int
    backorder: bool


@dataclass(frozen=True)
class SupplierProduct:
    id: str
    name: str
    code: str
    taxable: Decimal | None  # the shop's purchase price
    availability: int
    online: bool
    models: tuple = ()


class Catalogue(list):
    """The products of one catalogue read; `last_update` is the platform's time of that data (the next `since`)."""

    def __init__(self, products=(), *, last_update=None):
        super().__init__(products)
        self.last_update = last_update


def _text(value):
    return "" if value is None else str(value).strip()


def _int(value, default=0):
    try:
        return int(str(value).strip())
    except (TypeError, ValueError):
        return default


def _money(value):
    if value in (None, ""):
        return None
    try:
        return Decimal(str(value)).quantize(CENT)
    except InvalidOperation:
        return None


def _bool(value):
    return value is True or _text(value).lower() in ("true", "1", "yes")


def parse_model(data):
    return SupplierModel(stock_id=_text(data.get("id")), size=_text(data.get("size") or data.get("model")),
                         color=_text(data.get("color")), code=_text(data.get("code")),
                         barcode=_text(data.get("barcode")), availability=_int(data.get("availability")),
                         backorder=_bool(data.get("backorder")))


def parse_product(data):
    return SupplierProduct(id=_text(data.get("id")), name=_text(data.get("name")), code=_text(data.get("code")),
                           taxable=_money(data.get("taxable")), availability=_int(data.get("availability")),
                           online=_bool(data.get("online")),
                           models=tuple(parse_model(m) for m in data.get("models") or () if isinstance(m, dict)))


# -- the growing order ----------------------------------------------------------------------------------------------


class Reserved(NamedTuple):
    locked: int  # reserved for this shop
    available: int  # still free at the supplier


@dataclass(frozen=True)
class GrowingOrder:
    order_id: str
    models: dict = field(default_factory=dict)  # stock_id → Reserved(locked, available)

    def locked(self, stock_id):
        reserved = self.models.get(str(stock_id))
        return reserved.locked if reserved else 0


def parse_growing_order(root):
    models = {}
    for model in root.iter("model"):
        stock_id = _text(model.get("stock_id"))
        if stock_id:
            models[stock_id] = Reserved(_int(model.get("locked")), _int(model.get("available")))
    return GrowingOrder(order_id=_text(root.get("order_id")), models=models)


OPERATION_TYPES = ("lock", "unlock", "set")


@dataclass(frozen=True)
class Operation:
    """lock adds to the reserved quantity, unlock removes, set makes it exactly `quantity` (safe to repeat)."""

    type: str
    stock_id: str
    quantity: int

    def __post_init__(self):
        if self.type not in OPERATION_TYPES:
            raise ValueError(f"Unknown operation {self.type!r}: one of {', '.join(OPERATION_TYPES)}")
        if not isinstance(self.quantity, int) or self.quantity < 0:
            raise ValueError(f"Operation quantity must be a whole number ≥ 0, not {self.quantity!r}")
        object.__setattr__(self, "stock_id", str(self.stock_id))


def operations_xml(operations):
    """One <operation> per run of the same type, in the order given (a lock then an unlock of one model stay so)."""
    root = ET.Element("root")
    block = None
    for operation in operations:
        if block is None or block.get("type") != operation.type:
            block = ET.SubElement(root, "operation", type=operation.type)
        ET.SubElement(block, "model", stock_id=operation.stock_id, quantity=str(operation.quantity))
    return _document(root)


@dataclass(frozen=True)
class Applied:
    operation: Operation
    locked: int
    available: int


@dataclass(frozen=True)
class OutOfStock:
    """The supplier reserved less than asked (or dropped the model: no longer sold)."""

    operation: Operation
    stock_id: str
    asked: int  # what should be locked after the operations
    locked: int  # what the supplier locked
    available: int


@dataclass(frozen=True)
class MoreThanExpected:
    """The supplier holds more than the operations should leave: something else changed the growing order."""

    operation: Operation
    expected: int
    locked: int


@dataclass(frozen=True)
class OperationsResult:
    growing_order: GrowingOrder
    outcomes: tuple  # one per operation, in order: Applied, OutOfStock or MoreThanExpected

    @property
    def out_of_stock(self):
        return [outcome for outcome in self.outcomes if isinstance(outcome, OutOfStock)]

    @property
    def ok(self):
        return all(isinstance(outcome, Applied) for outcome in self.outcomes)


def expected_locks(before, operations):
    """stock_id → what must be locked once the operations are applied to `before` (stock_id → locked)."""
    expected = {}
    for operation in operations:
        current = expected.get(operation.stock_id, before.get(operation.stock_id, 0))
        if operation.type == "lock":
            expected[operation.stock_id] = current + operation.quantity
        elif operation.type == "unlock":
            expected[operation.stock_id] = max(0, current - operation.quantity)
        else:
            expected[operation.stock_id] = operation.quantity
    return expected


def check_operations(operations, before, after):
    """Each operation's outcome, read from the locked quantities the platform answered (`after`, a GrowingOrder).

    Operations on the same model are judged together, by what that model must hold once all are applied.
    """
    expected = expected_locks(before, operations)
    outcomes = []
    for operation in operations:
        wanted = expected[operation.stock_id]
        reserved = after.models.get(operation.stock_id, Reserved(0, 0))
        if reserved.locked < wanted:
            outcomes.append(OutOfStock(operation, operation.stock_id, wanted, reserved.locked, reserved.available))
        elif reserved.locked > wanted:
            outcomes.append(MoreThanExpected(operation, wanted, reserved.locked))
        else:
            outcomes.append(Applied(operation, reserved.locked, reserved.available))
    return tuple(outcomes)


# -- dropshipping orders --------------------------------------------------------------------------------------------


@dataclass(frozen=True)
class Recipient:
    name: str
    street: str
    zip: str
    city: str
    countrycode: str  # ISO 3166-1 alpha-2
    careof: str = ""  # company, or "c/o" line
    phone: str = ""
    province: str = ""


@dataclass(frozen=True)
class DropshipOrder:
    key: str  # the shop's order number: unique at the platform, used to look the order up
    date: datetime  # of the shop order, timezone-aware
    items: tuple  # of (stock_id, quantity)
    recipient: Recipient


def format_order_date(moment):
    if moment.tzinfo is None or moment.utcoffset() is None:
        raise ValueError("The order date must be timezone-aware")
    return moment.strftime(dialect.ORDER_DATE_FORMAT)


def order_xml(order):
    root = ET.Element("root")
    element = ET.SubElement(ET.SubElement(root, "order_list"), "order")
    ET.SubElement(element, "key").text = str(order.key)
    ET.SubElement(element, "date").text = format_order_date(order.date)
    items = ET.SubElement(element, "item_list")
    for stock_id, quantity in order.items:
        item = ET.SubElement(items, "item")
        ET.SubElement(item, "stock_id").text = str(stock_id)
        ET.SubElement(item, "quantity").text = str(int(quantity))
    recipient = order.recipient
    details = ET.SubElement(element, "recipient_details")
    ET.SubElement(details, "recipient").text = recipient.name
    ET.SubElement(details, "careof").text = recipient.careof
    ET.SubElement(ET.SubElement(details, "phone"), "number").text = recipient.phone
    address = ET.SubElement(details, "address")
    for tag, value in (("street_name", recipient.street), ("zip", recipient.zip), ("city", recipient.city),
                       ("province", recipient.province), ("countrycode", recipient.countrycode)):
        ET.SubElement(address, tag).text = value
    return _document(root)


@dataclass(frozen=True)
class SupplierOrder:
    order_id: str
    key: str
    status_code: int | None
    status: SupplierStatus
    tracking_code: str = ""
    tracking_url: str = ""
    carrier_name: str = ""
    last_update: datetime | None = None  # None when the platform gave no (readable) date


def _child(element, *names):
    for name in names:
        found = element.find(name)
        if found is not None and found.text is not None:
            return found.text.strip()
    return ""


def parse_orders(root):
    """The orders of a clientorders answer: <root><order><order_id/><status/>…</order>…</root>."""
    orders = []
    for element in root.iter("order"):
        code = _int(_child(element, "status"), default=None)
        orders.append(SupplierOrder(
            order_id=_child(element, "order_id"), key=_child(element, *dialect.ORDER_KEY_FIELDS),
            status_code=code, status=status_for(code), tracking_code=_child(element, "tracking_code"),
            tracking_url=_child(element, "tracking_url"), carrier_name=_child(element, "carrier_name"),
            last_update=dialect.parse_datetime(_child(element, "last_update")),
        ))
    return orders


def _document(root):
    return ET.tostring(root, encoding="utf-8", xml_declaration=True)
