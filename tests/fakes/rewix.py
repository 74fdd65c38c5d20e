"""A local HTTP server that speaks a Rewix supplier platform's API as the plugins see it (../shared/reference/rewix-api.md).

HTTP Basic (API key : password) or Bearer token; the catalogue as products.json (`since` gives changed products, and
an older `since` than the platform keeps is answered 412; with `page_size` set it pages with ?page=N); the growing
order (GET …/dropshipping/locked/, POST …/orders/sold with lock, unlock and set operations against the stock, answered
with the growing order after the change: a model short of stock gets what is left, a model no longer sold gets
nothing); dropshipping orders (POST …/orders/0/dropshipping) that take their items from the reservations first,
then from the stock. A second order with a key the platform already has is refused (412, "already exists"), as the
platform keeps one order per shop key; an order is looked up by key (an unknown key is answered 500 "does not
exist", as the plugins report) or by id (404). Tests advance an order's status and tracking, and queue faults: a 500
or 401, an HTML error page, holding the answer to a change after the change was made (the client times out without
knowing), stock running out, a product leaving the catalogue. Every request is logged (method, path, body, query).
Thread-safe. Run it for a demo with `python -m tests.fakes.rewix --port 8765`.
"""

import argparse
import base64
import copy
import json
import threading
import xml.etree.ElementTree as ET
from datetime import UTC, datetime, timedelta
from typing import NamedTuple
from urllib.parse import unquote

from werkzeug.serving import make_server
from werkzeug.wrappers import Request, Response

from tests.fakes.rewix_catalogue import starting_products

API_KEY = "5c0d7a1e-93b2-4f6e-8d41-2a9c7e3b6f10"
PASSWORD = "Fornitore-2026!"
TOKEN = "eyJhbGciOiJIUzI1NiJ9.eyJ1c2VySWQiOiJzaG9wLTQyIn0.rewix-test-token"
GROWING_ORDER_ID = "1402771"
INCREMENTAL_WINDOW = timedelta(hours=4)  # how far back `since` may go
DATE_FORMAT = "%Y/%m/%d %H:%M:%S %z"
CATALOGUE = "/restful/export/api/products.json"
LOCKED = "/restful/ghost/orders/dropshipping/locked"
SOLD = "/restful/ghost/orders/sold"
DROPSHIPPING = "/restful/ghost/orders/0/dropshipping"
BY_KEY = "/restful/ghost/clientorders/clientkey/"
BY_ID = "/restful/ghost/clientorders/serverkey/"
HTML_ERROR = ("<!DOCTYPE html><html><head><title>503 Service Unavailable</title></head><body><h1>Service "
              "Unavailable</h1><p>The platform is under maintenance, please retry in a few minutes.</p></body></html>")
TRACKING_URL = "https://vas.brt.it/vas/sped_det_show.hsm?Nspediz={}"
DEMO_FLOW = [5, 2, 3001, 3002, 3]  # booked, to dispatch (confirmed), working on, ready, dispatched


class Logged(NamedTuple):
    method: str
    path: str
    body: str
    query: dict


def xml_response(root, status=200):
    return Response(ET.tostring(root, encoding="utf-8", xml_declaration=True), status=status,
                    content_type="application/xml")


def text_response(text, status):
    return Response(text, status=status, content_type="text/plain")


class FakeRewix:
    def __init__(self, *, api_key=API_KEY, password=PASSWORD, token=TOKEN, page_size=None, demo=False):
        self.api_key, self.password, self.token = api_key, password, token
        # Demo: the supplier's staff work on each order: every lookup moves it one status on (see demo_step).
        self.demo = demo
        self.page_size = page_size  # None: the whole catalogue in one answer, as the plugins see it
        self.lock = threading.RLock()
        self.released = threading.Event()  # set on stop: held answers go out at once
        started = datetime.now(UTC) - timedelta(days=2)
        self.products = {}  # product id → product as products.json has it
        self.models = {}  # stock_id (str) → model (inside its product)
        self.updated = {}  # product id → when it last changed
        for product in starting_products():
            if demo:  # a wholesaler's stock for a demo shop's few hundred orders; what is out of stock stays so
                for model in product["models"]:
                    model["availability"] *= 100
            self.add_product(product, at=started)
        self.locks = {}  # stock_id → quantity locked for this shop in the growing order
        self.orders = {}  # key → dropshipping order
        self.requests = []  # Logged, every request that arrived
        self.failures = []  # queued (status, body, content type), served before anything else
        self.holds = []  # queued (kind, seconds): the next change ("change") or read ("read") is answered this late
        self.next_order_id = 5100001
        self.server = self.thread = None
        self.url = ""

    # -- running ----------------------------------------------------------------------------------------------------

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

    # -- test controls -----------------------------------------------------------------------------------------------

    def count(self, method, path):
        with self.lock:
            return sum(1 for logged in self.requests if logged.method == method and logged.path.rstrip("/") ==
                       path.rstrip("/"))

    def fail_next(self, status=500, *, count=1, body="Internal Server Error"):
        """The next `count` requests get this status with a plain-text body, whatever they ask."""
        with self.lock:
            self.failures.extend([(status, body, "text/plain")] * count)

    def fail_next_with_html(self, status=503, *, count=1, body=HTML_ERROR):
        """The next `count` requests get an HTML page, as a proxy or a maintenance page in front of the API sends."""
        with self.lock:
            self.failures.extend([(status, body, "text/html")] * count)

    def hold_next_change(self, seconds):
        """The next reservation change or order is made, then its answer waits `seconds` (or until stop)."""
        with self.lock:
            self.holds.append(("change", seconds))

    def hold_next_read(self, seconds):
        """The answer to the next GET waits `seconds` (or until stop)."""
        with self.lock:
            self.holds.append(("read", seconds))

    def set_stock(self, stock_id, availability):
        """What the supplier still has free of a model (0: out of stock)."""
        with self.lock:
            model = self.models[str(stock_id)]
            model["availability"] = availability
            self._touch(model)

    def add_product(self, product, *, at=None):
        with self.lock:
            self.products[product["id"]] = product
            self.updated[product["id"]] = at or datetime.now(UTC)
            for model in product["models"]:
                model["product_id"] = product["id"]
                self.models[str(model["id"])] = model

    def remove_product(self, product_id):
        """The supplier stops selling it: gone from the catalogue, its reservations dropped, orders refused."""
        with self.lock:
            product = self.products.pop(product_id)
            for model in product["models"]:
                self.models.pop(str(model["id"]), None)
                self.locks.pop(str(model["id"]), None)

    def locked(self, stock_id):
        with self.lock:
            return self.locks.get(str(stock_id), 0)

    def availability(self, stock_id):
        with self.lock:
            return self.models[str(stock_id)]["availability"]

    def order(self, key):
        with self.lock:
            found = self.orders.get(key)
            return copy.deepcopy(found) if found else None

    def advance(self, key, code, tracking=None, *, carrier="BRT", tracking_url=None, at=None):
        """Move an order to a status code, as the supplier's staff do (3 = dispatched, with tracking)."""
        with self.lock:
            order = self.orders[key]
            order["status"] = code
            if tracking:
                order.update(tracking_code=tracking, carrier_name=carrier,
                             tracking_url=tracking_url or TRACKING_URL.format(tracking))
            order["last_update"] = at or datetime.now(UTC)
            return copy.deepcopy(order)

    def demo_step(self, order):
        """Booked → Confirmed → Working on → Ready → Dispatched (with a BRT tracking number), a step per lookup;
        an order's key sets how far along it stops, so that a demo shows every status at once."""
        stops = DEMO_FLOW[: 1 + sum(map(ord, order["key"])) % len(DEMO_FLOW)]
        position = DEMO_FLOW.index(order["status"]) if order["status"] in DEMO_FLOW else 0
        if position + 1 < len(stops):
            code = stops[position + 1]
            tracking = f"BRT{order['order_id']:010d}" if code == 3 else None
            order["status"] = code
            if tracking:
                order.update(tracking_code=tracking, carrier_name="BRT", tracking_url=TRACKING_URL.format(tracking))
            order["last_update"] = datetime.now(UTC)

    # -- WSGI --------------------------------------------------------------------------------------------------------

    def __call__(self, environ, start_response):
        return self.handle(Request(environ))(environ, start_response)

    def handle(self, request):
        response = self.answer(request)
        kind = "change" if request.method == "POST" else "read"
        with self.lock:
            held = next((hold for hold in self.holds if hold[0] == kind), None)
            if held:
                self.holds.remove(held)
        if held:
            # The request was handled (a change is made); the client stops waiting before the answer comes.
            self.released.wait(held[1])
        return response

    def answer(self, request):
        path = request.path.rstrip("/")
        with self.lock:
            self.requests.append(Logged(request.method, request.path, request.get_data(as_text=True),
                                        dict(request.args)))
            if self.failures:
                status, body, content_type = self.failures.pop(0)
                return Response(body, status=status, content_type=content_type)
        if not self.authorized(request.headers.get("Authorization", "")):
            return Response("Unauthorized", status=401, content_type="text/plain",
                            headers={"WWW-Authenticate": 'Basic realm="rewix"'})
        wanted = "application/json" if path == CATALOGUE else "application/xml"
        accept = request.headers.get("Accept", "*/*")
        if wanted not in accept and "*/*" not in accept:
            return text_response(f"Not Acceptable: this resource is offered as {wanted}", 406)
        if request.method == "GET" and path == CATALOGUE:
            return self.catalogue(request.args)
        if request.method == "GET" and path == LOCKED:
            with self.lock:
                return xml_response(self.growing_order())
        if request.method == "POST" and path == SOLD:
            return self.change_reservations(request.get_data())
        if request.method == "POST" and path == DROPSHIPPING:
            return self.place_order(request.get_data())
        if request.method == "GET" and path.startswith(BY_KEY):
            key = unquote(path[len(BY_KEY):])
            with self.lock:
                order = self.orders.get(key)
                if order and self.demo:
                    self.demo_step(order)
                return xml_response(self.order_xml(order)) if order else text_response(
                    f"Exception: order {key} does not exist", 500)
        if request.method == "GET" and path.startswith(BY_ID):
            with self.lock:
                order = next((o for o in self.orders.values() if str(o["order_id"]) == path[len(BY_ID):]), None)
                return xml_response(self.order_xml(order)) if order else text_response("Not Found", 404)
        return text_response("Not Found", 404)

    def authorized(self, header):
        if header.startswith("Bearer "):
            return bool(self.token) and header[len("Bearer "):] == self.token
        if header.startswith("Basic "):
            try:
                pair = base64.b64decode(header[len("Basic "):]).decode()
            except ValueError:
                return False
            return pair == f"{self.api_key}:{self.password}"
        return False

    # -- catalogue ---------------------------------------------------------------------------------------------------

    def catalogue(self, args):
        now = datetime.now(UTC)
        since = None
        if args.get("since"):
            try:
                since = datetime.fromisoformat(args["since"].replace("Z", "+00:00"))
            except ValueError:
                return text_response("Invalid since parameter", 400)
            if since < now - INCREMENTAL_WINDOW:
                return text_response("Incremental validity failed.", 412)
        with self.lock:
            items = [self.product_json(p) for pid, p in self.products.items()
                     if since is None or self.updated[pid] > since]
        total = len(items)
        if self.page_size:
            page = int(args.get("page", 1))
            items = items[(page - 1) * self.page_size: page * self.page_size]
        body = {"pageItems": items, "totalItems": total, "lastUpdate": now.strftime("%Y-%m-%dT%H:%M:%S.000Z")}
        return Response(json.dumps(body), content_type="application/json")

    def product_json(self, product):
        data = copy.deepcopy(product)
        for model in data["models"]:
            model.pop("product_id")
        data["availability"] = sum(model["availability"] for model in data["models"])
        data["lastUpdate"] = self.updated[product["id"]].strftime("%Y-%m-%dT%H:%M:%S.000Z")
        return data

    def _touch(self, model):
        self.updated[model["product_id"]] = datetime.now(UTC)

    # -- the growing order -------------------------------------------------------------------------------------------

    def growing_order(self):
        root = ET.Element("root", order_id=GROWING_ORDER_ID)
        for stock_id, locked in self.locks.items():
            if locked > 0 and stock_id in self.models:
                ET.SubElement(root, "model", stock_id=stock_id, locked=str(locked),
                              available=str(self.models[stock_id]["availability"]))
        return root

    def reserve(self, stock_id, wanted):
        """Make `wanted` locked, as far as the stock allows (call with the lock held)."""
        model = self.models.get(stock_id)
        if model is None:
            return  # not sold (any more): nothing can be reserved
        current = self.locks.get(stock_id, 0)
        if wanted > current:
            taken = min(wanted - current, model["availability"])
            model["availability"] -= taken
            self.locks[stock_id] = current + taken
        else:
            model["availability"] += current - wanted
            self.locks[stock_id] = wanted
        self._touch(model)

    def change_reservations(self, body):
        try:
            root = ET.fromstring(body)
            operations = [(block.get("type"), model.get("stock_id"), int(model.get("quantity")))
                          for block in root.findall("operation") for model in block.findall("model")]
        except (ET.ParseError, TypeError, ValueError):
            return text_response("Malformed request: expected <root><operation type=…><model stock_id quantity/>", 400)
        if any(kind not in ("lock", "unlock", "set") or quantity < 0 for kind, _, quantity in operations):
            return text_response("Invalid operation type or quantity", 400)
        with self.lock:
            for kind, stock_id, quantity in operations:
                current = self.locks.get(stock_id, 0)
                wanted = {"lock": current + quantity, "unlock": max(0, current - quantity), "set": quantity}[kind]
                self.reserve(stock_id, wanted)
            return xml_response(self.growing_order())

    # -- dropshipping orders ----------------------------------------------------------------------------------------

    def place_order(self, body):
        try:
            element = ET.fromstring(body).find("order_list/order")
            key = (element.findtext("key") or "").strip()
            date = datetime.strptime((element.findtext("date") or "").strip(), DATE_FORMAT)
            items = [((item.findtext("stock_id") or "").strip(), int(item.findtext("quantity")))
                     for item in element.findall("item_list/item")]
        except (AttributeError, ET.ParseError, TypeError, ValueError):
            return text_response("Malformed order: key, date (yyyy/MM/dd HH:mm:ss Z) and items are required", 400)
        recipient = {tag: (element.findtext(f"recipient_details/{path}") or "").strip() for tag, path in (
            ("recipient", "recipient"), ("careof", "careof"), ("phone", "phone/number"),
            ("street_name", "address/street_name"), ("zip", "address/zip"), ("city", "address/city"),
            ("province", "address/province"), ("countrycode", "address/countrycode"))}
        missing = [tag for tag in ("recipient", "street_name", "zip", "city", "countrycode") if not recipient[tag]]
        if not key or not items or missing:
            return text_response(f"Invalid order: missing {', '.join(missing) or 'key or items'}", 400)
        with self.lock:
            if key in self.orders:
                return text_response(f"Order with key {key} already exists", 412)
            for stock_id, quantity in items:
                model = self.models.get(stock_id)
                if model is None or quantity < 1:
                    return text_response(f"Unknown product or bad quantity: stock_id {stock_id}", 400)
                if quantity > self.locks.get(stock_id, 0) + model["availability"]:
                    return text_response(f"Not enough availability for stock_id {stock_id}", 412)
            for stock_id, quantity in items:
                from_locks = min(quantity, self.locks.get(stock_id, 0))
                self.locks[stock_id] = self.locks.get(stock_id, 0) - from_locks
                self.models[stock_id]["availability"] -= quantity - from_locks
                self._touch(self.models[stock_id])
            order_id, self.next_order_id = self.next_order_id, self.next_order_id + 1
            self.orders[key] = {"order_id": order_id, "key": key, "date": date, "items": items, "status": 5,
                                "recipient": recipient, "tracking_code": "", "tracking_url": "", "carrier_name": "",
                                "last_update": datetime.now(UTC)}
            answer = self.growing_order()
            answer.set("order_id", str(order_id))
            return xml_response(answer)

    def order_xml(self, order):
        root = ET.Element("root")
        element = ET.SubElement(root, "order")
        for tag, value in (("order_id", order["order_id"]), ("ext_ref", order["key"]), ("status", order["status"]),
                           ("tracking_code", order["tracking_code"]), ("tracking_url", order["tracking_url"]),
                           ("carrier_name", order["carrier_name"]),
                           ("last_update", order["last_update"].strftime(DATE_FORMAT))):
            ET.SubElement(element, tag).text = str(value)
        return root


def main():
    parser = argparse.ArgumentParser(description="A fake Rewix supplier platform for demos.")
    parser.add_argument("--host", default="127.0.0.1")
    parser.add_argument("--port", type=int, default=8765)
    parser.add_argument("--demo", action="store_true",
                        help="orders move on by a status each time they are looked up (the back-office's polls)")
    arguments = parser.parse_args()
    fake = FakeRewix(demo=arguments.demo).start(arguments.host, arguments.port)
    print(f"Fake Rewix supplier at {fake.url}\n  Basic: API key {fake.api_key}, password {fake.password}\n"
          f"  Bearer token: {fake.token}\nCtrl-C stops it.", flush=True)
    try:
        threading.Event().wait()
    except KeyboardInterrupt:
        fake.stop()


if __name__ == "__main__":
    main()
