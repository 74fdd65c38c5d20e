"""A local HTTP server that speaks Printful's order API (v1) as api.printful.com does.

Bearer token authentication; POST /orders?confirm= creates an order (draft, or pending when confirmed) and refuses
a second order with the same external_id; GET and DELETE /orders/{id} or /orders/@{external_id}; every answer in
Printful's envelope {"code", "result"} and errors {"code", "result": message, "error": {"reason", "message"}}.
Tests add shipments to its orders, build its webhook payloads (package_shipped, order_failed, order_canceled) and
make it fail: queued 500s or HTML error pages, or holding the answer to an order creation after the order exists
(the client times out without knowing). Thread-safe: several workers call it at once. Used by the tests and bench/.

Its webhook configuration as Printful's Webhook API has it (GET/POST/DELETE /webhooks: {"url", "types"}). In demo
mode (`python -m tests.fakes.printful --demo --ship-after 20`) it is a provider that works: a confirmed order is
shipped `ship_after` seconds later, whole, by DHL Express with a tracking number of DHL Express's form, and the
package_shipped event is posted to the configured webhook URL (tried again for a while when it fails, as Printful
retries), so that an order submitted in a demo comes back shipped with its tracking.

Files, as Printful takes them: by URL only (a path or any other scheme is refused, "Item N: File URL is not valid").
In demo mode the print room downloads every file before it makes the order, as Printful does after the order is
placed: a file it cannot fetch (an error answer, after retries for a connection that fails) fails the order, and
order_failed is posted with the reason, instead of package_shipped.
"""

import argparse
import copy
import json
import signal
import threading
import time
from datetime import UTC, date, datetime
from decimal import Decimal
from urllib.parse import parse_qsl

import requests
from werkzeug.serving import make_server
from werkzeug.wrappers import Request, Response

STORE_ID = 4321
# Printful cancels an order that is not in production yet.
CANCELLABLE = {"draft", "pending", "failed", "onhold", "inreview"}
# Countries whose addresses Printful refuses without a state code.
STATE_REQUIRED = {"US", "CA", "AU"}
REASONS = {400: "BadRequest", 401: "Unauthorized", 404: "NotFound", 429: "TooManyRequests",
           500: "InternalServerError"}
HTML_ERROR = ("<!DOCTYPE html><html><head><title>502 Bad Gateway</title></head><body><center><h1>502 Bad Gateway"
              "</h1></center><hr><center>cloudflare</center></body></html>")


def error_body(status, message, reason=None):
    return {"code": status, "result": message, "error": {"reason": reason or REASONS.get(status, "Error"),
                                                         "message": message}}


class FakePrintful:
    def __init__(self, *, token="pf-test-token-0123456789abcdefghijklmnopqrstuv", demo=False, ship_after=20.0):
        self.token = token
        self.demo = demo  # confirmed orders are shipped ship_after seconds later (see ship_later)
        self.ship_after = ship_after
        self.webhook = {"url": None, "types": [], "params": []}  # as GET /webhooks answers it
        self.webhook_posts = []  # (event type, external id, HTTP status or None) of every webhook posted
        self.downloads = []  # (file URL, HTTP status or None, bytes) of every print file fetched in demo mode
        self.timers = []
        self.orders = {}  # Printful order id → order
        self.by_external_id = {}  # external_id → Printful order id
        self.requests = []  # (method, path, params) of every request that passed authentication
        self.failures = []  # queued (status, body, content_type), served before anything else
        self.hold_after_create = 0.0  # seconds the answer to an order creation waits after the order exists
        self.sync_variants = None  # set of external variant ids the store has; None: any is accepted
        self.lock = threading.Lock()
        self.released = threading.Event()  # set on stop: held answers go out at once
        self.next_order_id = 90000001
        self.next_item_id = 70000001
        self.next_shipment_id = 50001
        self.server = None
        self.thread = None
        self.url = ""

    # -- running ----------------------------------------------------------------------------

    def start(self, host="127.0.0.1", port=0):
        self.server = make_server(host, port, self, threaded=True)
        self.url = f"http://{host}:{self.server.server_port}"
        self.thread = threading.Thread(target=self.server.serve_forever, kwargs={"poll_interval": 0.05},
                                       daemon=True)
        self.thread.start()
        return self

    def stop(self):
        self.released.set()
        for timer in self.timers:
            timer.cancel()
        if self.server:
            self.server.shutdown()
            self.server.server_close()

    # -- test controls ---------------------------------------------------------------------

    @property
    def created(self):
        """How many orders were created here (the number that must never exceed one per external id)."""
        with self.lock:
            return len(self.orders)

    def count(self, method, path):
        with self.lock:
            return sum(1 for m, p, _ in self.requests if m == method and p == path)

    def fail_next(self, count=1, status=500, message="Internal server error"):
        """The next `count` requests get Printful's JSON error."""
        with self.lock:
            self.failures.extend([(status, json.dumps(error_body(status, message)), "application/json")] * count)

    def fail_next_with_html(self, count=1, status=502, body=HTML_ERROR):
        """The next `count` requests get an HTML error page, as a proxy in front of the API sends."""
        with self.lock:
            self.failures.extend([(status, body, "text/html")] * count)

    def order(self, external_id):
        with self.lock:
            found = self._find(f"@{external_id}")
            return copy.deepcopy(found) if found else None

    def set_status(self, external_id, status):
        with self.lock:
            self._find(f"@{external_id}")["status"] = status

    def add_shipment(self, external_id, *, carrier="DHL", service="DHL Paket", tracking_number="00340434161234567890",
                     tracking_url="https://www.dhl.de/de/privatkunden/pakete-empfangen/verfolgen.html?piececode="
                                  "00340434161234567890",
                     ship_date=date(2026, 11, 20), lines=None):
        """Ship items of an order: lines {our line id (item external_id): quantity}; None ships everything."""
        with self.lock:
            order = self._find(f"@{external_id}")
            items = [
                {"item_id": item["id"], "picked": 1, "printed": 1,
                 "quantity": item["quantity"] if lines is None else lines[int(item["external_id"])]}
                for item in order["items"]
                if lines is None or int(item["external_id"]) in lines
            ]
            shipped_at = int(datetime(ship_date.year, ship_date.month, ship_date.day, 15, 0, tzinfo=UTC).timestamp())
            shipment = {"id": self.next_shipment_id, "carrier": carrier, "service": service,
                        "tracking_number": tracking_number, "tracking_url": tracking_url, "created": shipped_at,
                        "ship_date": ship_date.isoformat(), "shipped_at": shipped_at, "reshipment": False,
                        "items": items}
            self.next_shipment_id += 1
            order["shipments"].append(shipment)
            shipped = {}
            for part in (p for s in order["shipments"] for p in s["items"]):
                shipped[part["item_id"]] = shipped.get(part["item_id"], 0) + part["quantity"]
            everything = all(shipped.get(item["id"], 0) >= item["quantity"] for item in order["items"])
            order["status"] = "fulfilled" if everything else "partial"
            return copy.deepcopy(shipment)

    # -- webhook payloads, as Printful posts them ----------------------------------------------

    def _event(self, kind, external_id, data):
        with self.lock:
            order = copy.deepcopy(self._find(f"@{external_id}"))
        return {"type": kind, "created": int(time.time()), "retries": 0, "store": STORE_ID,
                "data": {**data, "order": order}}

    def package_shipped(self, external_id, shipment):
        return self._event("package_shipped", external_id, {"shipment": shipment})

    def order_failed(self, external_id, reason="The print file could not be downloaded"):
        self.set_status(external_id, "failed")
        return self._event("order_failed", external_id, {"reason": reason})

    def order_canceled(self, external_id, reason="Canceled by the store owner"):
        self.set_status(external_id, "canceled")
        return self._event("order_canceled", external_id, {"reason": reason})

    # -- WSGI ----------------------------------------------------------------------------------

    def __call__(self, environ, start_response):
        response = self.handle(Request(environ))
        return response(environ, start_response)

    @staticmethod
    def json(body, status=200):
        return Response(json.dumps(body), status=status, content_type="application/json")

    def error(self, status, message, reason=None):
        return self.json(error_body(status, message, reason), status=status)

    def handle(self, request):
        with self.lock:
            if self.failures:
                status, body, content_type = self.failures.pop(0)
                return Response(body, status=status, content_type=content_type)
        authorization = request.headers.get("Authorization", "")
        if not authorization.startswith("Bearer "):
            return self.error(401, "Malformed 'Authorization' header")
        if authorization[len("Bearer "):] != self.token:
            return self.error(401, "The access token provided is invalid")
        params = dict(parse_qsl(request.query_string.decode(), keep_blank_values=True))
        path = request.path.rstrip("/")
        with self.lock:
            self.requests.append((request.method, path, params))
        if path == "/orders" and request.method == "POST":
            body = request.get_json(silent=True)
            if not isinstance(body, dict):
                return self.error(400, "Request body is not valid JSON")
            return self.create_order(body, confirm=params.get("confirm", "false").lower() in ("true", "1"))
        if path == "/webhooks":
            return self.webhooks_route(request)
        if path.startswith("/orders/"):
            key = path[len("/orders/"):]
            if request.method == "GET":
                with self.lock:
                    order = copy.deepcopy(self._find(key))
                return self.json({"code": 200, "result": order}) if order else self.error(404, "Not found")
            if request.method == "DELETE":
                return self.cancel_order(key)
        return self.error(404, "Not found")

    def _find(self, key):
        """An order by Printful id or by @external_id (call with the lock held)."""
        if key.startswith("@"):
            return self.orders.get(self.by_external_id.get(key[1:]))
        return self.orders.get(int(key)) if key.isdigit() else None

    # -- orders ----------------------------------------------------------------------------------

    def validate(self, body):
        recipient = body.get("recipient")
        if not isinstance(recipient, dict):
            return "Recipient is missing"
        for field, label in (("address1", "Address"), ("city", "City"), ("country_code", "Country code")):
            if not str(recipient.get(field) or "").strip():
                return f"Recipient: {label} is missing"
        if recipient["country_code"] in STATE_REQUIRED and not recipient.get("state_code"):
            return f"Recipient: State code is missing for country {recipient['country_code']}"
        items = body.get("items")
        if not isinstance(items, list) or not items:
            return "Items are missing"
        for index, item in enumerate(items):
            if not any(item.get(k) for k in ("variant_id", "sync_variant_id", "external_variant_id")):
                return f"Item {index}: Variant ID is missing"
            if not isinstance(item.get("quantity"), int) or item["quantity"] < 1:
                return f"Item {index}: Quantity must be a positive number"
            if item.get("variant_id") and not item.get("files"):
                return f"Item {index}: Print files are missing"
            external_variant = item.get("external_variant_id")
            if external_variant and self.sync_variants is not None and external_variant not in self.sync_variants:
                return f"Item {index}: Sync variant with external ID {external_variant} not found"
            for file in item.get("files") or []:
                if not str(file.get("url") or "").startswith(("http://", "https://")):
                    return f"Item {index}: File URL is not valid"
        return None

    def create_order(self, body, *, confirm):
        problem = self.validate(body)
        if problem:
            return self.error(400, problem)
        external_id = str(body.get("external_id") or "")
        now = int(time.time())
        with self.lock:
            if external_id and self._find(f"@{external_id}"):
                return self.error(400, "Order with this External ID already exists")
            order_id = self.next_order_id
            self.next_order_id += 1
            items = []
            for item in body["items"]:
                items.append({
                    "id": self.next_item_id, "external_id": item.get("external_id"),
                    "variant_id": item.get("variant_id") or 0, "sync_variant_id": item.get("sync_variant_id") or 0,
                    "external_variant_id": item.get("external_variant_id"), "quantity": item["quantity"],
                    "price": "13.50", "retail_price": item.get("retail_price"), "name": item.get("name", ""),
                    "files": [{"id": 800000 + i, "type": "default", "url": f["url"],
                               "status": "waiting" if self.demo else "ok"}
                              for i, f in enumerate(item.get("files") or [])],
                    "options": [], "sku": None, "discontinued": False, "out_of_stock": False,
                })
                self.next_item_id += 1
            subtotal = sum(Decimal("13.50") * i["quantity"] for i in items)
            order = {
                "id": order_id, "external_id": external_id or None, "store": STORE_ID,
                "status": "pending" if confirm else "draft", "shipping": body.get("shipping", "STANDARD"),
                "shipping_service_name": "Flat Rate (3-4 business days after fulfillment)",
                "created": now, "updated": now, "recipient": copy.deepcopy(body["recipient"]), "items": items,
                "costs": {"currency": "EUR", "subtotal": f"{subtotal:.2f}", "shipping": "4.39",
                          "total": f"{subtotal + Decimal('4.39'):.2f}"},
                "shipments": [], "gift": None, "packing_slip": body.get("packing_slip"),
            }
            self.orders[order_id] = order
            if external_id:
                self.by_external_id[external_id] = order_id
            answer = copy.deepcopy(order)
        if self.demo and confirm and external_id:
            self.ship_later(external_id)
        if self.hold_after_create:
            # The order exists; the client stops waiting before the answer comes.
            self.released.wait(self.hold_after_create)
        return self.json({"code": 200, "result": answer})

    def cancel_order(self, key):
        with self.lock:
            order = self._find(key)
            if order is None:
                return self.error(404, "Not found")
            if order["status"] not in CANCELLABLE:
                return self.error(400, f"Order with status {order['status']} can not be canceled")
            order["status"], order["updated"] = "canceled", int(time.time())
            return self.json({"code": 200, "result": copy.deepcopy(order)})

    # -- webhooks and the demo's production ------------------------------------------------------------

    def webhooks_route(self, request):
        if request.method == "POST":
            body = request.get_json(silent=True)
            if not isinstance(body, dict) or not str(body.get("url") or "").startswith(("http://", "https://")):
                return self.error(400, "Invalid webhook URL")
            with self.lock:
                self.webhook = {"url": body["url"], "types": list(body.get("types") or []),
                                "params": list(body.get("params") or [])}
        elif request.method == "DELETE":
            with self.lock:
                self.webhook = {"url": None, "types": [], "params": []}
        elif request.method != "GET":
            return self.error(404, "Not found")
        with self.lock:
            return self.json({"code": 200, "result": copy.deepcopy(self.webhook)})

    def ship_later(self, external_id):
        timer = threading.Timer(self.ship_after, self.ship_and_tell, args=(external_id,))
        timer.daemon = True
        self.timers.append(timer)
        timer.start()

    def download(self, url, *, attempts=6, delay=5.0):
        """Fetch a print file as Printful's file library does: (ok, why not). A connection that fails or a 5xx is
        tried again for a while; any other answer but 200 with a body is final."""
        status, why = None, "no answer"
        for attempt in range(attempts):
            try:
                response = requests.get(url, timeout=30)
                status = response.status_code
                size = len(response.content)
            except requests.RequestException as exc:
                status, size, why = None, 0, type(exc).__name__
            with self.lock:
                self.downloads.append((url, status, size))
            if status == 200 and size:
                return True, ""
            if status is not None and status < 500:
                return False, f"HTTP {status}"
            if status is not None:
                why = f"HTTP {status}"
            print(f"print file {url}: {why}, trying again", flush=True)
            if self.released.wait(delay * (attempt + 1)):
                break
        return False, why

    def fetch_files(self, external_id):
        """Download the order's files; the reason the order fails, or None when every file is in."""
        with self.lock:
            files = [(index, file) for index, item in enumerate(self._find(f"@{external_id}")["items"])
                     for file in item["files"]]
        for index, file in files:
            ok, why = self.download(file["url"])
            with self.lock:
                file["status"] = "ok" if ok else "failed"
            if not ok:
                return f"Item {index}: the print file could not be downloaded ({why}): {file['url']}"
        return None

    def ship_and_tell(self, external_id):
        """The print room has made the order: it goes out by DHL Express and the webhook says so (or, when a print
        file could not be downloaded, the order fails and order_failed says why)."""
        with self.lock:
            order = self._find(f"@{external_id}")
            if order is None or order["status"] not in ("pending", "inprocess", "onhold"):
                return None  # cancelled (or already shipped) meanwhile
            number = f"{(order['id'] * 7919) % 10 ** 10:010d}"
        problem = self.fetch_files(external_id)
        if problem:
            self.post_event(self.order_failed(external_id, reason=problem), external_id)
            return None
        shipment = self.add_shipment(
            external_id, carrier="DHL Express", service="", tracking_number=number,
            tracking_url="https://www.dhl.com/global-en/home/tracking/tracking-express.html?submit=1&tracking-id="
                         + number, ship_date=date.today())
        self.post_event(self.package_shipped(external_id, shipment), external_id)
        return shipment

    def post_event(self, event, external_id, *, attempts=8, delay=5.0):
        with self.lock:
            url, types = self.webhook["url"], self.webhook["types"]
        if not url or (types and event["type"] not in types):
            return None
        status = None
        for attempt in range(attempts):
            event["retries"] = attempt
            try:
                status = requests.post(url, json=event, timeout=30).status_code
            except requests.RequestException:
                status = None
            if status is not None and 200 <= status < 300:
                break
            print(f"webhook {event['type']} of {external_id}: HTTP {status or 'no answer'}", flush=True)
            if self.released.wait(delay * (attempt + 1)):
                break
        with self.lock:
            self.webhook_posts.append((event["type"], external_id, status))
        return status


def _stop_on_term(signum, frame):
    raise KeyboardInterrupt


def main():
    parser = argparse.ArgumentParser(description="A local Printful API (v1) for demos: orders are shipped later.")
    parser.add_argument("--host", default="127.0.0.1")
    parser.add_argument("--port", type=int, default=8767)
    parser.add_argument("--token", default="pf-demo-token-0123456789abcdefghijklmnopqrs")
    parser.add_argument("--demo", action="store_true", help="ship confirmed orders and post package_shipped")
    parser.add_argument("--ship-after", type=float, default=20.0, help="seconds between an order and its shipment")
    arguments = parser.parse_args()
    fake = FakePrintful(token=arguments.token, demo=arguments.demo, ship_after=arguments.ship_after)
    fake.start(arguments.host, arguments.port)
    signal.signal(signal.SIGTERM, _stop_on_term)
    print(f"Fake Printful at {fake.url}  token {fake.token}  ships after {arguments.ship_after:g} s", flush=True)
    try:
        threading.Event().wait()
    except KeyboardInterrupt:
        fake.stop()


if __name__ == "__main__":
    main()
