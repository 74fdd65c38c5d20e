"""A local HTTP server that speaks the WooCommerce REST API (wc/v3) as a real shop does.

It checks OAuth 1.0a signatures over plain http exactly as WooCommerce's
class-wc-rest-authentication.php does (HMAC-SHA256, key = secret + "&", ±15 min timestamps, no nonce reuse),
and over https (started with `tls=self_signed(directory)`) HTTP Basic auth or the keys as consumer_key /
consumer_secret query parameters, as WooCommerce does; it can play a host that strips the Authorization header.
It pages with X-WP-Total / X-WP-TotalPages (or, told to, without them as some hosts do), filters like the real
controller (status `any`, the default, leaves out the trash), answers errors in WooCommerce's shape, and can be
told to fail (503, HTML error pages, 429, slow answers, refund errors sent as HTTP 500). It can take a while per
answer (`delay`), work on a limited number of requests at once (`workers`, as PHP-FPM's pool), throttle as a host's
rate limiter does (`throttle_above`: 429 with Retry-After), and counts the requests in flight (`max_in_flight`).
Used by the tests and by bench/.
"""

import base64
import copy
import hashlib
import hmac
import json
import operator
import ssl
import subprocess
import threading
import time
from datetime import UTC, datetime, timedelta
from decimal import Decimal
from pathlib import Path
from urllib.parse import parse_qsl, quote

from werkzeug.serving import make_server
from werkzeug.wrappers import Request, Response

API_PREFIX = "/wp-json/wc/v3/"
TRACKING_PREFIX = "/wp-json/wc-shipment-tracking/v3/"
CORE_STATUSES = {"pending", "processing", "on-hold", "completed", "cancelled", "refunded", "failed", "trash",
                 "checkout-draft"}


def rfc3986(value):
    return quote(str(value), safe="-_.~")


def wc_date(value):
    return value.astimezone(UTC).strftime("%Y-%m-%dT%H:%M:%S")


def self_signed(directory, host="127.0.0.1"):
    """A certificate and key for `host`, made with the openssl command (cert path, key path).

    Clients trust it with REQUESTS_CA_BUNDLE=<cert path>, which requests reads when verifying.
    """
    cert, key = Path(directory) / "shop-cert.pem", Path(directory) / "shop-key.pem"
    subprocess.run(["openssl", "req", "-x509", "-newkey", "rsa:2048", "-nodes", "-keyout", str(key), "-out", str(cert),
                    "-days", "2", "-subj", f"/CN={host}", "-addext", f"subjectAltName=IP:{host}"],
                   check=True, capture_output=True)
    return str(cert), str(key)


class FakeWooCommerce:
    def __init__(self, *, consumer_key="ck_test_0123456789abcdef", consumer_secret="cs_test_fedcba9876543210",
                 shop_utc_offset_hours=1, check_auth=True):
        self.consumer_key = consumer_key
        self.consumer_secret = consumer_secret
        self.shop_offset = timedelta(hours=shop_utc_offset_hours)
        self.check_auth = check_auth
        self.orders = {}
        self.notes = {}  # order id → [note]
        self.details_sent = []  # (order id, email) of every "send order details" action
        self.refunds = {}  # order id → [refund]
        self.trackings = {}  # order id → [tracking]
        self.requests = []  # (method, path, params) of every request that reached the shop
        self.failures = []  # queued (status, body, content_type, headers) answers, served first
        self.conditional_failures = []  # [match(params), answers left, answer]: see fail_when
        self.delay = 0.0  # seconds every answer takes (a shop builds a page of 100 orders in 0.4-1 s)
        # How many requests it works on at once (PHP-FPM's pool): more wait for a free worker. None: no limit.
        self.workers = None
        # Throttling as a host's rate limiter does it: a request arriving while this many are in flight is answered
        # 429 with Retry-After `throttle_retry_after` (seconds). None: never.
        self.throttle_above = None
        self.throttle_retry_after = "1"
        self.in_flight = 0  # requests received and not yet answered
        self.max_in_flight = 0  # the most at once so far
        self.throttled = []  # time.monotonic() of each 429 sent by throttle_above
        self.arrivals = []  # time.monotonic() of every request's arrival, for tests of pacing
        self._workers = None
        self.shipment_tracking = True  # the Shipment Tracking extension is installed
        self.used_nonces = set()
        self.auth_seen = []  # how each request that reached the shop authenticated: oauth1, basic or query string
        self.strip_authorization = False  # play a host that drops the Authorization header before PHP sees it
        self.hide_paging_headers = False  # play a host or cache that drops the X-WP-* headers
        self.lock = threading.Lock()
        self.next_note_id = 1000
        self.next_refund_id = 5000
        self.server = None
        self.thread = None
        self.url = ""

    # -- running --------------------------------------------------------------------------

    def start(self, host="127.0.0.1", port=0, threaded=True, tls=None):
        """Serve on plain http, or on https with `tls` = (certificate path, key path), e.g. from `self_signed`."""
        context = None
        if tls:
            context = ssl.SSLContext(ssl.PROTOCOL_TLS_SERVER)
            context.load_cert_chain(*tls)
        self.server = make_server(host, port, self, threaded=threaded, ssl_context=context)
        self.url = f"{'https' if tls else 'http'}://{host}:{self.server.server_port}"
        self.thread = threading.Thread(target=self.server.serve_forever, daemon=True)
        self.thread.start()
        return self

    def stop(self):
        if self.server:
            self.server.shutdown()
            self.server.server_close()

    # -- test controls --------------------------------------------------------------------

    def add_orders(self, payloads):
        for payload in payloads:
            self.orders[payload["id"]] = copy.deepcopy(payload)

    def fail_next(self, count=1, status=503, body=None, content_type="text/html", headers=None):
        if body is None:
            body = "<html><head><title>503 Service Unavailable</title></head><body>Down</body></html>"
        for _ in range(count):
            self.failures.append((status, body, content_type, headers or {}))

    def fail_when(self, match, count=1, status=503, body=None, content_type="text/html", headers=None):
        """The next `count` GET requests whose query parameters satisfy `match(params)` fail, whenever they come
        (an import fetches ahead of what it has written, so "after page 1 is written" is not a moment)."""
        if body is None:
            body = "<html><head><title>503 Service Unavailable</title></head><body>Down</body></html>"
        with self.lock:
            self.conditional_failures.append([match, count, (status, body, content_type, headers or {})])

    def fail_page(self, page, count=1, **answer):
        self.fail_when(lambda params: params.get("page", "1") == str(page), count, **answer)

    def touch(self, woo_id, **changes):
        """Change an order as a shop admin would: date_modified moves on."""
        order = self.orders[woo_id]
        order.update(changes)
        now = datetime.now(UTC)
        order["date_modified_gmt"] = wc_date(now)
        order["date_modified"] = wc_date(now + self.shop_offset)
        return order

    def count(self, method, path_prefix):
        return sum(1 for m, p, _ in self.requests if m == method and p.startswith(path_prefix))

    # -- WSGI ---------------------------------------------------------------------------------

    def __call__(self, environ, start_response):
        request = Request(environ)
        with self.lock:
            self.arrivals.append(time.monotonic())
            self.in_flight += 1
            self.max_in_flight = max(self.max_in_flight, self.in_flight)
            throttle = self.throttle_above is not None and self.in_flight > self.throttle_above
            if self.workers and self._workers is None:
                self._workers = threading.BoundedSemaphore(self.workers)
        try:
            if throttle:
                with self.lock:
                    self.throttled.append(time.monotonic())
                response = self.error(429, "too_many_requests", "Too many requests.")
                response.headers["Retry-After"] = self.throttle_retry_after
            elif self._workers is not None:
                with self._workers:
                    response = self.handle(request)
            else:
                response = self.handle(request)
        finally:
            with self.lock:
                self.in_flight -= 1
        return response(environ, start_response)

    def handle(self, request):
        if self.delay:
            time.sleep(self.delay)
        with self.lock:
            if self.failures:
                status, body, content_type, headers = self.failures.pop(0)
                if isinstance(body, (dict, list)):
                    body, content_type = json.dumps(body), "application/json"
                return Response(body, status=status, content_type=content_type, headers=headers)
        params = dict(parse_qsl(request.query_string.decode(), keep_blank_values=True))  # PHP: last value wins
        with self.lock:
            for failure in self.conditional_failures if request.method == "GET" else ():
                match, left, (status, body, content_type, headers) = failure
                if left and match(params):
                    failure[1] -= 1
                    return Response(body, status=status, content_type=content_type, headers=headers)
        prefix = next((p for p in (API_PREFIX, TRACKING_PREFIX) if request.path.startswith(p)), None)
        if prefix is None or (prefix == TRACKING_PREFIX and not self.shipment_tracking):
            return self.error(404, "rest_no_route", "No route was found matching the URL and request method.")
        if self.check_auth:
            denied = self.authenticate(request, params)
            if denied:
                return denied
        route = request.path[len(prefix):].strip("/")
        clean = {k: v for k, v in params.items()
                 if not k.startswith("oauth_") and k not in ("consumer_key", "consumer_secret")}
        with self.lock:
            self.requests.append((request.method, route, clean))
        try:
            body = request.get_json(silent=True) if request.data else None
            return self.route(request.method, route, clean, body)
        except ValueError as exc:
            return self.error(400, "rest_invalid_param", f"Invalid parameter(s): {exc}")

    def authenticate(self, request, params):
        """As WC_REST_Authentication: over https Basic auth, else the query-string keys, else OAuth1 (http: OAuth1)."""
        if self.url.startswith("https"):
            key = secret = None
            how = ""
            header = "" if self.strip_authorization else request.headers.get("Authorization", "")
            if header.startswith("Basic "):
                key, _, secret = base64.b64decode(header[6:]).decode().partition(":")
                how = "basic"
            if not key and params.get("consumer_key") and params.get("consumer_secret"):
                key, secret, how = params["consumer_key"], params["consumer_secret"], "query string"
            if key and key == self.consumer_key:
                if not hmac.compare_digest(secret, self.consumer_secret):
                    return self.error(401, "woocommerce_rest_authentication_error", "Consumer secret is invalid.")
                with self.lock:
                    self.auth_seen.append(how)
                return None
            # An unknown key is no user: WooCommerce falls through to OAuth1, then to an anonymous request.
        denied = self.authenticate_oauth1(request, params)
        if denied is None:
            with self.lock:
                self.auth_seen.append("oauth1")
        return denied

    def authenticate_oauth1(self, request, params):
        if "oauth_signature" not in params:
            return self.error(401, "woocommerce_rest_cannot_view", "Sorry, you cannot list resources.")
        if params.get("oauth_consumer_key") != self.consumer_key:
            return self.error(401, "woocommerce_rest_authentication_error", "Consumer key is invalid.")
        try:
            timestamp = int(params.get("oauth_timestamp", ""))
        except ValueError:
            return self.error(401, "woocommerce_rest_authentication_error", "Invalid timestamp.")
        if abs(time.time() - timestamp) > 15 * 60:
            return self.error(401, "woocommerce_rest_authentication_error", "Invalid timestamp.")
        method = params.get("oauth_signature_method", "")
        if method not in ("HMAC-SHA1", "HMAC-SHA256"):
            return self.error(401, "woocommerce_rest_authentication_error", "Invalid signature method.")
        signed = {k: v for k, v in params.items() if k != "oauth_signature"}
        query = "%26".join(rfc3986(f"{rfc3986(k)}={rfc3986(v)}") for k, v in sorted(signed.items()))
        base_uri = rfc3986(f"{self.url}{request.path}")
        to_sign = f"{request.method}&{base_uri}&{query}"
        digest = hashlib.sha256 if method == "HMAC-SHA256" else hashlib.sha1
        expected = base64.b64encode(hmac.new(f"{self.consumer_secret}&".encode(), to_sign.encode(), digest).digest())
        if not hmac.compare_digest(expected.decode(), params["oauth_signature"].replace(" ", "+")):
            return self.error(401, "woocommerce_rest_authentication_error", "Invalid signature - provided signature does not match.")
        nonce = (params.get("oauth_nonce"), timestamp)
        with self.lock:
            if nonce in self.used_nonces:
                return self.error(401, "woocommerce_rest_authentication_error",
                                  "Invalid nonce - nonce has already been used.")
            self.used_nonces.add(nonce)
        return None

    @staticmethod
    def error(status, code, message, data_status=None):
        body = {"code": code, "message": message, "data": {"status": data_status or status}}
        return Response(json.dumps(body), status=status, content_type="application/json")

    @staticmethod
    def json(body, status=200, headers=None):
        return Response(json.dumps(body), status=status, content_type="application/json", headers=headers or {})

    # -- routes -------------------------------------------------------------------------------

    def route(self, method, route, params, body):
        parts = route.split("/")
        if parts == ["orders"] and method == "GET":
            return self.list_orders(params)
        if len(parts) >= 2 and parts[0] == "orders" and parts[1].isdigit():
            woo_id = int(parts[1])
            order = self.orders.get(woo_id)
            if order is None:
                status = 400 if method in ("PUT", "POST") else 404
                return self.error(status, "woocommerce_rest_shop_order_invalid_id", "Invalid ID.")
            if len(parts) == 2 and method == "GET":
                return self.json(order)
            if len(parts) == 2 and method in ("PUT", "POST"):
                return self.update_order(order, body or {})
            if parts[2:] == ["notes"] and method == "POST":
                return self.add_note(woo_id, body or {})
            if parts[2:] == ["notes"] and method == "GET":
                return self.list_notes(woo_id, params)
            if parts[2:] == ["refunds"] and method == "POST":
                return self.add_refund(order, body or {})
            if parts[2:] == ["refunds"] and method == "GET":
                return self.list_refunds(woo_id, params)
            if parts[2:] == ["shipment-trackings"] and method == "POST":
                return self.add_tracking(woo_id, body or {})
            if parts[2:] == ["shipment-trackings"] and method == "GET":
                return self.json(self.trackings.get(woo_id, []))
            if parts[2:] == ["actions", "send_order_details"] and method == "POST":
                return self.send_order_details(order)
        return self.error(404, "rest_no_route", "No route was found matching the URL and request method.")

    def _parse_filter_date(self, value, gmt):
        parsed = datetime.fromisoformat(value.replace("Z", "+00:00"))
        if parsed.tzinfo is None:
            # Without a zone WooCommerce reads the date in the shop's timezone unless dates_are_gmt is set.
            parsed = parsed.replace(tzinfo=UTC) - (timedelta(0) if gmt else self.shop_offset)
        return parsed.astimezone(UTC)

    def list_orders(self, params):
        per_page = int(params.get("per_page", 10))
        if not 1 <= per_page <= 100:
            return self.error(400, "rest_invalid_param", "Invalid parameter(s): per_page",)
        page = int(params.get("page", 1))
        gmt = params.get("dates_are_gmt") in ("true", "1")
        orders = list(self.orders.values())
        statuses = params.get("status", "any")
        if statuses == "any":
            orders = [o for o in orders if o["status"] not in ("trash", "checkout-draft")]
        else:
            wanted = set(statuses.split(","))
            orders = [o for o in orders if o["status"] in wanted]
        if params.get("include"):
            wanted_ids = [int(i) for i in params["include"].split(",")]
            orders = [o for o in orders if o["id"] in wanted_ids]
        # WordPress date queries are exclusive at both ends (inclusive=false).
        for name, field, op in (("after", "date_created_gmt", operator.gt),
                                ("before", "date_created_gmt", operator.lt),
                                ("modified_after", "date_modified_gmt", operator.gt),
                                ("modified_before", "date_modified_gmt", operator.lt)):
            if params.get(name):
                limit = self._parse_filter_date(params[name], gmt)
                orders = [o for o in orders if op(datetime.fromisoformat(o[field]).replace(tzinfo=UTC), limit)]
        key = {"id": lambda o: o["id"], "date": lambda o: (o["date_created_gmt"], o["id"]),
               "modified": lambda o: (o["date_modified_gmt"], o["id"]),
               "include": lambda o: o["id"]}.get(params.get("orderby", "date"))
        if key is None:
            return self.error(400, "rest_invalid_param", "Invalid parameter(s): orderby")
        orders.sort(key=key, reverse=params.get("order", "desc") == "desc")
        total = len(orders)
        total_pages = max((total + per_page - 1) // per_page, 1) if total else 0
        if page > max(total_pages, 1):
            return self.error(400, "rest_post_invalid_page_number",
                              "The page number requested is larger than the number of pages available.")
        items = orders[(page - 1) * per_page: page * per_page]
        headers = {"X-WP-Total": str(total), "X-WP-TotalPages": str(total_pages)}
        if page < total_pages:
            headers["Link"] = f'<{self.url}{API_PREFIX}orders?page={page + 1}>; rel="next"'
        if self.hide_paging_headers:
            headers = {}
        return self.json(items, headers=headers)

    def update_order(self, order, body):
        status = body.get("status")
        if status is not None:
            if not self.known_status(status):
                return self.error(400, "rest_invalid_param", "Invalid parameter(s): status")
            order["status"] = status
        if isinstance(body.get("shipping"), dict):
            order["shipping"].update(body["shipping"])
        if isinstance(body.get("meta_data"), list):
            # As WooCommerce does: an entry with a key the order has (or its id) updates it, another one is added.
            for entry in body["meta_data"]:
                known = next((m for m in order["meta_data"] if m.get("key") == entry.get("key")
                              or ("id" in entry and m.get("id") == entry["id"])), None)
                if known is not None:
                    known["value"] = entry.get("value")
                else:
                    order["meta_data"].append({"id": 9000 + len(order["meta_data"]), **entry})
        self.touch(order["id"])
        return self.json(order)

    def known_status(self, status):
        """Whether the shop has this status: the core ones, and (in tests) any custom-… slug."""
        return status in CORE_STATUSES or status.startswith("custom-")

    def add_note(self, woo_id, body):
        if not body.get("note"):
            return self.error(400, "woocommerce_rest_missing_note", "Cannot create order note, please provide a note.")
        with self.lock:
            self.next_note_id += 1
            now = datetime.now(UTC)
            note = {"id": self.next_note_id, "author": "api", "date_created": wc_date(now + self.shop_offset),
                    "date_created_gmt": wc_date(now), "note": body["note"],
                    "customer_note": bool(body.get("customer_note"))}
        self.notes.setdefault(woo_id, []).append(note)
        return self.json(note, status=201)

    def send_order_details(self, order):
        # As WooCommerce 9.8's order actions controller: the customer_invoice mail to the billing email, and a note.
        email = (order.get("billing") or {}).get("email")
        if not email:
            return self.error(400, "woocommerce_rest_missing_email", "Order does not have an email address.")
        message = f"Order details sent to {email}, via REST API."
        self.details_sent.append((order["id"], email))
        with self.lock:
            self.next_note_id += 1
            now = datetime.now(UTC)
            note = {"id": self.next_note_id, "author": "system", "date_created": wc_date(now + self.shop_offset),
                    "date_created_gmt": wc_date(now), "note": message, "customer_note": False}
        self.notes.setdefault(order["id"], []).append(note)
        return self.json({"message": message})

    def list_notes(self, woo_id, params):
        # Like WC_REST_Order_Notes_Controller: every note, newest first, no paging; type any|customer|internal.
        kind = params.get("type", "any")
        if kind not in ("any", "customer", "internal"):
            return self.error(400, "rest_invalid_param", "Invalid parameter(s): type")
        notes = [n for n in self.notes.get(woo_id, [])
                 if kind == "any" or n["customer_note"] == (kind == "customer")]
        return self.json(sorted(notes, key=lambda n: n["id"], reverse=True))

    def add_tracking(self, woo_id, body):
        if not body.get("tracking_number"):
            return self.error(400, "woocommerce_rest_missing_tracking_number", "Tracking number is required.")
        with self.lock:
            self.next_note_id += 1
            tracking_id = f"{self.next_note_id:x}"
        provider = body.get("tracking_provider") or body.get("custom_tracking_provider", "")
        link = (body.get("custom_tracking_link") or "").replace("%1$s", body["tracking_number"])
        tracking = {"tracking_id": tracking_id, "tracking_provider": provider, "tracking_link": link,
                    "tracking_number": body["tracking_number"], "date_shipped": body.get("date_shipped", "")}
        self.trackings.setdefault(woo_id, []).append(tracking)
        return self.json(tracking, status=201)

    def list_refunds(self, woo_id, params):
        """GET orders/<id>/refunds: newest first, paged like every WooCommerce collection."""
        per_page = int(params.get("per_page", 10))
        if not 1 <= per_page <= 100:
            return self.error(400, "rest_invalid_param", "Invalid parameter(s): per_page")
        page = int(params.get("page", 1))
        refunds = sorted(self.refunds.get(woo_id, []), key=lambda r: (r["date_created_gmt"], r["id"]), reverse=True)
        total_pages = (len(refunds) + per_page - 1) // per_page
        if page > max(total_pages, 1):
            return self.error(400, "rest_post_invalid_page_number",
                              "The page number requested is larger than the number of pages available.")
        items = refunds[(page - 1) * per_page: page * per_page]
        headers = {} if self.hide_paging_headers else {"X-WP-Total": str(len(refunds)),
                                                       "X-WP-TotalPages": str(total_pages)}
        return self.json(items, headers=headers)

    def _refund_item(self, order, refund_id, index, body_item):
        """A refund's line as WooCommerce answers it: negative quantity and totals, the order item in its meta."""
        item_id = body_item.get("id")
        for group, name_key in (("line_items", "name"), ("shipping_lines", "method_title"), ("fee_lines", "name")):
            original = next((i for i in order.get(group) or [] if i.get("id") == item_id), None)
            if original is not None:
                break
        else:
            group, name_key, original = "line_items", "name", {}
        tax = sum(Decimal(str(t.get("refund_total", 0))) for t in body_item.get("refund_tax") or [])
        line = {"id": refund_id * 10 + index, name_key: original.get(name_key, ""),
                "quantity": -int(body_item.get("quantity", 0)),
                "total": f"-{Decimal(str(body_item.get('refund_total', 0))):.2f}", "total_tax": f"-{tax:.2f}",
                "taxes": [{"id": t["id"], "total": f"-{Decimal(str(t.get('refund_total', 0))):.2f}", "subtotal": ""}
                          for t in body_item.get("refund_tax") or []],
                "meta_data": [{"id": refund_id * 100 + index, "key": "_refunded_item_id", "value": str(item_id),
                               "display_key": "_refunded_item_id", "display_value": str(item_id)}]}
        if group == "line_items":
            line.update(product_id=original.get("product_id", 0), variation_id=original.get("variation_id", 0),
                        sku=original.get("sku", ""), subtotal=line["total"], subtotal_tax=line["total_tax"])
        return group, line

    def add_refund(self, order, body):
        """POST orders/<id>/refunds, as the REST API and the shop's own admin screen make refunds."""
        already = sum(-Decimal(r["total"]) for r in order["refunds"])
        amount = Decimal(str(body.get("amount") or "0"))
        if amount <= 0:
            # WooCommerce sends refund errors as HTTP 500 with "data": 400.
            body_ = {"code": "woocommerce_rest_cannot_create_order_refund",
                     "message": "Refund amount must be greater than zero.", "data": 400}
            return self.json(body_, status=500)
        if amount + already > Decimal(order["total"]):
            body_ = {"code": "woocommerce_rest_cannot_create_order_refund",
                     "message": "Invalid refund amount.", "data": 400}
            return self.json(body_, status=500)
        with self.lock:
            self.next_refund_id += 1
            refund_id = self.next_refund_id
        now = datetime.now(UTC)
        refund = {"id": refund_id, "date_created": wc_date(now + self.shop_offset), "date_created_gmt": wc_date(now),
                  "amount": f"{amount:.2f}", "reason": body.get("reason", ""), "refunded_by": 1,
                  "refunded_payment": bool(body.get("api_refund", True)), "meta_data": body.get("meta_data", []),
                  "line_items": [], "shipping_lines": [], "tax_lines": [], "fee_lines": []}
        for i, body_item in enumerate(body.get("line_items", [])):
            group, line = self._refund_item(order, refund_id, i, body_item)
            refund[group].append(line)
        self.refunds.setdefault(order["id"], []).append(refund)
        order["refunds"].insert(0, {"id": refund_id, "reason": refund["reason"], "total": f"-{amount:.2f}"})
        if amount + already == Decimal(order["total"]):
            order["status"] = "refunded"
        self.touch(order["id"])
        return self.json(refund, status=201)

    def refund_in_shop(self, woo_id, *, lines=None, amount=None, reason="", when=None):
        """A refund made by the shop's staff in WooCommerce's admin: {item id: (quantity, net, tax)} per line.

        Returns the refund as WooCommerce keeps it; the order's JSON then lists only its id, reason and total.
        """
        order = self.orders[woo_id]
        items = []
        for item_id, (quantity, net, tax) in (lines or {}).items():
            original = next((i for group in ("line_items", "shipping_lines", "fee_lines")
                             for i in order.get(group) or [] if i.get("id") == item_id), {})
            rate_id = next((t.get("id") for t in original.get("taxes") or []), None)
            item = {"id": item_id, "quantity": quantity, "refund_total": net}
            if rate_id is not None and Decimal(tax):
                item["refund_tax"] = [{"id": rate_id, "refund_total": tax}]
            items.append(item)
        if amount is None:
            amount = sum((Decimal(net) + Decimal(tax) for _q, net, tax in (lines or {}).values()), Decimal("0"))
        response = self.add_refund(order, {"amount": str(amount), "reason": reason, "api_refund": False,
                                           "line_items": items})
        assert response.status_code == 201, response.get_data(as_text=True)
        refund = self.refunds[woo_id][-1]
        if when is not None:
            refund["date_created_gmt"] = wc_date(when)
            refund["date_created"] = wc_date(when + self.shop_offset)
        return refund


def main():
    """`python -m tests.fakes.woocommerce --demo …`: a demo shop (tests/fakes/woocommerce_demo.py)."""
    from tests.fakes.woocommerce_demo import main as demo_main

    demo_main()


if __name__ == "__main__":
    main()
