"""The dashboard's revenue: what the orders of the last days brought in, per store, currency and day, less refunds.

Paid orders are those WooCommerce counts as paid (`wc_get_is_paid_statuses()`: processing, completed) and the
refunded ones (paid, then given back: they count, and so do their refunds, so they net to what was kept), plus any
other status (on hold, ready for pickup, a shop's own) once WooCommerce recorded a payment date. On hold alone is
not paid: WooCommerce puts bank transfer and cheque orders on hold until the money arrives (no `date_paid`), while
an order staff hold after payment keeps its date. Pending, failed, cancelled, drafts and trash never count, paid or
not.

An order counts on the day it was placed (UTC, as the orders per day beside it), and its refunds with it, whenever
they were made: a day's figure is what that day's orders are worth now. Refunds are the order's refund rows that
count (those WooCommerce refused do not; one made here counts from the moment it is made, as on the order page).
Amounts are Decimal and never added across currencies.
"""

from decimal import Decimal

from django.db.models import Count, Q, Sum
from django.db.models.functions import TruncDate

from fulfillment.choices import OrderStatus
from fulfillment.models import Refund
from fulfillment.money import quantize
from fulfillment.selectors.orders import NOT_COUNTING

PAID_STATUSES = (OrderStatus.PROCESSING.value, OrderStatus.COMPLETED.value, OrderStatus.REFUNDED.value)
NEVER_PAID_STATUSES = (OrderStatus.PENDING.value, OrderStatus.FAILED.value, OrderStatus.CANCELLED.value,
                       OrderStatus.CHECKOUT_DRAFT.value, OrderStatus.TRASH.value)


def paid(prefix=""):
    """The condition "this order counts as paid", on Order (prefix "") or through a relation ("order__")."""
    return Q(**{f"{prefix}status__in": PAID_STATUSES}) | (
        Q(**{f"{prefix}paid_at__isnull": False}) & ~Q(**{f"{prefix}status__in": NEVER_PAID_STATUSES}))


def orders_per_day_annotations():
    """What the dashboard's orders per day query adds for revenue: paid orders and their totals (no query here)."""
    return {"paid_orders": Count("id", filter=paid()), "gross": Sum("total", filter=paid())}


def refunds_per_day(since, tzinfo):
    """{(store id, currency, day): refunded} of the paid orders placed since `since`, by their order's day."""
    rows = (Refund.objects.filter(paid("order__"), order__created_at__gte=since).exclude(state__in=NOT_COUNTING)
            .annotate(day=TruncDate("order__created_at", tzinfo=tzinfo))
            .values_list("order__store_id", "order__currency", "day").annotate(amount=Sum("amount")).order_by())
    return {(store_id, currency, day): amount for store_id, currency, day, amount in rows}


def revenue_rows(per_day, refunds, days):
    """Per store, from {(store id, currency, day): (paid orders, gross)} and refunds_per_day's answer:
    {store id: {"currencies": [{"currency", "orders", "gross", "refunds", "net"}], "per_day": {currency: [(day,
    net)]}}}, each amount quantised to its currency, a day without orders 0."""
    found = {}
    for (store_id, currency, day), (orders, gross) in per_day.items():
        found.setdefault(store_id, {}).setdefault(currency, {})[day] = [orders, gross or Decimal("0"),
                                                                        Decimal("0")]
    for (store_id, currency, day), amount in refunds.items():
        entry = found.setdefault(store_id, {}).setdefault(currency, {}).setdefault(day, [0, Decimal("0"),
                                                                                        Decimal("0")])
        entry[2] += amount or Decimal("0")
    result = {}
    for store_id, currencies in found.items():
        rows, charts = [], {}
        for currency, by_day in sorted(currencies.items()):
            orders = sum(entry[0] for entry in by_day.values())
            if not orders:
                continue  # only unpaid orders in this currency
            gross = sum((entry[1] for entry in by_day.values()), Decimal("0"))
            refunded = sum((entry[2] for entry in by_day.values()), Decimal("0"))
            rows.append({"currency": currency, "orders": orders, "gross": quantize(gross, currency),
                         "refunds": quantize(refunded, currency), "net": quantize(gross - refunded, currency)})
            charts[currency] = [(day, quantize(by_day[day][1] - by_day[day][2], currency) if day in by_day
                                 else quantize(0, currency)) for day in days]
        result[store_id] = {"currencies": rows, "per_day": charts}
    return result
