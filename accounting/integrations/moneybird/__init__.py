"""Moneybird API v2: the client (HTTP) and the mapping of our documents to its JSON."""

from accounting.integrations.moneybird.client import MoneybirdClient

__all__ = ["MoneybirdClient"]
