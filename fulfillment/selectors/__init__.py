"""Read queries used by the admin, the views and the services (HackSoft's selectors): no writes here.

`orders`: the order page (the order, its timeline, refunds and shipments so far); `charges`: its shipping, fees,
coupons, taxes and totals as WooCommerce counts them, and what each refund covered; `customers`: the customer's other
orders; `desk`: the order list's status tabs and stores, and the dashboard.
"""

from fulfillment.selectors.charges import Charge, Charges, RefundPart, TaxRate, TotalRow, order_charges, refund_parts, \
    refunds_for_page
from fulfillment.selectors.customers import CustomerHistory, customer_history, customer_orders

from fulfillment.selectors.desk import (
    EstimatedCounts,
    STATUS_COUNTS_TTL,
    dashboard,
    list_timezone,
    status_counts,
    status_counts_of_stores,
    status_counts_refresh,
    store_choices,
    store_count,
    store_list,
    submission_flags,
)
from fulfillment.selectors.orders import (
    NOT_COUNTING,
    RefundableItem,
    countdown_display,
    left_to_ship,
    order_for_page,
    order_timeline,
    refund_lines_pending,
    refundable_items,
    refunded_quantities,
    refunded_so_far,
    shipped_quantities,
)

__all__ = [
    "Charge", "Charges", "CustomerHistory", "RefundPart", "TaxRate", "TotalRow", "customer_history", "customer_orders",
    "order_charges", "refund_parts", "refunds_for_page",
    "EstimatedCounts", "NOT_COUNTING", "RefundableItem", "STATUS_COUNTS_TTL", "countdown_display", "dashboard",
    "left_to_ship", "list_timezone", "order_for_page", "order_timeline", "refund_lines_pending", "refundable_items",
    "refunded_quantities", "refunded_so_far", "shipped_quantities", "status_counts", "status_counts_of_stores",
    "status_counts_refresh", "store_choices", "store_count", "store_list", "submission_flags",
]
