from fulfillment.admin import orders, production, staff, stores, sync  # noqa: F401  (registers the ModelAdmins)
