"""A demo WooCommerce shop: the tests' FakeWooCommerce (tests/fakes/woocommerce.py) as a shop that lives on.

It answers the same REST API with the same checks (OAuth1 over http, WooCommerce's errors), and adds what a real
shop does beyond answering (../shared/reference/woocommerce-api.md):

- orders are created with POST orders and POST orders/batch ({"create": [...], "update": [...]}, 100 items at
  most): the shop gives the ids, item ids, order key and dates (a given `date_created_gmt` is kept, so that a
  demo's history can be written into it; `date_modified` is the moment of creation, as in a shop);
- webhooks (POST/GET webhooks, DELETE webhooks/<id>): every change it accepts — an order created, a status, a
  shipping address, meta data, a refund, a Shipment Tracking item (kept in the order's meta
  `_wc_shipment_tracking_items`, as the extension does) — is delivered to each active webhook of its topic a few
  seconds later: POST of the order's JSON as it is when sent (changes in between collapse into one delivery),
  signed with X-WC-Webhook-Signature = base64(HMAC-SHA256(raw body, the webhook's secret)) and the other
  X-WC-Webhook-* headers. A delivery that fails (the back-office not up yet, an error) is tried again with a
  growing delay, for about half an hour; notes are no order change, as in WooCommerce (no delivery);
- the shop's custom statuses (`--custom-status awaiting-proof`);
- now and then a new order (`--new-order-every SECONDS`): a copy of one of its orders, placed anew and paid;
- its state in a JSON file (`--state`), written a second after a change, so that the shop survives a restart;
- the print files its personalisation plugin keeps under /wp-content/uploads/print-files/ (any name ending in .pdf:
  a one-page PDF saying which file it is), as the lines' `_print_file_url` meta links them.

Run it: python -m tests.fakes.woocommerce --demo --port 8089 --consumer-key ck_demo --consumer-secret cs_demo
"""

import argparse
import base64
import copy
import hashlib
import hmac
import json
import os
import random
import signal
import threading
import time
import uuid
from datetime import UTC, datetime
from pathlib import Path

import requests

from werkzeug.wrappers import Response

from tests.fakes.woocommerce import FakeWooCommerce, wc_date

TOPICS = ("order.created", "order.updated", "order.deleted", "order.restored")
RETRY_DELAYS = (2, 5, 10, 20, 30, 60)  # seconds before the next try of a failed delivery; then every minute
MAX_ATTEMPTS = 35
BATCH_LIMIT = 100
USER_AGENT = "WooCommerce/9.9.5 Hookshot (WordPress/6.9)"
MONEY_FIELDS = ("discount_total", "discount_tax", "shipping_total", "shipping_tax", "cart_tax", "total", "total_tax")
TRACKING_META = "_wc_shipment_tracking_items"
PRINT_FILES = "/wp-content/uploads/print-files/"


def placeholder_pdf(title):
    """A valid one-page A4 PDF showing `title`: the print file of a demo line."""
    text = title.replace("\\", "").replace("(", "").replace(")", "")[:80]
    stream = f"BT /F1 24 Tf 60 760 Td ({text}) Tj ET".encode()
    objects = [b"<< /Type /Catalog /Pages 2 0 R >>", b"<< /Type /Pages /Kids [3 0 R] /Count 1 >>",
               b"<< /Type /Page /Parent 2 0 R /MediaBox [0 0 595 842] /Contents 4 0 R "
               b"/Resources << /Font << /F1 5 0 R >> >> >>",
               b"<< /Length %d >>\nstream\n%s\nendstream" % (len(stream), stream),
               b"<< /Type /Font /Subtype /Type1 /BaseFont /Helvetica >>"]
    out, offsets = bytearray(b"%PDF-1.4\n"), []
    for number, body in enumerate(objects, start=1):
        offsets.append(len(out))
        out += b"%d 0 obj\n%s\nendobj\n" % (number, body)
    xref = len(out)
    out += b"xref\n0 %d\n0000000000 65535 f \n" % (len(objects) + 1)
    out += b"".join(b"%010d 00000 n \n" % offset for offset in offsets)
    out += b"trailer\n<< /Size %d /Root 1 0 R >>\nstartxref\n%d\n%%%%EOF\n" % (len(objects) + 1, xref)
    return bytes(out)


def _gmt(value):
    """A WooCommerce *_gmt date as an aware datetime, or None."""
    if not value:
        return None
    parsed = datetime.fromisoformat(str(value).replace("Z", "+00:00"))
    return parsed if parsed.tzinfo else parsed.replace(tzinfo=UTC)


def _cents(value):
    return round(float(value or 0) * 100)


class DemoShop(FakeWooCommerce):
    def __init__(self, *, custom_statuses=(), state_path=None, webhook_delay=2.0, new_order_every=0.0,
                 first_order_id=1000, seed=None, **kwargs):
        super().__init__(**kwargs)
        self.shipment_tracking = True
        self.custom_statuses = set(custom_statuses)
        self.state_path = Path(state_path) if state_path else None
        self.webhook_delay = webhook_delay
        self.new_order_every = new_order_every
        self.rng = random.Random(seed)
        self.state_lock = threading.RLock()  # one change at a time; the deliveries read the orders under it
        self.webhooks = {}  # id → webhook (with its secret)
        self.pending = {}  # (webhook id, topic, order id) → [due (monotonic), attempts]
        self.delivered = []  # (webhook id, topic, order id, HTTP status) of every delivery answered 2xx/3xx
        self.next_order_id = first_order_id
        self.next_item_id = first_order_id * 10
        self.next_webhook_id = 1
        self.next_new_order_at = None
        self.dirty = False
        self.sending = False  # a delivery is on its way
        self.stopping = threading.Event()
        self.worker = None
        self.session = requests.Session()
        if self.state_path and self.state_path.exists():
            self.load_state()

    # -- running -------------------------------------------------------------------------------------------------

    def start(self, *args, **kwargs):
        super().start(*args, **kwargs)
        self.worker = threading.Thread(target=self._work, daemon=True, name="demo-shop-deliveries")
        self.worker.start()
        return self

    def stop(self):
        self.stopping.set()
        if self.worker:
            self.worker.join(5)
        self.save_state()
        super().stop()

    def _work(self):
        last_save = 0.0
        while not self.stopping.is_set():
            job = self._next_delivery()
            if job is not None:
                try:
                    self._deliver(*job)
                finally:
                    self.sending = False
                continue
            now = time.monotonic()
            if self.next_new_order_at is not None and now >= self.next_new_order_at:
                self.next_new_order_at = now + self.new_order_every
                self.place_copy()
            if self.dirty and now - last_save >= 1:
                self.save_state()
                last_save = now
            self.stopping.wait(0.2)

    # -- state ---------------------------------------------------------------------------------------------------

    STATE_FIELDS = ("orders", "notes", "refunds", "trackings", "webhooks")
    COUNTERS = ("next_order_id", "next_item_id", "next_webhook_id", "next_note_id", "next_refund_id")

    def save_state(self):
        if not self.state_path:
            return
        with self.state_lock:
            state = {name: getattr(self, name) for name in self.STATE_FIELDS}
            state.update({name: getattr(self, name) for name in self.COUNTERS})
            text = json.dumps(state)
            self.dirty = False
        self.state_path.parent.mkdir(parents=True, exist_ok=True)
        temporary = self.state_path.with_suffix(".part")
        temporary.write_text(text)
        os.replace(temporary, self.state_path)

    def load_state(self):
        state = json.loads(self.state_path.read_text())
        for name in self.STATE_FIELDS:
            setattr(self, name, {int(key): value for key, value in state.get(name, {}).items()})
        for name in self.COUNTERS:
            setattr(self, name, state.get(name, getattr(self, name)))
        if self.webhooks and self.new_order_every:
            self.next_new_order_at = time.monotonic() + min(20, self.new_order_every)

    # -- what the shop accepts -----------------------------------------------------------------------------------

    def known_status(self, status):
        return super().known_status(status) or status in self.custom_statuses

    def handle(self, request):
        if request.path.startswith(PRINT_FILES) and request.method == "GET":
            name = request.path[len(PRINT_FILES):]
            if not name.endswith(".pdf") or "/" in name:
                return Response("Not Found", status=404, content_type="text/html")
            return Response(placeholder_pdf(f"Print file {name}"), content_type="application/pdf")
        return super().handle(request)

    def route(self, method, route, params, body):
        with self.state_lock:
            parts = route.split("/")
            if parts == ["orders"] and method == "POST":
                return self.json(self.create_order(body or {}), status=201)
            if parts == ["orders", "batch"] and method in ("POST", "PUT"):
                return self.batch(body or {})
            if parts[0] == "webhooks":
                return self.webhooks_route(method, parts[1:], body or {})
            return super().route(method, route, params, body)

    def touch(self, woo_id, **changes):
        order = super().touch(woo_id, **changes)
        self.queue_delivery("order.updated", woo_id)
        return order

    def add_tracking(self, woo_id, body):
        response = super().add_tracking(woo_id, body)
        if response.status_code == 201:
            tracking = json.loads(response.get_data())
            shipped = _gmt(tracking["date_shipped"]) if tracking["date_shipped"] else datetime.now(UTC)
            meta = self.orders[woo_id]["meta_data"]
            entry = next((m for m in meta if m.get("key") == TRACKING_META), None)
            if entry is None:
                entry = {"id": self._item_id(), "key": TRACKING_META, "value": []}
                meta.append(entry)
            entry["value"].append({
                "tracking_provider": "", "custom_tracking_provider": tracking["tracking_provider"],
                "custom_tracking_link": body.get("custom_tracking_link", ""),
                "tracking_number": tracking["tracking_number"], "date_shipped": int(shipped.timestamp()),
                "tracking_id": tracking["tracking_id"]})
            self.touch(woo_id)
        return response

    def _item_id(self):
        self.next_item_id += 1
        return self.next_item_id

    def _new_items(self, items, group):
        made = []
        for item in items or []:
            if not isinstance(item, dict):
                raise ValueError(f"{group} must be objects")
            line = copy.deepcopy(item)
            line.pop("id", None)
            line = {"id": self._item_id(), **line,
                    "meta_data": [{**{k: v for k, v in m.items() if k != "id"}, "id": self._item_id()}
                                  for m in item.get("meta_data") or []]}
            if group == "line_items":
                quantity = int(line.get("quantity") or 1)
                total = line.get("total") or f"{float(line.get('price') or 0) * quantity:.2f}"
                line.update(quantity=quantity, total=total, subtotal=line.get("subtotal") or total,
                            total_tax=line.get("total_tax") or "0.00",
                            subtotal_tax=line.get("subtotal_tax") or line.get("total_tax") or "0.00",
                            taxes=line.get("taxes") or [], sku=line.get("sku") or "",
                            variation_id=line.get("variation_id") or 0, image=line.get("image") or {"id": "", "src": ""})
                line["price"] = round(float(total) / quantity, 2) if quantity else 0
            else:
                line.update(total=line.get("total") or "0.00", total_tax=line.get("total_tax") or "0.00",
                            taxes=line.get("taxes") or [])
            made.append(line)
        return made

    def create_order(self, body, *, topic="order.created"):
        """POST orders: the order as the shop keeps it (answered, and delivered to the order.created webhooks)."""
        if not isinstance(body, dict):
            raise ValueError("the order must be an object")
        status = body.get("status") or "pending"
        if not self.known_status(status) or status == "trash":
            raise ValueError("status")
        now = datetime.now(UTC)
        created = _gmt(body.get("date_created_gmt")) or now
        paid = _gmt(body.get("date_paid_gmt"))
        if body.get("set_paid"):
            status = "processing" if status in ("pending", "on-hold", "failed") else status
            paid = paid or now
        woo_id = self.next_order_id
        self.next_order_id += 1
        lines = self._new_items(body.get("line_items"), "line_items")
        shipping_lines = self._new_items(body.get("shipping_lines"), "shipping_lines")
        fee_lines = self._new_items(body.get("fee_lines"), "fee_lines")
        offset = self.shop_offset
        order = {
            "id": woo_id, "parent_id": body.get("parent_id") or 0, "number": str(woo_id),
            "order_key": f"wc_order_{uuid.uuid4().hex[:13]}", "created_via": body.get("created_via") or "rest-api",
            "version": "9.9.5", "status": status, "currency": body.get("currency") or "EUR",
            "prices_include_tax": bool(body.get("prices_include_tax")),
            "date_created": wc_date(created + offset), "date_created_gmt": wc_date(created),
            "date_modified": wc_date(now + offset), "date_modified_gmt": wc_date(now),
            "date_paid": wc_date(paid + offset) if paid else None, "date_paid_gmt": wc_date(paid) if paid else None,
            "date_completed": None, "date_completed_gmt": None,
            "customer_id": int(body.get("customer_id") or 0), "customer_note": body.get("customer_note") or "",
            "billing": {"first_name": "", "last_name": "", "company": "", "address_1": "", "address_2": "",
                        "city": "", "state": "", "postcode": "", "country": "", "email": "", "phone": "",
                        **(body.get("billing") or {})},
            "shipping": {"first_name": "", "last_name": "", "company": "", "address_1": "", "address_2": "",
                         "city": "", "state": "", "postcode": "", "country": "", "phone": "",
                         **(body.get("shipping") or {})},
            "payment_method": body.get("payment_method") or "", "payment_method_title":
                body.get("payment_method_title") or "", "transaction_id": body.get("transaction_id") or "",
            "meta_data": [{**{k: v for k, v in m.items() if k != "id"}, "id": self._item_id()}
                          for m in body.get("meta_data") or []],
            "line_items": lines, "shipping_lines": shipping_lines, "fee_lines": fee_lines,
            "tax_lines": copy.deepcopy(body.get("tax_lines") or []),
            "coupon_lines": copy.deepcopy(body.get("coupon_lines") or []), "refunds": [],
        }
        if status == "completed":
            done = _gmt(body.get("date_completed_gmt")) or now
            order["date_completed"], order["date_completed_gmt"] = wc_date(done + offset), wc_date(done)
        cart_tax = sum(_cents(i["total_tax"]) for i in lines)
        shipping_tax = sum(_cents(i["total_tax"]) for i in shipping_lines)
        computed = {
            "discount_total": 0, "discount_tax": 0, "cart_tax": cart_tax, "shipping_tax": shipping_tax,
            "shipping_total": sum(_cents(i["total"]) for i in shipping_lines),
            "total_tax": cart_tax + shipping_tax + sum(_cents(i["total_tax"]) for i in fee_lines),
            "total": sum(_cents(i["total"]) + _cents(i["total_tax"]) for i in lines + shipping_lines + fee_lines),
        }
        for name in MONEY_FIELDS:
            order[name] = str(body[name]) if body.get(name) not in (None, "") else f"{computed[name] / 100:.2f}"
        self.orders[woo_id] = order
        self.queue_delivery(topic, woo_id)
        return order

    def update_order(self, order, body):
        response = super().update_order(order, body)
        if body.get("status") == "completed" and not order.get("date_completed_gmt"):
            order["date_completed"], order["date_completed_gmt"] = order["date_modified"], order["date_modified_gmt"]
            response = self.json(order)
        return response

    def batch(self, body):
        creates, updates = body.get("create") or [], body.get("update") or []
        if len(creates) + len(updates) > BATCH_LIMIT:
            return self.error(413, "woocommerce_rest_request_entity_too_large",
                              f"Unable to accept more than {BATCH_LIMIT} items for this request.")
        answer = {"create": [], "update": []}
        for item in creates:
            try:
                answer["create"].append(self.create_order(item))
            except ValueError as exc:
                answer["create"].append({"id": 0, "error": {"code": "rest_invalid_param",
                                                            "message": f"Invalid parameter(s): {exc}",
                                                            "data": {"status": 400}}})
        for item in updates:
            order = self.orders.get(int(item.get("id") or 0))
            if order is None:
                answer["update"].append({"id": item.get("id"), "error": {
                    "code": "woocommerce_rest_shop_order_invalid_id", "message": "Invalid ID.", "data": {"status": 400}}})
                continue
            answer["update"].append(json.loads(self.update_order(order, item).get_data()))
        return self.json(answer)

    def place_copy(self):
        """A customer orders again: a copy of one of the shop's paid orders, new and paid now."""
        with self.state_lock:
            paid = [o for o in self.orders.values() if o["status"] in ("processing", "completed") and o["line_items"]]
            if not paid:
                return None
            source = copy.deepcopy(self.rng.choice(paid))
            for line in source["line_items"]:
                line["meta_data"] = [m for m in line["meta_data"] if m.get("key") != "_project_id"]
            source["meta_data"] = [m for m in source["meta_data"] if not str(m.get("key", "")).startswith("_")]
            for name in ("date_created_gmt", "date_paid_gmt", "date_completed_gmt", *MONEY_FIELDS):
                source.pop(name, None)
            source.update(status="processing", set_paid=True)
            return self.create_order(source)

    # -- webhooks ------------------------------------------------------------------------------------------------

    def _public(self, webhook):
        return {k: v for k, v in webhook.items() if k != "secret"}

    def webhooks_route(self, method, rest, body):
        if not rest and method == "GET":
            return self.json([self._public(w) for w in self.webhooks.values()])
        if not rest and method == "POST":
            topic, url = body.get("topic"), body.get("delivery_url")
            if topic not in TOPICS:
                return self.error(400, "rest_invalid_param", "Invalid parameter(s): topic")
            if not str(url or "").startswith(("http://", "https://")):
                return self.error(400, "rest_invalid_param", "Invalid parameter(s): delivery_url")
            now = datetime.now(UTC)
            webhook = {"id": self.next_webhook_id, "name": body.get("name") or f"Webhook {self.next_webhook_id}",
                       "status": body.get("status") or "active", "topic": topic, "resource": topic.split(".")[0],
                       "event": topic.split(".")[1], "hooks": [f"woocommerce_{topic.replace('.', '_')}"],
                       "delivery_url": url, "secret": str(body.get("secret") or uuid.uuid4().hex),
                       "date_created": wc_date(now + self.shop_offset), "date_created_gmt": wc_date(now)}
            self.webhooks[webhook["id"]] = webhook
            self.next_webhook_id += 1
            self.dirty = True
            if self.new_order_every and self.next_new_order_at is None:
                self.next_new_order_at = time.monotonic() + min(20, self.new_order_every)
            return self.json(self._public(webhook), status=201)
        if len(rest) == 1 and rest[0].isdigit() and method == "DELETE":
            webhook = self.webhooks.pop(int(rest[0]), None)
            if webhook is None:
                return self.error(404, "woocommerce_rest_webhook_invalid_id", "Invalid ID.")
            self.dirty = True
            return self.json(self._public(webhook))
        return self.error(404, "rest_no_route", "No route was found matching the URL and request method.")

    def queue_delivery(self, topic, woo_id):
        with self.state_lock:
            self.dirty = True
            due = time.monotonic() + self.webhook_delay
            for webhook in self.webhooks.values():
                if webhook["status"] == "active" and webhook["topic"] == topic:
                    # Changes before the delivery goes out collapse into it: it carries the order as it is then.
                    self.pending.setdefault((webhook["id"], topic, woo_id), [due, 0])

    def _next_delivery(self):
        with self.state_lock:
            now = time.monotonic()
            key = min((k for k, (due, _n) in self.pending.items() if due <= now),
                      key=lambda k: self.pending[k][0], default=None)
            if key is None:
                return None
            _due, attempts = self.pending.pop(key)
            self.sending = True
            webhook = self.webhooks.get(key[0])
            order = self.orders.get(key[2])
            if webhook is None or order is None:
                self.sending = False
                return None
            body = {"id": key[2]} if key[1] == "order.deleted" else order
            raw = json.dumps(body, separators=(",", ":"), ensure_ascii=False).encode()
            return key, dict(webhook), raw, attempts

    def idle(self):
        """Nothing waits to be delivered and nothing is on its way."""
        with self.state_lock:
            return not self.pending and not self.sending

    def _deliver(self, key, webhook, raw, attempts):
        signature = base64.b64encode(hmac.new(webhook["secret"].encode(), raw, hashlib.sha256).digest()).decode()
        headers = {"User-Agent": USER_AGENT, "Content-Type": "application/json",
                   "X-WC-Webhook-Source": f"{self.url}/", "X-WC-Webhook-Topic": webhook["topic"],
                   "X-WC-Webhook-Resource": webhook["resource"], "X-WC-Webhook-Event": webhook["event"],
                   "X-WC-Webhook-Signature": signature, "X-WC-Webhook-ID": str(webhook["id"]),
                   "X-WC-Webhook-Delivery-ID": uuid.uuid4().hex}
        try:
            response = self.session.post(webhook["delivery_url"], data=raw, headers=headers, timeout=60,
                                         allow_redirects=False)
            status, problem = response.status_code, "" if 200 <= response.status_code <= 302 else response.text[:200]
        except requests.RequestException as exc:
            status, problem = None, type(exc).__name__
        if not problem:
            with self.state_lock:
                self.delivered.append((webhook["id"], webhook["topic"], key[2], status))
            return
        attempts += 1
        print(f"webhook {webhook['id']} {webhook['topic']} order {key[2]}: delivery {attempts} failed "
              f"({status or problem})", flush=True)
        if attempts < MAX_ATTEMPTS:
            delay = RETRY_DELAYS[min(attempts - 1, len(RETRY_DELAYS) - 1)]
            with self.state_lock:
                # A newer change queued meanwhile carries the newer state: this one then goes with it.
                self.pending.setdefault(key, [time.monotonic() + delay, attempts])


def _stop_on_term(signum, frame):
    raise KeyboardInterrupt  # the shop's state is written before it stops


def main():
    parser = argparse.ArgumentParser(description="A demo WooCommerce shop (REST API wc/v3 and webhooks).")
    parser.add_argument("--demo", action="store_true", help="run as a demo shop (the only mode run from here)")
    parser.add_argument("--host", default="127.0.0.1")
    parser.add_argument("--port", type=int, default=8089)
    parser.add_argument("--consumer-key", default="ck_demo")
    parser.add_argument("--consumer-secret", default="cs_demo")
    parser.add_argument("--utc-offset", type=int, default=1, help="the shop's timezone offset in hours")
    parser.add_argument("--custom-status", action="append", default=[], help="a custom order status of the shop")
    parser.add_argument("--state", help="JSON file keeping the shop's orders, webhooks… across restarts")
    parser.add_argument("--webhook-delay", type=float, default=2.0, help="seconds between a change and its delivery")
    parser.add_argument("--new-order-every", type=float, default=0.0,
                        help="seconds between new orders placed in the shop (0: none)")
    parser.add_argument("--name", default="Demo shop")
    arguments = parser.parse_args()
    shop = DemoShop(consumer_key=arguments.consumer_key, consumer_secret=arguments.consumer_secret,
                    shop_utc_offset_hours=arguments.utc_offset, custom_statuses=arguments.custom_status,
                    state_path=arguments.state, webhook_delay=arguments.webhook_delay,
                    new_order_every=arguments.new_order_every).start(arguments.host, arguments.port)
    signal.signal(signal.SIGTERM, _stop_on_term)
    print(f"{arguments.name}: WooCommerce stand-in at {shop.url} ({len(shop.orders)} orders, "
          f"{len(shop.webhooks)} webhooks)", flush=True)
    try:
        threading.Event().wait()
    except KeyboardInterrupt:
        pass
    finally:
        shop.stop()


if __name__ == "__main__":
    main()
