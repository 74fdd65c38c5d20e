"""Errors of the adapters to accounting systems and registers (Moneybird, VIES).

Every error carries a message staff can read. `retryable`: the same call may work later (a task retries it, after
`retry_after` seconds when the system said so); `outcome_unknown`: the request may have been carried out although
no answer came, so look it up before sending it again.
"""

from django.utils.translation import gettext as _


class AccountingError(Exception):
    """A call to an accounting system or register failed; terminal unless `retryable`."""

    default_retryable = False

    def __init__(self, message, status=None, retryable=None, outcome_unknown=False, retry_after=None, *,
                 response=None):
        super().__init__(message)
        self.message = message
        self.status = status
        self.retryable = self.default_retryable if retryable is None else retryable
        self.outcome_unknown = outcome_unknown
        self.retry_after = retry_after  # seconds to wait before the next call, when the system said so
        self.response = response  # the decoded answer (or the start of a page that was not JSON), for the log

    def __str__(self):
        return self.message


class AccountingRetryableError(AccountingError):
    """Timeout, connection failure, throttling (429), a server error (5xx) or an error page instead of JSON."""

    default_retryable = True


class AccountingAuthError(AccountingError):
    """The system refused our credentials (401/403): nothing works until staff fix the token."""


class AccountingRejectedError(AccountingError):
    """The system refused the request itself (validation, unknown record): it fails the same way until changed.

    `details`: {field: [messages]} as the system named them, when it did.
    """

    def __init__(self, message, status=None, *, details=None, response=None):
        super().__init__(message, status=status, response=response)
        self.details = details or {}


class AccountingDuplicateError(AccountingRejectedError):
    """The system already has a record with our reference (an earlier attempt got through): look it up."""


class MissingTaxRateError(AccountingError):
    """The accounting system has no tax rate for a VAT category and rate of a document: staff must add or map one."""

    def __init__(self, *, category, rate, country):
        self.category = category
        self.rate = rate
        self.country = country
        values = {"rate": _percent(rate), "kind": category_label(category), "country": country or "?"}
        if category == "S":
            missing = _("Moneybird has no active sales tax rate of %(rate)s%% for a customer in %(country)s.") % values
        else:
            missing = _("Moneybird has no active sales tax rate of %(rate)s%% (%(kind)s) for a customer in "
                        "%(country)s.") % values
        super().__init__(f"{missing} " + _("Add it in Moneybird (Settings → Tax rates), then export again."))


class VatIdFormatError(AccountingError):
    """Not a VAT identification number of an EU member state (refused before asking VIES, or by VIES)."""

    def __init__(self, vat_id, reason=""):
        self.vat_id = vat_id
        message = _("%(vat_id)s is not a valid EU VAT number.") % {"vat_id": vat_id or "''"}
        if reason:
            message = f"{message} {reason}"
        super().__init__(message)


def category_label(category):
    """The UNCL5305 VAT category in words."""
    labels = {
        "S": _("standard rate"),
        "Z": _("zero rated"),
        "E": _("exempt"),
        "AE": _("reverse charge"),
        "K": _("intra-EU supply"),
        "G": _("export outside the EU"),
        "O": _("outside the scope of VAT"),
    }
    return labels.get(category, category)


def _percent(rate):
    text = format(rate, "f")
    return text.rstrip("0").rstrip(".") if "." in text else text
