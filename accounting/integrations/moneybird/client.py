"""Moneybird's REST API (v2): contacts, tax rates, ledger accounts, external sales invoices and their PDFs.

Paths are https://moneybird.com/api/v2/{administration_id}/{resource}.json with `Authorization: Bearer <token>`.
Lists are paged (`page`, `per_page` ≤ 100) and say in a `Link` header (rel="next") that another page follows; a list
without that header is whole. Errors come as JSON `{"error": …}`: a sentence, or {field: [messages]} on a 422
(with the machine-readable `details` beside it). Moneybird allows 150 requests per 5 minutes per token and answers
429 with `Retry-After` (seconds) beyond that: the client raises at once with the wait; the caller's task waits and
tries again, it never drops the export.
"""

import logging
import math
import threading
import time
from datetime import date, timezone as dt_timezone
from email.utils import parsedate_to_datetime
from urllib.parse import parse_qsl, quote, urlsplit

import requests
from django.utils.translation import gettext as _

from accounting.integrations.errors import (
    AccountingAuthError,
    AccountingDuplicateError,
    AccountingRejectedError,
    AccountingRetryableError,
)

logger = logging.getLogger("accounting.integrations.moneybird")

BASE_URL = "https://moneybird.com/api/v2"
TOKEN_ENV = "MONEYBIRD_API_TOKEN"
MAX_PER_PAGE = 100
MAX_PAGES = 500  # 50,000 records: a Link header pointing at itself must not loop for ever
SALES_TAX_RATES = "tax_rate_type:sales_invoice,active:true"


class MoneybirdClient:
    def __init__(self, base_url=BASE_URL, *, administration_id, token, timeout=(5, 30), session=None,
                 token_env=TOKEN_ENV, per_page=MAX_PER_PAGE):
        self.base_url = base_url.rstrip("/")
        self.administration_id = str(administration_id)
        self.token = token
        self.timeout = timeout  # connect, read: Moneybird answers within seconds; an invoice is never worth minutes
        self.session = session or requests.Session()
        self.token_env = token_env  # named in the message when Moneybird refuses the token
        self.per_page = min(int(per_page), MAX_PER_PAGE)
        self._sent = threading.local()  # per thread: a client shared by a worker's threads counts each its own

    @property
    def requests_sent(self):
        """Requests this thread sent through the client, answered or not: what an export cost."""
        return getattr(self._sent, "count", 0)

    def __repr__(self):
        return f"<MoneybirdClient {self.base_url}/{self.administration_id}>"

    # -- contacts -------------------------------------------------------------------------------------------

    def find_contact(self, customer_id):
        """The contact we created under our customer id, or None."""
        return self._call("GET", f"contacts/customer_id/{quote(str(customer_id), safe='')}", missing_ok=True)

    def create_contact(self, contact):
        """Create a contact from mapping.contact_payload(); returns Moneybird's contact (with its id)."""
        subject = _("the contact %(customer_id)s") % {"customer_id": contact.get("customer_id", "")}
        return self._call("POST", "contacts", json={"contact": contact}, subject=subject)

    # -- settings -------------------------------------------------------------------------------------------

    def tax_rates(self, *, filter=SALES_TAX_RATES):
        """The administration's tax rates (by default the active ones for sales invoices), every page."""
        return self._list("tax_rates", params={"filter": filter} if filter else {})

    def ledger_accounts(self):
        return self._list("ledger_accounts")

    # -- external sales invoices ---------------------------------------------------------------------------

    def create_external_sales_invoice(self, invoice):
        """Book an invoice (or credit note) made by us, from mapping.invoice_payload(); returns Moneybird's copy.

        A timeout or a lost connection leaves `outcome_unknown` set on the error: call
        find_external_sales_invoice() before creating it again.
        """
        subject = _("invoice %(reference)s") % {"reference": invoice.get("reference", "")}
        return self._call("POST", "external_sales_invoices", json={"external_sales_invoice": invoice},
                          subject=subject)

    def find_external_sales_invoice(self, reference, *, invoice_date=None, contact_id=None):
        """The external sales invoice whose reference is our number, or None.

        Moneybird's list of external sales invoices has no filter on the reference, so this asks the list with its
        documented filter (`period` of the invoice date — a custom period 20260105..20260105 —, `state:all`, and the
        contact when known) and compares references on our side, page by page. Without a date it looks at last year
        and this year. Used after an unknown outcome: one day of one shop is a page or two.
        """
        if invoice_date:
            day = invoice_date.strftime("%Y%m%d")
            period = f"{day}..{day}"
        else:
            this_year = date.today().year
            period = f"{this_year - 1}0101..{this_year}1231"
        terms = [f"period:{period}", "state:all"]
        if contact_id:
            terms.append(f"contact_id:{contact_id}")
        for invoice in self._pages("external_sales_invoices", {"filter": ",".join(terms)}):
            if str(invoice.get("reference") or "") == str(reference):
                return invoice
        return None

    def get_external_sales_invoice(self, invoice_id):
        """The external sales invoice with Moneybird's id, or None when Moneybird no longer has it."""
        return self._call("GET", f"external_sales_invoices/{quote(str(invoice_id), safe='')}", missing_ok=True)

    def attach_pdf(self, invoice_id, filename, pdf_bytes):
        """Attach the invoice's PDF (the legal document) to the external sales invoice."""
        files = {"file": (filename, pdf_bytes, "application/pdf")}
        return self._call("POST", f"external_sales_invoices/{quote(str(invoice_id), safe='')}/attachment",
                          files=files, subject=_("the PDF %(filename)s") % {"filename": filename})

    # -- HTTP -------------------------------------------------------------------------------------------------

    def _url(self, path):
        return f"{self.base_url}/{self.administration_id}/{path}.json"

    def _list(self, path, params=None):
        return list(self._pages(path, params or {}))

    def _pages(self, path, params):
        params = {**params, "per_page": self.per_page}
        for _page in range(MAX_PAGES):
            body, response = self._request("GET", path, params=params)
            if not isinstance(body, list):
                raise AccountingRetryableError(
                    _("Moneybird answered GET %(path)s with something other than a list.") % {"path": path},
                    status=response.status_code, response=body)
            yield from body
            following = response.links.get("next", {}).get("url")
            if not following or not body:
                return
            params = dict(parse_qsl(urlsplit(following).query, keep_blank_values=True))

    def _call(self, method, path, *, params=None, json=None, files=None, missing_ok=False, subject=""):
        body, _response = self._request(method, path, params=params, json=json, files=files, missing_ok=missing_ok,
                                        subject=subject)
        return body

    def _request(self, method, path, *, params=None, json=None, files=None, missing_ok=False, subject=""):
        what = f"{method} {path}"  # for the log and for errors staff pass on to whoever runs the integration
        if not self.token:
            raise AccountingAuthError(_("No Moneybird API token: set the environment variable %(env)s.") % {
                "env": self.token_env})
        self._sent.count = self.requests_sent + 1
        try:
            response = self.session.request(method, self._url(path), params=params, json=json, files=files,
                                            headers={"Authorization": f"Bearer {self.token}",
                                                     "Accept": "application/json"},
                                            timeout=self.timeout)
        except requests.ConnectTimeout:
            raise AccountingRetryableError(_("%(what)s: Moneybird could not be reached.") % {"what": what}) from None
        except requests.ConnectionError as exc:
            # Refused before anything was sent, or cut after the request went out: only the former is certain.
            sent = "refused" not in str(exc).lower()
            raise AccountingRetryableError(_("%(what)s: the connection to Moneybird failed.") % {"what": what},
                                           outcome_unknown=sent and method == "POST") from None
        except requests.Timeout:
            raise AccountingRetryableError(_("%(what)s: Moneybird did not answer in time.") % {"what": what},
                                           outcome_unknown=method in ("POST", "PATCH", "DELETE")) from None
        except requests.RequestException as exc:  # an answer cut off while it was read
            raise AccountingRetryableError(_("%(what)s: Moneybird's answer was broken off (%(reason)s).") % {
                "what": what, "reason": type(exc).__name__}, outcome_unknown=method == "POST") from None
        status = response.status_code
        logger.debug("%s → HTTP %s", what, status)
        if status in (401, 403):
            raise AccountingAuthError(_(
                "Moneybird refused the API token (HTTP %(status)s): check the token in the environment variable "
                "%(env)s and that it may use administration %(administration)s.") % {
                "status": status, "env": self.token_env, "administration": self.administration_id},
                status=status, response=_decoded(response))
        if status == 429:
            # Checked before the body: a proxy's page still carries the wait.
            wait = retry_after(response)
            raise AccountingRetryableError(
                _("Moneybird's request limit was reached (%(what)s): try again in %(seconds)s seconds.") % {
                    "what": what, "seconds": "?" if wait is None else wait},
                status=status, retry_after=wait, response=_decoded(response))
        if 200 <= status < 300 and not response.content.strip():
            return None, response  # an attachment upload answers with an empty body
        body = _decoded(response)
        if body is None:
            snippet = " ".join(response.text.split())[:200]
            raise AccountingRetryableError(
                _("%(what)s: HTTP %(status)s from Moneybird, not JSON (an error page?): %(snippet)s") % {
                    "what": what, "status": status, "snippet": snippet},
                status=status, response=response.text[:2000],
                # A 2xx or a 5xx page on a POST may come after the record was made.
                outcome_unknown=method == "POST" and (status >= 500 or status < 300))
        if 200 <= status < 300:
            return body, response
        if status == 404 and missing_ok:
            return None, response
        message = error_message(body)
        if status >= 500:
            raise AccountingRetryableError(
                _("%(what)s: Moneybird had an error (HTTP %(status)s): %(message)s") % {
                    "what": what, "status": status, "message": message},
                status=status, outcome_unknown=method == "POST", response=body)
        details = field_errors(body)
        if status == 422:
            problems = _problems(details)
            text = _("Moneybird refused %(subject)s: %(problems)s") % {
                "subject": subject or what, "problems": problems or message}
            error = AccountingDuplicateError if _taken(body, "reference") else AccountingRejectedError
            raise error(text, status=status, details=details, response=body)
        if status == 404:
            text = _("Moneybird has no such record (%(what)s): %(message)s") % {"what": what, "message": message}
        else:
            text = _("Moneybird refused %(subject)s (HTTP %(status)s): %(message)s") % {
                "subject": subject or what, "status": status, "message": message}
        raise AccountingRejectedError(text, status=status, details=details, response=body)


def _decoded(response):
    try:
        body = response.json()
    except ValueError:
        return None
    return body if isinstance(body, (dict, list)) else None


def error_message(body):
    """Moneybird's error as one sentence: its `error` text, or its field errors joined."""
    error = body.get("error") if isinstance(body, dict) else None
    if isinstance(error, str) and error:
        return error
    details = field_errors(body)
    if details:
        return _problems(details)
    return str(body)[:200]


def field_errors(body):
    """{field: [messages]} from a 422's `error` object (Rails' error messages), else {}."""
    error = body.get("error") if isinstance(body, dict) else None
    if not isinstance(error, dict):
        return {}
    return {str(field): [str(t) for t in (texts if isinstance(texts, list) else [texts])]
            for field, texts in error.items()}


def _problems(details):
    """Field errors as one sentence, each once: Moneybird repeats a detail's error for every detail that has it."""
    problems = dict.fromkeys(f"{_field_name(field)} {text}" for field, texts in details.items() for text in texts)
    return "; ".join(problems)


def _taken(body, field):
    """Moneybird's 422 says the value of `field` exists already (`details`: [{"error": "taken"}])."""
    details = body.get("details") if isinstance(body, dict) else None
    if isinstance(details, dict):
        for entry in details.get(field) or []:
            if (entry.get("error") if isinstance(entry, dict) else entry) == "taken":
                return True
    return any("taken" in text for text in field_errors(body).get(field, []))


def _field_name(field):
    words = field.replace(".", " ").replace("_", " ").strip()
    return words[:1].upper() + words[1:]


def retry_after(response, now=None):
    """Seconds to wait from a 429: `Retry-After` as seconds or as an HTTP date, else `RateLimit-Reset`."""
    now = time.time() if now is None else now
    value = (response.headers.get("Retry-After") or "").strip()
    if value.isdigit():
        return int(value)
    if value:
        try:
            moment = parsedate_to_datetime(value)
        except (TypeError, ValueError):
            moment = None
        if moment is not None:
            if moment.tzinfo is None:
                moment = moment.replace(tzinfo=dt_timezone.utc)
            return max(0, math.ceil(moment.timestamp() - now))
    reset = (response.headers.get("RateLimit-Reset") or "").strip()
    if reset.isdigit():
        seconds = int(reset)
        # Either a moment (Unix time) or a number of seconds: a moment is far larger than any window.
        return max(0, math.ceil(seconds - now)) if seconds > 10**9 else seconds
    return None

