"""Fulfillment providers: adapters behind one small interface, chosen by the provider's kind."""
