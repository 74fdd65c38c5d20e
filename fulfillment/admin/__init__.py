from fulfillment.admin import orders, production, reservations, staff, stores, sync  # noqa: F401  (registers the ModelAdmins)
