"""The customer's other orders, for the order page: how many, what they spent, the latest few, the list of all.

A registered customer is their WooCommerce customer id in the store (ids are the shop's own: the same number in
another store is someone else); a guest is their billing email in the store. Two queries whatever the number of
orders: one aggregate per currency and the latest few, read from order_customer_created_idx (store, customer id,
newest first) for a customer id and from order_email_idx for an email.
"""

from dataclasses import dataclass, field
from decimal import Decimal

from django.db.models import Count, F, Q, Sum

from backoffice.numbers import whole_number
from fulfillment.choices import OrderStatus
from fulfillment.models import Order
from fulfillment.models.orders import REGISTERED_CUSTOMER

# The order list's parameter of CustomerFilter: a customer id, or an email (it has an "@").
CUSTOMER_PARAM = "customer"
RECENT = 5
# What a customer has spent: their paid orders (WooCommerce's own "paid" statuses), less what was refunded of them.
PAID_STATUSES = (OrderStatus.PROCESSING.value, OrderStatus.COMPLETED.value)


def customer_orders(queryset, value):
    """The orders of a customer as the list's filter and the order page name them: "42" (id) or an email."""
    value = (value or "").strip()
    if whole_number(value):
        return queryset.filter(REGISTERED_CUSTOMER, customer_woo_id=whole_number(value))
    if "@" in value:
        return queryset.filter(customer_email=value.lower())
    return queryset.none()


@dataclass
class CustomerHistory:
    by: str  # "customer" (a registered customer's id) or "email" (a guest's billing email)
    key: str  # the id or the email
    count: int = 0  # their orders in the store, this one included
    spent: list = field(default_factory=list)  # [(currency, Decimal)], for the currencies they paid in
    recent: list = field(default_factory=list)  # their latest other orders, newest first


def customer_history(order, recent=RECENT):
    """The order's customer's orders in its store, or None for a guest who gave no email."""
    if order.customer_woo_id > 0:
        history = CustomerHistory(by="customer", key=str(order.customer_woo_id))
    elif order.customer_email:
        history = CustomerHistory(by="email", key=order.customer_email)
    else:
        return None
    orders = customer_orders(Order.objects.filter(store_id=order.store_id), history.key)
    spent = {}
    for currency, n, amount in (orders.values_list("currency")
                                .annotate(n=Count("id"), spent=Sum(F("total") - F("refunded_total"),
                                                                   filter=Q(status__in=PAID_STATUSES)))
                                .order_by()):
        history.count += n
        if amount is not None:
            spent[currency] = spent.get(currency, Decimal("0")) + amount
    history.spent = sorted(spent.items())
    history.recent = list(orders.exclude(pk=order.pk).order_by("-created_at", "-id")
                          .only("pk", "number", "status", "created_at", "total", "currency")[:recent])
    return history
