"""The provider interface: submit an order, look it up by our external id, fetch its shipments, cancel it.

Adapters see plain data (ProductionOrder), never our models.
"""

from dataclasses import dataclass, field
from datetime import date


class ProviderError(Exception):
    """A provider call failed. `retryable`: try again later; `outcome_unknown`: it may have worked."""

    retryable = False

    def __init__(self, message, *, response=None, outcome_unknown=False, status=None):
        super().__init__(message)
        self.message = message
        self.response = response
        self.outcome_unknown = outcome_unknown
        self.status = status

    def __str__(self):
        return self.message


class ProviderRetryableError(ProviderError):
    retryable = True


class ProviderRejectedError(ProviderError):
    """The provider refused the order (bad address, unknown product...): a person must look."""


class ProviderDuplicateError(ProviderRejectedError):
    """The provider already has an order with this external id."""


@dataclass
class ProductionItem:
    line_id: int  # WooCommerce line item id, sent as the item's external id
    sku: str
    name: str
    quantity: int
    unit_price: str
    files: list = field(default_factory=list)  # URLs or local paths of production files


@dataclass
class ProductionOrder:
    external_id: str
    number: str
    currency: str
    recipient: dict  # name, company, address1, address2, city, state_code, zip, country_code, phone, email
    items: list
    packing_note: str = ""


@dataclass
class RemoteOrder:
    remote_id: str
    external_id: str
    status: str
    raw: dict = field(default_factory=dict)


@dataclass
class RemoteShipment:
    remote_id: str
    carrier: str
    tracking_number: str
    tracking_url: str
    shipped_on: date
    lines: dict  # {WooCommerce line id: quantity}


class ProviderAdapter:
    supports_cancel = False
    has_webhook = False
    # The provider downloads each file from a URL we send (Printful): a local render goes as a signed link
    # (fulfillment.file_links), and production refuses a line whose file cannot be one.
    takes_file_urls = False

    def submit(self, order: ProductionOrder) -> RemoteOrder:
        raise NotImplementedError

    def lookup(self, external_id: str) -> RemoteOrder | None:
        raise NotImplementedError

    def shipments(self, external_id: str) -> list[RemoteShipment]:
        raise NotImplementedError

    def cancel(self, external_id: str) -> RemoteOrder:
        raise ProviderRejectedError("This provider does not allow cancelling an order.")

    def close(self):
        """Give back what the adapter holds (its HTTP connections); it may still be used, and opens them again."""
