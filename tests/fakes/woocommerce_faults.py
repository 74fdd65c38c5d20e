"""The WooCommerce stand-in with a fault switch and a webhook sender, run as a process of its own (bench/faults/).

`FaultyWooCommerce` is `FakeWooCommerce` (same REST API, same OAuth1 checks) plus:

- a fault switch over HTTP (`POST /__control/fault {"mode": ..., "hang_seconds": ...}`): `503` refuses every REST
  call before acting; `hang` acts and then answers only after `hang_seconds` (past the client's timeout, as a shop
  that ran late: the note or refund is made, the answer lost); `mixed` picks per call among a 503 before acting, a
  503 after acting (a caching proxy answering for a shop that ran late) and a hang after acting; `off` heals it.
- a webhook sender: every change of an order (created here, changed by the shop's staff, or by a REST call) is an
  `order.created` / `order.updated` delivery carrying the order as it was at that moment, signed as WooCommerce
  signs (base64 HMAC-SHA256 of the raw body). `drop` of them (0.3) are never delivered, the others are delivered
  twice (same delivery id and body, as WooCommerce retrying), the batches shuffled and each second copy held back
  to a later batch, so deliveries arrive late, twice and out of order.

Control routes (JSON, no auth: a local test server): `POST /__control/config`, `/orders` (create), `/status`
(the shop's staff change statuses), `/refund` (a refund made in the shop's admin), `/fault`; `GET /__control/stats`,
`/dump` (orders, notes, refunds, trackings and the REST calls made, for the checks).
"""

import base64
import copy
import hashlib
import hmac
import json
import queue
import random
import threading
import time
from datetime import UTC, datetime

import requests
from werkzeug.wrappers import Request, Response

from tests.fakes.woocommerce import API_PREFIX, TRACKING_PREFIX, FakeWooCommerce, wc_date

CONTROL_PREFIX = "/__control/"


class WebhookSender(threading.Thread):
    """Delivers the shop's order changes to `url` as WooCommerce does on a bad day (see the module's docstring)."""

    def __init__(self, *, secret, source_url, drop=0.3, batch_seconds=0.5, threads=4, seed=15):
        super().__init__(daemon=True)
        self.secret, self.source_url, self.drop = secret, source_url, drop
        self.batch_seconds, self.threads = batch_seconds, threads
        self.url = ""
        self.rng = random.Random(seed)
        self.events = queue.Queue()
        self.held_back = []  # second copies waiting for a later batch
        self.lock = threading.Lock()
        self.counts = {"changes": 0, "dropped": 0, "delivered": 0, "duplicated": 0, "answered_2xx": 0,
                       "answered_other": 0, "unreachable": 0}
        self.next_delivery_id = 1
        self.busy = 0  # deliveries taken and not yet answered
        self._sent_ids = set()  # delivery ids sent at least once: the next copy is a duplicate

    def emit(self, topic, order):
        """Called with the shop's state lock held: the body is the order as it is now."""
        body = json.dumps(order, separators=(",", ":")).encode()
        with self.lock:
            self.counts["changes"] += 1
            delivery_id = self.next_delivery_id
            self.next_delivery_id += 1
        self.events.put((topic, order["id"], delivery_id, body))

    def idle(self):
        with self.lock:
            return self.events.empty() and not self.held_back and not self.busy

    def run(self):
        while True:
            time.sleep(self.batch_seconds)
            if not self.url:
                continue
            batch = []
            while True:
                try:
                    batch.append(self.events.get_nowait())
                except queue.Empty:
                    break
            with self.lock:
                deliveries, self.held_back = self.held_back, []
                for event in batch:
                    if self.rng.random() < self.drop:
                        self.counts["dropped"] += 1
                        continue
                    deliveries.append(event)
                    self.held_back.append(event)  # its second copy goes with a later batch
                self.busy = len(deliveries)
            self.rng.shuffle(deliveries)
            if deliveries:
                chunks = [deliveries[i::self.threads] for i in range(self.threads)]
                workers = [threading.Thread(target=self._deliver_all, args=(chunk,)) for chunk in chunks if chunk]
                for worker in workers:
                    worker.start()
                for worker in workers:
                    worker.join()

    def _deliver_all(self, deliveries):
        for delivery in deliveries:
            self._deliver(*delivery)
            with self.lock:
                self.busy -= 1

    def _deliver(self, topic, woo_id, delivery_id, body):
        signature = base64.b64encode(hmac.new(self.secret.encode(), body, hashlib.sha256).digest()).decode()
        headers = {"Content-Type": "application/json", "X-WC-Webhook-Source": f"{self.source_url}/",
                   "X-WC-Webhook-Topic": topic, "X-WC-Webhook-Resource": "order",
                   "X-WC-Webhook-Event": topic.split(".")[1], "X-WC-Webhook-Signature": signature,
                   "X-WC-Webhook-ID": "15", "X-WC-Webhook-Delivery-ID": str(delivery_id),
                   "User-Agent": "WooCommerce/9.9.5 Hookshot (WordPress/6.9)"}
        with self.lock:
            first = delivery_id not in self._sent_ids
            self._sent_ids.add(delivery_id)
            self.counts["delivered" if first else "duplicated"] += 1
        try:
            answer = requests.post(self.url, data=body, headers=headers, timeout=60, allow_redirects=False)
        except requests.RequestException:
            with self.lock:
                self.counts["unreachable"] += 1
            return
        with self.lock:
            self.counts["answered_2xx" if 200 <= answer.status_code <= 302 else "answered_other"] += 1


class FaultyWooCommerce(FakeWooCommerce):
    def __init__(self, *, webhook_secret, drop=0.3, seed=15, **kwargs):
        super().__init__(**kwargs)
        self.state_lock = threading.RLock()  # one REST call or control change at a time touches the orders
        self.fault = {"mode": "off", "hang_seconds": 0.0}
        self.fault_counts = {"refused_503": 0, "acted_then_503": 0, "acted_then_hung": 0}
        self.fault_rng = random.Random(seed)
        self.sender = WebhookSender(secret=webhook_secret, source_url="", drop=drop, seed=seed)
        self.shop_admin_refunds = set()

    def start(self, *args, **kwargs):
        super().start(*args, **kwargs)
        self.sender.source_url = self.url
        self.sender.start()
        return self

    def touch(self, woo_id, **changes):
        order = super().touch(woo_id, **changes)
        self.sender.emit("order.updated", order)
        return order

    def route(self, method, route, params, body):
        with self.state_lock:
            return super().route(method, route, params, body)

    def __call__(self, environ, start_response):
        request = Request(environ)
        if request.path.startswith(CONTROL_PREFIX):
            return self.control(request)(environ, start_response)
        return super().__call__(environ, start_response)

    def handle(self, request):
        mode = self.fault["mode"]
        if mode == "off" or not request.path.startswith((API_PREFIX, TRACKING_PREFIX)):
            return super().handle(request)
        if mode == "mixed":
            with self.lock:
                mode = self.fault_rng.choice(["503", "503-after", "hang"])
        if mode == "503":
            with self.lock:
                self.fault_counts["refused_503"] += 1
            return Response("<html><head><title>503 Service Unavailable</title></head><body>Down</body></html>",
                            status=503, content_type="text/html")
        response = super().handle(request)
        if mode == "503-after":
            with self.lock:
                self.fault_counts["acted_then_503"] += 1
            return Response("<html><body>503 Service Unavailable (upstream timed out)</body></html>", status=503,
                            content_type="text/html")
        with self.lock:
            self.fault_counts["acted_then_hung"] += 1
        time.sleep(float(self.fault["hang_seconds"]))
        return response

    # -- control --------------------------------------------------------------------------------

    def control(self, request):
        name = request.path[len(CONTROL_PREFIX):].strip("/")
        body = request.get_json(silent=True) or {}
        if request.method == "GET" and name == "stats":
            return self.json(self.stats())
        if request.method == "GET" and name == "dump":
            with self.state_lock:
                return self.json(self.dump())
        if request.method != "POST":
            return self.error(404, "rest_no_route", "No such control route.")
        if name == "config":
            self.sender.url = body.get("webhook_url", self.sender.url)
            return self.json({"ok": True})
        if name == "fault":
            self.fault = {"mode": body.get("mode", "off"), "hang_seconds": float(body.get("hang_seconds", 0))}
            return self.json(self.fault)
        if name == "orders":
            with self.state_lock:
                now = datetime.now(UTC)
                for payload in body.get("orders", []):
                    payload = copy.deepcopy(payload)
                    for field in ("date_created", "date_modified"):
                        payload[f"{field}_gmt"] = wc_date(now)
                        payload[field] = wc_date(now + self.shop_offset)
                    self.orders[payload["id"]] = payload
                    self.sender.emit("order.created", payload)
            return self.json({"ok": True})
        if name == "status":
            with self.state_lock:
                for change in body.get("changes", []):
                    self.touch(int(change["id"]), status=change["status"])
            return self.json({"ok": True})
        if name == "refund":
            with self.state_lock:
                refund = self.refund_in_shop(int(body["id"]), amount=body["amount"], reason=body.get("reason", ""))
                self.shop_admin_refunds.add(refund["id"])
            return self.json(refund)
        return self.error(404, "rest_no_route", "No such control route.")

    def stats(self):
        with self.lock:
            calls = {}
            for method, route, _params in self.requests:
                parts = route.split("/")
                kind = "/".join(p if not p.isdigit() else "<id>" for p in parts)
                calls[f"{method} {kind}"] = calls.get(f"{method} {kind}", 0) + 1
            return {"webhooks": dict(self.sender.counts), "webhooks_idle": self.sender.idle(),
                    "faults": dict(self.fault_counts), "fault": dict(self.fault), "calls": calls,
                    "orders": len(self.orders), "cpu": time.process_time()}

    def dump(self):
        """Everything the checks compare, as the shop has it (JSON keys are strings)."""
        with self.lock:
            status_puts = {}
            for method, route, _params in self.requests:
                parts = route.split("/")
                if method in ("PUT", "POST") and len(parts) == 2 and parts[0] == "orders":
                    status_puts[parts[1]] = status_puts.get(parts[1], 0) + 1
        return {"orders": self.orders, "notes": self.notes, "refunds": self.refunds, "trackings": self.trackings,
                "order_puts": status_puts, "shop_admin_refunds": sorted(self.shop_admin_refunds)}


def serve(conn, *, consumer_key, consumer_secret, webhook_secret, drop, seed):
    """Child process: run the shop; send its URL; stop when the pipe says so (or closes)."""
    import logging

    logging.getLogger("werkzeug").setLevel(logging.ERROR)
    shop = FaultyWooCommerce(consumer_key=consumer_key, consumer_secret=consumer_secret,
                             webhook_secret=webhook_secret, drop=drop, seed=seed).start()
    conn.send({"url": shop.url})
    try:
        conn.recv()
    except EOFError:
        pass
    shop.stop()
