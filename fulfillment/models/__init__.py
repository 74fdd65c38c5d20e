from fulfillment.models.followers import FollowerRetry
from fulfillment.models.orders import Order, OrderEvent, OrderLine, Refund
from fulfillment.models.reservations import Reservation, Supplier, SupplierProduct
from fulfillment.models.shipments import Shipment
from fulfillment.models.staff import StaffProfile
from fulfillment.models.stores import Store
from fulfillment.models.submissions import Provider, Submission
from fulfillment.models.sync import ImportRun, StorePush, WebhookDelivery

__all__ = ["FollowerRetry", "ImportRun", "Order", "OrderEvent", "OrderLine", "Refund", "Provider", "Reservation", "Shipment", "StaffProfile", "Store", "Submission", "StorePush", "Supplier", "SupplierProduct", "WebhookDelivery"]
