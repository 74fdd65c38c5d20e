from fulfillment.admin import orders, stores, sync  # noqa: F401  (registers the ModelAdmins)
