from fulfillment.admin import orders, staff, stores, sync  # noqa: F401  (registers the ModelAdmins)
