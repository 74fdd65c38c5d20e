"""Domain errors of fulfillment: what a staff action or a rule refuses, with a message for staff."""


class OrderActionError(ValueError):
    """A staff action is not allowed; the message (and `errors`, per field) is for staff."""

    def __init__(self, message, errors=None):
        super().__init__(message)
        self.errors = errors or {}


class StatusTransitionError(OrderActionError):
    """An order cannot be moved from its status to the one asked for (Order.TRANSITIONS)."""
