"""Moneybird API v2: the client (HTTP) and the mapping of our documents to its JSON."""

from accounting.integrations.moneybird.client import MoneybirdClient
from accounting.integrations.moneybird.mapping import choose_tax_rates, contact_payload, invoice_payload

__all__ = ["MoneybirdClient", "choose_tax_rates", "contact_payload", "invoice_payload"]
