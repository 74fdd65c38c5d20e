"""A local HTTP server that speaks Moneybird's API v2 as moneybird.com/api/v2 does, for one administration.

Bearer token; paths /api/v2/{administration_id}/{resource}.json. Contacts (found by our customer_id), tax rates
of a Dutch administration (21 %, 9 %, 0 %, reverse charge, intra-EU, export, a few OSS rates, a purchase rate and an
inactive one), ledger accounts, external sales invoices (the reference is unique: a second one gets Moneybird's
422) with their PDF attachments. Lists are paged with `page`/`per_page` and a Link header; errors are
{"error": sentence} or, on a 422, {"error": {field: [messages]}, "details": {field: [{"error": code}]}}.
Every answer carries RateLimit-Limit/Remaining/Reset; past `rate_limit` requests in `rate_window` seconds the
answer is 429 with Retry-After. Tests queue faults (a JSON 500, an HTML page, a 401), for the next request or the next
one to a path (`ending="attachment"`), and can hold the answer to an invoice creation after the invoice exists (the
client times out without knowing). Thread-safe.

Run it for a demo: python -m tests.fakes.moneybird --port 8765

Over 400 lines: one API's fake with its seed data, validation and the faults tests queue, read best as one.
"""

import argparse
import copy
import json
import math
import threading
import time
from datetime import UTC, date, datetime
from decimal import ROUND_HALF_UP, Decimal, InvalidOperation
from email.utils import format_datetime
from urllib.parse import parse_qsl, urlencode

from werkzeug.serving import make_server
from werkzeug.wrappers import Request, Response

ADMINISTRATION_ID = "416830557302097823"
TOKEN = "mb-test-token-84ec207ad0154a508f798e615a998ac1"
HTML_ERROR = ("<!DOCTYPE html><html><head><title>503 Service Temporarily Unavailable</title></head><body><h1>"
              "Moneybird is even niet bereikbaar</h1><p>We zijn zo terug.</p></body></html>")
CENT = Decimal("0.01")

# (id, name, percentage, tax_rate_type, country, active)
TAX_RATES = [
    ("416830557384935001", "21% btw", "21.0", "sales_invoice", None, True),
    ("416830557384935002", "9% btw", "9.0", "sales_invoice", None, True),
    ("416830557384935003", "0% btw", "0.0", "sales_invoice", None, True),
    ("416830557384935004", "Btw verlegd", "0.0", "sales_invoice", None, True),
    ("416830557384935005", "0% btw binnen EU (ICP)", "0.0", "sales_invoice", None, True),
    ("416830557384935006", "0% btw buiten EU", "0.0", "sales_invoice", None, True),
    ("416830557384935007", "21% btw België (OSS)", "21.0", "sales_invoice", "BE", True),
    ("416830557384935008", "19% MwSt Deutschland (OSS)", "19.0", "sales_invoice", "DE", True),
    ("416830557384935009", "20% TVA France (OSS)", "20.0", "sales_invoice", "FR", True),
    ("416830557384935010", "21% btw inkoop", "21.0", "purchase_invoice", None, True),
    ("416830557384935011", "6% btw (tot 2019)", "6.0", "sales_invoice", None, False),
]
# (id, account_id, name, account_type)
LEDGER_ACCOUNTS = [
    ("416830557403809001", "8000", "Omzet", "revenue"),
    ("416830557403809002", "8010", "Omzet verzendkosten", "revenue"),
    ("416830557403809003", "8100", "Omzet buitenland", "revenue"),
    ("416830557403809004", "4000", "Inkoop", "direct_costs"),
]
STAMP = "2026-01-02T09:00:00.000Z"


def _decimal(value):
    try:
        number = Decimal(str(value))
    except InvalidOperation:
        return None
    return number if number.is_finite() else None


def _money(amount):
    return str(amount.quantize(Decimal("0.1") if amount == amount.to_integral() else CENT))


class FakeMoneybird:
    def __init__(self, *, token=TOKEN, administration_id=ADMINISTRATION_ID, rate_limit=150, rate_window=300.0,
                 retry_after_as_date=False):
        self.token = token
        self.administration_id = administration_id
        self.prefix = f"/api/v2/{administration_id}/"
        self.rate_limit = rate_limit  # requests per window per token, as Moneybird's 150 per 5 minutes
        self.rate_window = rate_window
        self.retry_after_as_date = retry_after_as_date  # Retry-After as an HTTP date instead of seconds
        self.window_started = None
        self.window_count = 0
        self.tax_rates = [
            {"id": i, "administration_id": administration_id, "name": name, "percentage": pct,
             "tax_rate_type": kind, "show_tax": True, "active": active, "country": country,
             "created_at": STAMP, "updated_at": STAMP}
            for i, name, pct, kind, country, active in TAX_RATES]
        self.ledger_accounts = [
            {"id": i, "administration_id": administration_id, "name": name, "account_type": kind,
             "account_id": number, "parent_id": None, "created_at": STAMP, "updated_at": STAMP}
            for i, number, name, kind in LEDGER_ACCOUNTS]
        self.contacts = {}  # id → contact
        self.invoices = {}  # id → external sales invoice
        self.attachments = {}  # invoice id → [(filename, content type, bytes)]
        self.requests = []  # (method, path below the administration, params) of every authenticated request
        self.failures = []  # queued (status, body, content type, path ending or None for any request)
        self.hold_after_create = 0.0  # seconds the answer to an invoice creation waits after the invoice exists
        self.lock = threading.Lock()
        self.released = threading.Event()
        self.next_id = 416830558000000001
        self.server = None
        self.thread = None
        self.url = ""

    # -- running ----------------------------------------------------------------------------------------

    @property
    def base_url(self):
        """What MoneybirdClient takes as base_url (it adds the administration id)."""
        return f"{self.url}/api/v2"

    def add_oss_rate(self, country, rate):
        """One more OSS sales tax rate (e.g. IT, 22), as the demo's administration has for the countries it sells to."""
        n = sum(1 for r in self.tax_rates if str(r["id"]).startswith("4168305573849351")) + 1
        self.tax_rates.append({
            "id": f"4168305573849351{n:02d}", "administration_id": self.administration_id,
            "name": f"{rate}% VAT {country} (OSS)", "percentage": f"{float(rate):.1f}", "tax_rate_type": "sales_invoice",
            "show_tax": True, "active": True, "country": country, "created_at": STAMP, "updated_at": STAMP})

    def start(self, host="127.0.0.1", port=0):
        self.server = make_server(host, port, self, threaded=True)
        self.url = f"http://{host}:{self.server.server_port}"
        self.thread = threading.Thread(target=self.server.serve_forever, kwargs={"poll_interval": 0.05},
                                       daemon=True)
        self.thread.start()
        return self

    def stop(self):
        self.released.set()
        if self.server:
            self.server.shutdown()
            self.server.server_close()

    # -- test controls ----------------------------------------------------------------------------------

    def fail_next(self, count=1, status=500, error="Internal server error", *, ending=None):
        """The next `count` requests fail; with `ending`, the next ones whose path ends so ("attachment")."""
        with self.lock:
            self.failures.extend([(status, json.dumps({"error": error}), "application/json", ending)] * count)

    def fail_next_with_html(self, count=1, status=503, body=HTML_ERROR, *, ending=None):
        with self.lock:
            self.failures.extend([(status, body, "text/html", ending)] * count)

    def refuse_token_next(self, count=1, status=401):
        """As when the token was revoked (401) or lacks the scope (403)."""
        error = "Token is invalid or expired" if status == 401 else "No access to this administration"
        self.fail_next(count, status=status, error=error)

    def reset_rate_limit(self):
        with self.lock:
            self.window_started, self.window_count = None, 0

    def count(self, method, path):
        with self.lock:
            return sum(1 for m, p, _ in self.requests if m == method and p == path)

    def invoice(self, reference):
        with self.lock:
            found = [i for i in self.invoices.values() if i["reference"] == reference]
            return copy.deepcopy(found[0]) if found else None

    # -- WSGI ---------------------------------------------------------------------------------------------

    def __call__(self, environ, start_response):
        return self.handle(Request(environ))(environ, start_response)

    @staticmethod
    def json(body, status=200):
        return Response(json.dumps(body), status=status, content_type="application/json")

    def error(self, status, error, details=None):
        body = {"error": error}
        if details is not None:
            body["details"] = details
        return self.json(body, status)

    def handle(self, request):
        authorization = request.headers.get("Authorization", "")
        if authorization != f"Bearer {self.token}":
            return self.error(401, "Token is invalid or expired")
        limited, headers = self._count_request()
        response = self._limited() if limited else self._route(request)
        response.headers.update(headers)
        return response

    def _count_request(self):
        now = time.time()
        with self.lock:
            if self.window_started is None or now - self.window_started >= self.rate_window:
                self.window_started, self.window_count = now, 0
            self.window_count += 1
            reset = self.window_started + self.rate_window
            remaining = max(0, self.rate_limit - self.window_count)
            headers = {"RateLimit-Limit": str(self.rate_limit), "RateLimit-Remaining": str(remaining),
                       "RateLimit-Reset": str(math.ceil(reset))}
            if self.window_count > self.rate_limit:
                wait = math.ceil(reset - now)
                headers["Retry-After"] = (format_datetime(datetime.fromtimestamp(now + wait, UTC), usegmt=True)
                                          if self.retry_after_as_date else str(wait))
                return True, headers
        return False, headers

    def _limited(self):
        return self.error(429, "Too many requests")

    def _route(self, request):
        with self.lock:
            aimed = request.path.removesuffix(".json")
            for index, (status, body, content_type, ending) in enumerate(self.failures):
                if ending is None or aimed.endswith(ending):
                    del self.failures[index]
                    return Response(body, status=status, content_type=content_type)
        if not request.path.startswith(self.prefix):
            return self.error(404, "Administration not found")
        path = request.path[len(self.prefix):]
        if not path.endswith(".json"):
            return self.error(406, "Format not supported, use .json")
        path = path[:-len(".json")]
        params = dict(parse_qsl(request.query_string.decode(), keep_blank_values=True))
        with self.lock:
            self.requests.append((request.method, path, params))
        parts = path.split("/")
        method = request.method
        if parts[0] == "contacts":
            if method == "POST" and len(parts) == 1:
                return self.create_contact(request.get_json(silent=True))
            if method == "GET" and len(parts) == 3 and parts[1] == "customer_id":
                return self.find_contact(parts[2])
        if path == "tax_rates" and method == "GET":
            return self.paged(request, self._filtered_tax_rates(params.get("filter", "")), params)
        if path == "ledger_accounts" and method == "GET":
            return self.json(copy.deepcopy(self.ledger_accounts))
        if parts[0] == "external_sales_invoices":
            if len(parts) == 1 and method == "POST":
                return self.create_invoice(request.get_json(silent=True))
            if len(parts) == 1 and method == "GET":
                return self.paged(request, self._filtered_invoices(params.get("filter", "")), params)
            if len(parts) == 2 and parts[1] == "synchronization" and method == "GET":
                found = self._filtered_invoices(params.get("filter", ""))
                return self.json([{"id": i["id"], "version": i["version"]} for i in found])
            if len(parts) == 2 and method == "GET":
                with self.lock:
                    found = copy.deepcopy(self.invoices.get(parts[1]))
                return self.json(found) if found else self.error(404, "record not found")
            if len(parts) == 3 and parts[2] == "attachment" and method == "POST":
                return self.attach(parts[1], request)
        return self.error(404, "record not found")

    def paged(self, request, records, params):
        try:
            page = max(1, int(params.get("page", 1)))
            per_page = min(100, max(1, int(params.get("per_page", 50))))
        except ValueError:
            return self.error(400, "page and per_page must be numbers")
        start = (page - 1) * per_page
        response = self.json(copy.deepcopy(records[start:start + per_page]))
        if start + per_page < len(records):
            following = {**params, "page": str(page + 1), "per_page": str(per_page)}
            response.headers["Link"] = f'<{request.base_url}?{urlencode(following)}>; rel="next"'
        return response

    @staticmethod
    def _filter_terms(text):
        return dict(term.split(":", 1) for term in text.split(",") if ":" in term)

    def _filtered_tax_rates(self, text):
        terms = self._filter_terms(text)
        rates = self.tax_rates
        if "tax_rate_type" in terms:
            rates = [r for r in rates if r["tax_rate_type"] == terms["tax_rate_type"]]
        if "active" in terms:
            rates = [r for r in rates if r["active"] == (terms["active"] == "true")]
        if "country" in terms:
            rates = [r for r in rates if (r["country"] or "") == terms["country"]]
        return rates

    def _filtered_invoices(self, text):
        terms = self._filter_terms(text)
        with self.lock:
            invoices = sorted(self.invoices.values(), key=lambda i: (i["date"], i["id"]))
        period = terms.get("period", "this_year")
        if ".." in period:
            first, last = period.split("..")
            first, last = first.ljust(8, "0")[:8], last + ("31" if len(last) == 6 else "")
            invoices = [i for i in invoices if first <= i["date"].replace("-", "") <= last]
        elif period == "this_year":
            invoices = [i for i in invoices if i["date"][:4] == str(date.today().year)]
        if "contact_id" in terms:
            invoices = [i for i in invoices if i["contact_id"] == terms["contact_id"]]
        if terms.get("state", "all") != "all":
            invoices = [i for i in invoices if i["state"] in terms["state"].split("|")]
        return invoices

    def _new_id(self):
        with self.lock:
            self.next_id += 1
            return str(self.next_id)

    # -- contacts ---------------------------------------------------------------------------------------

    def find_contact(self, customer_id):
        with self.lock:
            found = [c for c in self.contacts.values() if c["customer_id"] == customer_id]
        return self.json(copy.deepcopy(found[0])) if found else self.error(404, "record not found")

    def create_contact(self, body):
        contact = body.get("contact") if isinstance(body, dict) else None
        if not isinstance(contact, dict):
            return self.error(400, "Parameter contact is required")
        if not any(contact.get(k) for k in ("company_name", "firstname", "lastname")):
            return self.error(422, {"base": ["Company name or first name and last name are required"]},
                              {"base": [{"error": "blank"}]})
        customer_id = str(contact.get("customer_id") or "")
        with self.lock:
            if customer_id and any(c["customer_id"] == customer_id for c in self.contacts.values()):
                return self.error(422, {"customer_id": ["has already been taken"]},
                                  {"customer_id": [{"error": "taken", "value": customer_id}]})
        fields = ("company_name", "firstname", "lastname", "attention", "address1", "address2", "zipcode", "city",
                  "country", "phone", "email", "tax_number", "chamber_of_commerce")
        record = {"id": self._new_id(), "administration_id": self.administration_id, "customer_id": customer_id,
                  **{f: contact.get(f) or None for f in fields}, "delivery_method": "Email",
                  "created_at": STAMP, "updated_at": STAMP, "version": int(time.time())}
        record["country"] = record["country"] or "NL"
        with self.lock:
            self.contacts[record["id"]] = record
        return self.json(copy.deepcopy(record), 201)

    # -- external sales invoices ----------------------------------------------------------------------------

    def _invoice_problems(self, invoice):
        problems, details = {}, {}

        def problem(field, message, code):
            problems.setdefault(field, []).append(message)
            details.setdefault(field, []).append({"error": code})

        with self.lock:
            contact_known = str(invoice.get("contact_id") or "") in self.contacts
            rates = {r["id"]: r for r in self.tax_rates}
            ledgers = {a["id"] for a in self.ledger_accounts}
            reference = str(invoice.get("reference") or "")
            if reference and any(i["reference"] == reference for i in self.invoices.values()):
                problem("reference", "has already been taken", "taken")
        if not contact_known:
            problem("contact_id", "does not exist", "invalid")
        if not reference:
            problem("reference", "can't be blank", "blank")
        try:
            date.fromisoformat(str(invoice.get("date")))
        except ValueError:
            problem("date", "is not a valid date", "invalid")
        details_in = invoice.get("details_attributes")
        if not isinstance(details_in, list) or not details_in:
            problem("details", "can't be blank", "blank")
        for detail in details_in if isinstance(details_in, list) else []:
            rate = rates.get(str(detail.get("tax_rate_id") or ""))
            if rate is None or not rate["active"] or rate["tax_rate_type"] != "sales_invoice":
                problem("details.tax_rate_id", "is not a valid sales tax rate", "invalid")
            if detail.get("ledger_account_id") and str(detail["ledger_account_id"]) not in ledgers:
                problem("details.ledger_account_id", "does not exist", "invalid")
            if _decimal(detail.get("price")) is None:
                problem("details.price", "is not a number", "not_a_number")
            if _decimal(str(detail.get("amount", "1")).split(" ")[0]) is None:
                problem("details.amount", "is not a number", "not_a_number")
        return problems, details

    def create_invoice(self, body):
        invoice = body.get("external_sales_invoice") if isinstance(body, dict) else None
        if not isinstance(invoice, dict):
            return self.error(400, "Parameter external_sales_invoice is required")
        problems, details = self._invoice_problems(invoice)
        if problems:
            return self.error(422, problems, details)
        rates = {r["id"]: r for r in self.tax_rates}
        lines, excl, tax_by_rate = [], Decimal(0), {}
        for detail in invoice["details_attributes"]:
            price = _decimal(detail["price"])
            amount = _decimal(str(detail.get("amount", "1")).split(" ")[0])
            total = (price * amount).quantize(CENT, ROUND_HALF_UP)
            rate_id = str(detail["tax_rate_id"])
            excl += total
            tax_by_rate[rate_id] = tax_by_rate.get(rate_id, Decimal(0)) + total
            lines.append({"id": self._new_id(), "administration_id": self.administration_id,
                          "tax_rate_id": rate_id, "ledger_account_id": detail.get("ledger_account_id"),
                          "amount": str(detail.get("amount", "1")), "amount_decimal": str(amount),
                          "description": detail.get("description") or "", "price": str(price),
                          "total_price_excl_tax_with_discount": _money(total)})
        # Moneybird rounds VAT per rate over the invoice's lines.
        tax = sum(((subtotal * Decimal(rates[rid]["percentage"]) / 100).quantize(CENT, ROUND_HALF_UP)
                   for rid, subtotal in tax_by_rate.items()), Decimal(0))
        record = {"id": self._new_id(), "administration_id": self.administration_id,
                  "contact_id": str(invoice["contact_id"]), "date": invoice["date"], "state": "open",
                  "due_date": invoice.get("due_date"), "reference": str(invoice["reference"]),
                  "entry_number": len(self.invoices) + 1, "origin": None, "source": invoice.get("source"),
                  "source_url": invoice.get("source_url"), "currency": invoice.get("currency", "EUR"),
                  "prices_are_incl_tax": bool(invoice.get("prices_are_incl_tax", False)),
                  "total_price_excl_tax": _money(excl), "total_price_incl_tax": _money(excl + tax),
                  "total_unpaid": _money(excl + tax), "details": lines, "payments": [], "attachments": [],
                  "created_at": STAMP, "updated_at": STAMP, "version": int(time.time())}
        with self.lock:
            self.invoices[record["id"]] = record
            answer = copy.deepcopy(record)
        if self.hold_after_create:
            self.released.wait(self.hold_after_create)
        return self.json(answer, 201)

    def attach(self, invoice_id, request):
        upload = request.files.get("file")
        with self.lock:
            invoice = self.invoices.get(invoice_id)
            if invoice is None:
                return self.error(404, "record not found")
            if upload is None:
                return self.error(400, "Parameter file is required")
            content = upload.read()
            self.attachments.setdefault(invoice_id, []).append((upload.filename, upload.mimetype, content))
            invoice["attachments"].append({"id": str(self.next_id + 1000), "filename": upload.filename,
                                           "content_type": upload.mimetype, "size": len(content)})
        return Response("", status=200)


def main():
    parser = argparse.ArgumentParser(description="A local Moneybird API v2 for demos and manual tests.")
    parser.add_argument("--host", default="127.0.0.1")
    parser.add_argument("--port", type=int, default=8765)
    parser.add_argument("--token", default=TOKEN)
    parser.add_argument("--rate-limit", type=int, default=150)
    parser.add_argument("--oss", action="append", default=[], metavar="CC:RATE",
                        help="one more OSS sales tax rate, e.g. IT:22 (the demo's shops sell there)")
    arguments = parser.parse_args()
    server = FakeMoneybird(token=arguments.token, rate_limit=arguments.rate_limit)
    for item in arguments.oss:
        country, _colon, rate = item.partition(":")
        server.add_oss_rate(country, rate)
    server.start(arguments.host, arguments.port)
    print(f"Fake Moneybird at {server.base_url}  administration {server.administration_id}  token {server.token}",
          flush=True)
    try:
        server.thread.join()
    except KeyboardInterrupt:
        server.stop()


if __name__ == "__main__":
    main()
