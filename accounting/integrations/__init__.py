"""Adapters to the systems accounting talks to: Moneybird (bookkeeping) and VIES (the EU's VAT number check).

HTTP only, with timeouts and the typed errors of accounting.integrations.errors; no models, no business rules.
"""
