"""Rewix dropshipping suppliers: the HTTP client, the plain data it speaks in, its errors and status words."""

from fulfillment.integrations.rewix.client import RewixClient
from fulfillment.integrations.rewix.errors import (
    SupplierAuthError,
    SupplierDuplicateOrderError,
    SupplierError,
    SupplierNotSupportedError,
    SupplierRejectedError,
    SupplierRetryableError,
)
from fulfillment.integrations.rewix.mapping import (
    STATUS_OF_CODE,
    Applied,
    Catalogue,
    DropshipOrder,
    GrowingOrder,
    MoreThanExpected,
    Operation,
    OperationsResult,
    OutOfStock,
    Recipient,
    Reserved,
    SupplierModel,
    SupplierOrder,
    SupplierProduct,
    SupplierStatus,
    status_for,
)

__all__ = [
    "STATUS_OF_CODE", "Applied", "Catalogue", "DropshipOrder", "GrowingOrder", "MoreThanExpected", "Operation",
    "OperationsResult", "OutOfStock", "Recipient", "Reserved", "RewixClient", "SupplierAuthError",
    "SupplierDuplicateOrderError", "SupplierError", "SupplierModel", "SupplierNotSupportedError", "SupplierOrder",
    "SupplierProduct", "SupplierRejectedError", "SupplierRetryableError", "SupplierStatus", "status_for",
]
