"""What an order charges, read as WooCommerce's own order screen shows it, and what each refund covered.

Every figure is WooCommerce's (the order's JSON and the columns mapped from it), as Decimal: the items' subtotal
before coupons, the coupons' discount, shipping, fees, tax per rate (its `tax_lines`), the order total. The parts
are added up here only to show a "Rounding" row when they do not make WooCommerce's total (they always should,
give or take a cent per line): the total shown is WooCommerce's, never our sum.
"""

from dataclasses import dataclass, field
from decimal import Decimal, InvalidOperation

from django.utils.translation import gettext as _

from fulfillment.choices import RefundState
from fulfillment.money import currency_decimals, format_money
from fulfillment.selectors.orders import NOT_COUNTING, charge_label

ZERO = Decimal("0")


def money(value):
    """A money field of WooCommerce's JSON ("12.50", 12.5, "", None) as a Decimal; what is not a number is 0."""
    if isinstance(value, float):
        value = repr(value)
    try:
        amount = Decimal(str(value if value not in (None, "") else "0"))
    except (InvalidOperation, ValueError):
        return ZERO
    return amount if amount.is_finite() else ZERO


def _items(raw, key):
    return [item for item in (raw or {}).get(key) or [] if isinstance(item, dict)]


def _int(value):
    try:
        return int(value)
    except (TypeError, ValueError):
        return None


@dataclass(frozen=True)
class Charge:
    """A shipping line, a fee or a coupon of the order, beside its product lines."""

    kind: str  # "shipping", "fee" or "coupon"
    id: int | None  # WooCommerce's item id
    name: str  # the shipping method's title, the fee's name, the coupon's code
    total: Decimal  # without tax; a coupon's discount is negative
    tax: Decimal  # a coupon's is negative

    @property
    def total_abs(self):
        return abs(self.total)

    @property
    def tax_abs(self):
        return abs(self.tax)

    @property
    def label(self):
        return charge_label(self.kind, self.name) or _("Coupon: %(code)s") % {"code": self.name}


@dataclass(frozen=True)
class TaxRate:
    """One of WooCommerce's tax_lines: the tax of one rate on the items and fees, and on shipping."""

    label: str
    rate_percent: str  # as WooCommerce gives it: "20", "21", "5.5"
    compound: bool
    items_tax: Decimal  # tax_total: the items' and fees' tax of this rate
    shipping_tax: Decimal  # shipping_tax_total

    @property
    def total(self):
        return self.items_tax + self.shipping_tax


@dataclass(frozen=True)
class TotalRow:
    """A row of the order's totals table."""

    key: str  # subtotal, discount, shipping, fees, tax, rounding, total, refunded, net
    label: str
    amount: Decimal  # signed: a discount and a refund are negative
    note: str = ""  # what the row is made of: coupon codes, method titles, fee names, tax on shipping
    warning: bool = False

    @property
    def negative(self):
        return self.amount < 0

    @property
    def shown(self):
        return abs(self.amount)


@dataclass
class Charges:
    currency: str
    shipping: list[Charge] = field(default_factory=list)
    fees: list[Charge] = field(default_factory=list)
    coupons: list[Charge] = field(default_factory=list)
    taxes: list[TaxRate] = field(default_factory=list)
    rows: list[TotalRow] = field(default_factory=list)
    # WooCommerce's total less the parts shown: 0, or the rounding row's amount.
    difference: Decimal = ZERO
    # {woo line id: what coupons took off that line}: its subtotal less its total, where that is not 0.
    line_discounts: dict = field(default_factory=dict)
    refunded: Decimal = ZERO  # refunds that count (WooCommerce's and ours not refused), tax included
    refund_unconfirmed: Decimal = ZERO  # of which made here and not yet confirmed by WooCommerce

    @property
    def charges(self):
        """Shipping, fees and coupons, in the order the items table lists them after the products."""
        return [*self.shipping, *self.fees, *self.coupons]

    @property
    def net(self):
        return next(row.amount for row in self.rows if row.key == "net")


def order_charges(order):
    """The order's shipping, fees, coupons, taxes per rate and its totals table, all from WooCommerce's figures.

    Reads `order.raw` and the refunds (prefetched by `order_for_page`): no query of its own then.
    """
    raw = order.raw or {}
    currency = order.currency
    charges = Charges(currency=currency)
    charges.shipping = [Charge("shipping", _int(s.get("id")), str(s.get("method_title") or s.get("method_id") or
                                                                   _("Shipping")),
                               money(s.get("total")), money(s.get("total_tax")))
                        for s in _items(raw, "shipping_lines")]
    charges.fees = [Charge("fee", _int(f.get("id")), str(f.get("name") or _("Fee")), money(f.get("total")),
                           money(f.get("total_tax")))
                    for f in _items(raw, "fee_lines")]
    charges.coupons = [Charge("coupon", _int(c.get("id")), str(c.get("code") or ""), -money(c.get("discount")),
                              -money(c.get("discount_tax")))
                       for c in _items(raw, "coupon_lines")]
    charges.taxes = [TaxRate(label=str(t.get("label") or t.get("rate_code") or _("Tax")),
                             rate_percent=_percent(t.get("rate_percent")), compound=bool(t.get("compound")),
                             items_tax=money(t.get("tax_total")), shipping_tax=money(t.get("shipping_tax_total")))
                     for t in _items(raw, "tax_lines")]
    lines = _items(raw, "line_items")
    for line in lines:
        discount = money(line.get("subtotal")) - money(line.get("total"))
        if discount and _int(line.get("id")) is not None:
            charges.line_discounts[_int(line["id"])] = discount

    subtotal = sum((money(line.get("subtotal")) for line in lines), ZERO)
    rows = [TotalRow("subtotal", _("Items subtotal"), subtotal)]
    if order.discount_total or charges.coupons:
        rows.append(TotalRow("discount", _("Discount"), -order.discount_total,
                             note=", ".join(c.name for c in charges.coupons)))
    if order.shipping_total or charges.shipping:
        rows.append(TotalRow("shipping", _("Shipping"), order.shipping_total,
                             note=", ".join(s.name for s in charges.shipping)))
    fees = sum((f.total for f in charges.fees), ZERO)
    if charges.fees:
        rows.append(TotalRow("fees", _("Fees"), fees, note=", ".join(f.name for f in charges.fees)))
    if charges.taxes:
        for rate in charges.taxes:
            note = (_("%(amount)s of it on shipping") % {"amount": format_money(rate.shipping_tax, currency)}
                    if rate.shipping_tax else "")
            label = f"{rate.label} ({rate.rate_percent} %)" if rate.rate_percent else rate.label
            rows.append(TotalRow("tax", label, rate.total, note=note))
        tax = sum((rate.total for rate in charges.taxes), ZERO)
    else:
        tax = order.total_tax
        if tax:
            rows.append(TotalRow("tax", _("Tax"), tax))
    parts = subtotal - order.discount_total + order.shipping_total + fees + tax
    charges.difference = order.total - parts
    if charges.difference:
        # A cent per line is WooCommerce rounding each line's tax; more means the parts are not what it charged.
        minor = Decimal(1).scaleb(-currency_decimals(currency))
        small = abs(charges.difference) <= minor * max(len(lines) + len(charges.charges) + len(charges.taxes), 1)
        rows.append(TotalRow("rounding", _("Rounding") if small else _("Difference"), charges.difference,
                             warning=not small,
                             note="" if small else _("WooCommerce's total is not its items, shipping, fees and tax "
                                                     "added up: check the order in WooCommerce")))
    rows.append(TotalRow("total", _("Order total"), order.total))
    counting = [r for r in order.refunds.all() if r.state not in NOT_COUNTING]
    charges.refunded = sum((r.amount for r in counting), ZERO)
    charges.refund_unconfirmed = sum((r.amount for r in counting if r.state == RefundState.PENDING), ZERO)
    rows.append(TotalRow("refunded", _("Refunded"), -charges.refunded,
                         note=_("%(amount)s not yet confirmed by WooCommerce") % {
                             "amount": format_money(charges.refund_unconfirmed, currency)}
                         if charges.refund_unconfirmed else ""))
    rows.append(TotalRow("net", _("Net payment"), order.total - charges.refunded))
    charges.rows = rows
    return charges


def _percent(value):
    if value in (None, ""):
        return ""
    number = money(value)
    return f"{number.normalize():f}" if number else str(value)


# -- what each refund covered ------------------------------------------------------------------------------


@dataclass(frozen=True)
class RefundPart:
    label: str  # "2 × Photo mug", "Shipping: Flat rate", "Fee: Gift wrap"
    amount: Decimal  # tax included
    tax: Decimal


def refund_parts(refund):
    """What a refund took back, one part per item, in the staff's words: [RefundPart]."""
    parts = []
    for line in refund.lines or []:
        if not isinstance(line, dict):
            continue
        kind, name = line.get("kind") or "product", str(line.get("name") or "")
        quantity = _int(line.get("quantity")) or 0
        if kind == "shipping":
            label = _("Shipping: %(name)s") % {"name": name}
        elif kind == "fee":
            label = _("Fee: %(name)s") % {"name": name}
        elif quantity:
            label = f"{quantity} × {name}"
        else:
            label = name
        parts.append(RefundPart(label, money(line.get("amount")), money(line.get("tax"))))
    return parts


def refunds_for_page(order):
    """The order's refunds (prefetched), each with what it covered: [(refund, [RefundPart])]."""
    return [(refund, refund_parts(refund)) for refund in order.refunds.all()]
