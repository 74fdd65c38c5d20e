"""The invoice number written to the shop's order: fulfillment's meta push, retried by finance."""

from fulfillment.pushes.order_fields import MetaPush


class InvoiceNumberPush(MetaPush):
    # The invoice number is finance's: they send it again when WooCommerce refused it.
    retry_permission = "accounting.view_invoice"
