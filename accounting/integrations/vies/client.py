"""The EU's VIES VAT number check, through its REST API.

GET {base}/ms/{country}/vat/{number} answers {"isValid", "requestDate", "userError", "name", "address", …};
userError is VALID or INVALID when the member state answered, else the reason it did not (MS_UNAVAILABLE,
TIMEOUT, MS_MAX_CONCURRENT_REQ…). Failures of the service itself come as {"actionSucceed": false,
"errorWrappers": [{"error": CODE, "message"}]}. A member state that did not answer says nothing about the number:
that is a retryable error here, never "invalid". Greece is EL in VIES; name and address are "---" where the member
state does not give them.
"""

import logging
from dataclasses import dataclass
from datetime import datetime, time as dt_time, timezone as dt_timezone

import requests
from django.utils import timezone
from django.utils.translation import gettext as _
from stdnum.eu import vat as eu_vat
from stdnum.exceptions import InvalidChecksum, InvalidComponent, InvalidLength, ValidationError

from accounting.integrations.errors import (
    AccountingRejectedError,
    AccountingRetryableError,
    VatIdFormatError,
)

logger = logging.getLogger("accounting.integrations.vies")

BASE_URL = "https://ec.europa.eu/taxation_customs/vies/rest-api"
# The service, a member state's register or the traffic between them: asking again later may work.
RETRYABLE = {"SERVICE_UNAVAILABLE", "MS_UNAVAILABLE", "TIMEOUT", "GLOBAL_MAX_CONCURRENT_REQ",
             "GLOBAL_MAX_CONCURRENT_REQ_TIME", "MS_MAX_CONCURRENT_REQ", "MS_MAX_CONCURRENT_REQ_TIME", "SERVER_BUSY"}
VERDICTS = {"", "VALID", "INVALID"}
NOT_GIVEN = {"", "---"}


@dataclass(frozen=True)
class ViesResult:
    valid: bool
    country: str  # VIES's member state code: EL for Greece, XI for Northern Ireland
    number: str  # without the country code
    name: str
    address: str
    checked_at: datetime  # aware: when VIES answered (its requestDate), the proof kept with a zero-rated invoice
    request_identifier: str = ""  # VIES's consultation number, given only when a requester VAT number was sent

    @property
    def vat_id(self):
        return f"{self.country}{self.number}"


def normalise_vat_id(vat_id):
    """("NL", "854091798B01") from "NL 8540.91.798.B01"; raises VatIdFormatError when it cannot be an EU VAT id."""
    try:
        # python-stdnum knows each member state's format and check digits: no request for a typing error.
        compact = eu_vat.validate(vat_id or "")
    except ValidationError as exc:
        raise VatIdFormatError(vat_id, reason=_format_problem(exc)) from None
    country = "EL" if compact[:2] == "GR" else compact[:2]
    return country, compact[2:]


def _format_problem(exc):
    if isinstance(exc, InvalidComponent):
        return _("It does not start with the code of an EU member state (NL, BE, DE, EL…).")
    if isinstance(exc, InvalidChecksum):
        return _("Its check digits do not match: a typing error?")
    if isinstance(exc, InvalidLength):
        return _("It has too many or too few characters for its country.")
    return _("It is not written the way its country writes VAT numbers.")


class ViesClient:
    def __init__(self, base_url=BASE_URL, timeout=(5, 20), *, session=None):
        self.base_url = base_url.rstrip("/")
        self.timeout = timeout  # connect, read: VIES waits up to its own timeout for the member state
        self.session = session or requests.Session()

    def __repr__(self):
        return f"<ViesClient {self.base_url}>"

    def check(self, vat_id):
        """Is the VAT number registered? A ViesResult, or a retryable error when VIES could not say."""
        country, number = normalise_vat_id(vat_id)
        shown = f"{country}{number}"
        try:
            response = self.session.get(f"{self.base_url}/ms/{country}/vat/{number}",
                                        headers={"Accept": "application/json"}, timeout=self.timeout)
        except requests.ConnectionError:
            raise AccountingRetryableError(_("VIES could not be reached to check %(vat_id)s.") % {
                "vat_id": shown}) from None
        except requests.Timeout:
            raise AccountingRetryableError(_("VIES did not answer in time about %(vat_id)s.") % {
                "vat_id": shown}) from None
        status = response.status_code
        try:
            body = response.json()
        except ValueError:
            body = None
        if not isinstance(body, dict):
            snippet = " ".join(response.text.split())[:200]
            raise AccountingRetryableError(
                _("VIES answered HTTP %(status)s, not JSON (an error page?): %(snippet)s") % {
                    "status": status, "snippet": snippet},
                status=status, response=response.text[:2000])
        code = _error_code(body)
        if code in RETRYABLE or (status >= 500 and code not in VERDICTS) or status == 429:
            raise AccountingRetryableError(
                _("VIES could not check %(vat_id)s now (%(code)s): the member state's register did not answer. "
                  "Try again later; this says nothing about the number.") % {
                    "vat_id": shown, "code": code or f"HTTP {status}"},
                status=status, response=body)
        if code == "INVALID_INPUT":
            raise VatIdFormatError(shown, reason=_("VIES refused it as input."))
        if code not in VERDICTS:
            # VAT_BLOCKED, IP_BLOCKED, INVALID_REQUESTER_INFO: asking again gives the same answer.
            raise AccountingRejectedError(_("VIES refused to check %(vat_id)s (%(code)s).") % {
                "vat_id": shown, "code": code}, status=status, response=body)
        verdict = body.get("isValid", body.get("valid"))
        if status >= 400 or not isinstance(verdict, bool):
            raise AccountingRetryableError(
                _("VIES gave no verdict about %(vat_id)s (HTTP %(status)s).") % {"vat_id": shown, "status": status},
                status=status, response=body)
        return ViesResult(valid=verdict, country=country, number=number, name=_given(body.get("name")),
                          address=_given(body.get("address")), checked_at=_checked_at(body.get("requestDate")),
                          request_identifier=str(body.get("requestIdentifier") or ""))


def _error_code(body):
    wrappers = body.get("errorWrappers")
    if isinstance(wrappers, list) and wrappers and isinstance(wrappers[0], dict):
        return str(wrappers[0].get("error") or "SERVICE_UNAVAILABLE")
    if body.get("actionSucceed") is False:
        return "SERVICE_UNAVAILABLE"
    return str(body.get("userError") or "")


def _given(value):
    text = str(value or "").strip()
    return "" if text in NOT_GIVEN else text


def _checked_at(value):
    """VIES's requestDate ("2026-10-08T08:31:15.502Z", or a date with its offset) as an aware datetime."""
    text = str(value or "").strip()
    try:
        moment = datetime.fromisoformat(text)
    except ValueError:
        try:
            moment = datetime.combine(datetime.fromisoformat(text[:10]).date(), dt_time())
        except ValueError:
            return timezone.now()
    return moment if moment.tzinfo else moment.replace(tzinfo=dt_timezone.utc)
