"""What can go wrong talking to a Rewix supplier, typed so a caller knows whether to try again or to ask a person.

`retryable`: a passing fault (timeout, refused connection, 429, 5xx, an HTML page where XML or JSON was expected);
trying later may work. `outcome_unknown`: the request went out and the answer did not come back, so the supplier
may have acted on it (a reservation taken, an order placed): look before sending it again.
"""


class SupplierError(Exception):
    """A call to the supplier failed; the message is written for staff."""

    retryable = False

    def __init__(self, message, *, status=None, retryable=None, outcome_unknown=False, body=""):
        super().__init__(message)
        self.message = message
        self.status = status
        if retryable is not None:
            self.retryable = retryable
        self.outcome_unknown = outcome_unknown
        self.body = body[:2000] if isinstance(body, str) else ""

    def __str__(self):
        return self.message


class SupplierRetryableError(SupplierError):
    """Timeout, connection refused or cut, 429, 5xx, or an HTML error page instead of the platform's answer."""

    retryable = True


class SupplierAuthError(SupplierError):
    """401/403: the API key, the password or the token is wrong or revoked. Retrying will not help."""


class SupplierRejectedError(SupplierError):
    """The platform refused the request (400, 404, 406, 412: bad data, an unknown product): a person must look."""


class SupplierDuplicateOrderError(SupplierRejectedError):
    """The platform already has a dropshipping order with this key (the shop's order number)."""


class SupplierNotSupportedError(SupplierError):
    """The platform offers no call for this (cancelling an order): it must be done in the supplier's back-office."""
