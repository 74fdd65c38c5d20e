#!/usr/bin/env python
"""Issue 15, scenario 4 — hostile input: none of it answered 5xx, none of it applied, every refusal logged.

    .venv/bin/python bench/faults/hostile_input.py                        # 10,000 requests (by hand)
    .venv/bin/python bench/faults/hostile_input.py --requests 900 --database faults_hostile_ci   # CI's short form

On the real parts (bench/faults/_shop_support.py): PostgreSQL (`--database`, dropped and recreated), Redis (`--redis`,
flushed), gunicorn (2 workers × 4 threads, its output and the app's log records captured in a file) and a qcluster
applying the deliveries. A store's `--seed-orders` orders arrive first as signed webhooks; then `--requests` requests
of the mix below go over real HTTP (raw sockets, `--concurrency` at once; slow bodies on 4 connections of their own):

- webhooks: malformed JSON, no or a wrong X-WC-Webhook-Signature, replays of legitimate deliveries (same delivery
  id and body: acknowledged, applied once) and tampered replays, bodies over WEBHOOK_MAX_BYTES with a Content-Length
  (answered 413 while the client still holds back the rest) and chunked without one, another store's secret, an
  unknown store, a wrong content type, slow bodies (completed, or abandoned half-way), NUL and non-UTF-8 bytes,
  huge numbers, Unicode digits ('١٢٣'), JSON nested thousands deep — signed ones too, which are stored and must
  fail when applied;
- the editor API (projects): no key, a wrong key, the store's key with fuzzed bodies (types, NUL, Unicode digits,
  huge numbers, nesting), with and without the customer (customer_id) and the resume token, oversized bodies;
- the admin: a superuser's session posting fuzzed order status, note, refund and tracking forms with its CSRF token
  (and without it), list searches and filters with Unicode digits.
A few legitimate deliveries (new orders) go with them.

Checks: no 5xx; nothing hostile applied (the seed orders, their events, pushes, refunds and shipments, the project
and the count of projects as they were; no delivery applied but the legitimate ones, each once); every refusal has
a log record (django.request's or django.security's record of each 4xx, including those whose client had gone; the
app's reason for each refused webhook and each signed hostile delivery failed when applied). Prints requests and
status codes per kind, p50/p99 ms, CPU ms per request, the load average. Exit status 1 when a check fails.

Over 400 lines: the generator of each kind, the run and the checks read together; the processes are
_shop_support.py's.
"""

import argparse
import base64
import hashlib
import hmac
import http.client
import json
import os
import random
import re
import select
import socket
import sys
import tempfile
import threading
import time
from collections import Counter, defaultdict
from concurrent.futures import ThreadPoolExecutor
from dataclasses import dataclass, field
from datetime import UTC, datetime, timedelta
from pathlib import Path
from urllib.parse import quote, urlencode

sys.path.insert(0, str(Path(__file__).resolve().parent))

import _shop_support as support  # noqa: E402

SLUG, OTHER_SLUG = "hostile", "neighbour"
SECRET, OTHER_SECRET = "hostileWebhookSecret0123456789", "neighbourWebhookSecret987654321"
WEBHOOK_LIMIT = 512 * 1024  # WEBHOOK_MAX_BYTES of the run (25 MB in production): oversized bodies stay cheap
EDITOR_LIMIT = 256 * 1024
STAFF_PASSWORD = "hostile-staff-Passw0rd!"
UNICODE_DIGITS = ["١٢٣", "²", "߁߂", "٣", "𝟗𝟗", "१२", "Ⅻ", "½", "1²", "12\u0663"]
SLOW_SECONDS = 4.0

# kind -> share of the mix (per 10,000)
MIX = {
    "wh legit": 250, "wh replay": 450, "wh replay tampered": 300, "wh malformed": 600, "wh unsigned": 600,
    "wh bad signature": 600, "wh other store's secret": 500, "wh unknown store": 400, "wh content type": 400,
    "wh oversized length": 250, "wh oversized chunked": 150, "wh slow": 40, "wh slow abandoned": 40,
    "wh nul bytes": 400, "wh huge numbers": 300, "wh unicode digits": 400, "wh deep nesting": 200,
    "wh signed hostile": 500, "provider": 200,
    "editor no key": 300, "editor fuzz": 1200, "editor oversized": 100,
    "admin fuzz": 900, "admin no csrf": 200, "admin search": 220,
}


def sign(body, secret=SECRET):
    return base64.b64encode(hmac.new(secret.encode(), body, hashlib.sha256).digest()).decode()


def webhook_headers(body, *, secret=SECRET, topic="order.updated", delivery_id=None, signature=True,
                    content_type="application/json"):
    headers = {"Content-Type": content_type, "User-Agent": "WooCommerce/9.9.5 Hookshot (WordPress/6.9)",
               "X-WC-Webhook-Source": "http://shop.example.com/", "X-WC-Webhook-Topic": topic,
               "X-WC-Webhook-ID": "15", "X-WC-Webhook-Delivery-ID": delivery_id or f"d{random.getrandbits(40)}"}
    if signature is True:
        headers["X-WC-Webhook-Signature"] = sign(body, secret)
    elif signature:
        headers["X-WC-Webhook-Signature"] = signature
    if content_type is None:
        headers.pop("Content-Type")
    return headers


@dataclass
class Req:
    kind: str
    method: str
    path: str
    headers: dict
    body: bytes = b""
    mode: str = "plain"  # plain | length-only (announce, send little) | chunked | slow | abandon
    cookies: str = ""
    csrf: str = ""


@dataclass
class Outcome:
    kind: str
    status: int | None  # None: no answer (an abandoned body)
    ms: float
    started: float
    ended: float
    note: str = ""


# -- sending ------------------------------------------------------------------------------------------------------

def _head(req, port, length=None, chunked=False):
    lines = [f"{req.method} {req.path} HTTP/1.1", f"Host: 127.0.0.1:{port}", "Connection: close"]
    headers = dict(req.headers)
    if req.cookies:
        headers["Cookie"] = req.cookies
    for name, value in headers.items():
        lines.append(f"{name}: {value}")
    if chunked:
        lines.append("Transfer-Encoding: chunked")
    elif length is not None:
        lines.append(f"Content-Length: {length}")
    return ("\r\n".join(lines) + "\r\n\r\n").encode("utf-8")


def _answer(sock, method):
    response = http.client.HTTPResponse(sock, method=method)
    response.begin()
    response.read()
    return response.status


def _send_body(sock, data):
    """Send `data` in pieces, stopping as soon as the server answers (it may refuse before reading it all).
    Returns whether it answered early."""
    for offset in range(0, len(data), 16384):
        if select.select([sock], [], [], 0)[0]:
            return True
        try:
            sock.sendall(data[offset:offset + 16384])
        except OSError:
            return True
    return False


def send(req, port, timeout=30.0):
    started = time.perf_counter()
    sock = socket.create_connection(("127.0.0.1", port), timeout=timeout)
    status, note = None, ""
    try:
        if req.mode == "plain":
            sock.sendall(_head(req, port, len(req.body)))
            _send_body(sock, req.body)
            status = _answer(sock, req.method)
        elif req.mode == "length-only":
            # Announce far more than the limit, send 1 kB and wait: the answer must come without the rest.
            announce = int(req.headers.pop("X-Announce", "0")) or 50 * WEBHOOK_LIMIT
            sock.sendall(_head(req, port, announce) + req.body[:1024])
            status = _answer(sock, req.method)
        elif req.mode == "chunked":
            sock.sendall(_head(req, port, chunked=True))
            sent, early = 0, False
            while sent < 4 * WEBHOOK_LIMIT and not early:  # the server must refuse after the limit, not at the end
                piece = req.body[:16384]
                early = _send_body(sock, f"{len(piece):x}\r\n".encode() + piece + b"\r\n")
                sent += len(piece)
            if not early:
                _send_body(sock, b"0\r\n\r\n")
            status = _answer(sock, req.method)
            note = f"sent {sent} bytes"
        elif req.mode in ("slow", "abandon"):
            sock.sendall(_head(req, port, len(req.body)))
            pieces = 20
            step = max(len(req.body) // pieces, 1)
            upto = len(req.body) if req.mode == "slow" else len(req.body) // 2
            for offset in range(0, upto, step):
                sock.sendall(req.body[offset:min(offset + step, upto)])
                time.sleep(SLOW_SECONDS / pieces)
            if req.mode == "slow":
                status = _answer(sock, req.method)
            else:
                sock.shutdown(socket.SHUT_WR)  # the client is gone: the server sees the body end early
                note = "abandoned"
                try:
                    status = _answer(sock, req.method)  # it may still answer before the close
                except (OSError, http.client.HTTPException):
                    status = None
    except (OSError, http.client.HTTPException) as exc:
        note = f"{type(exc).__name__}: {exc}"
    finally:
        sock.close()
    ended = time.perf_counter()
    return Outcome(req.kind, status, (ended - started) * 1000, started, ended, note)


# -- the mix ------------------------------------------------------------------------------------------------------

def nested(depth):
    return ('{"a":' * depth + "1" + "}" * depth).encode()


class Mix:
    def __init__(self, world, rng):
        self.world, self.rng = world, rng
        self.legit_sent = []  # (woo id, headers, body)
        self.next_woo_id = 900_000

    def seed_payload(self):
        """A seed order's payload, modified later than its mirror: if applied, the order would change."""
        woo_id = self.rng.choice(self.world["seed_ids"])
        payload = json.loads(json.dumps(self.world["seed_payloads"][woo_id]))
        payload["status"] = self.rng.choice(["cancelled", "completed", "refunded", "on-hold"])
        payload["date_modified_gmt"] = payload["date_modified"] = datetime.now(UTC).strftime("%Y-%m-%dT%H:%M:%S")
        payload["billing"]["first_name"] = "Mallory"
        return payload

    def webhook(self, kind, body, path=None, **header_args):
        header_args.setdefault("delivery_id", f"{kind.replace(' ', '-')}-{self.rng.getrandbits(32)}"[:60])
        return Req(kind, "POST", path or f"/webhooks/woocommerce/{SLUG}/", webhook_headers(body, **header_args), body)

    def build(self, kind):
        rng = self.rng
        if kind == "wh legit" or (kind == "wh replay" and not self.legit_sent):
            self.next_woo_id += 1
            payload = support._support.realistic_order(self.next_woo_id, rng)
            body = json.dumps(payload).encode()
            headers = webhook_headers(body, topic="order.created", delivery_id=f"legit-{self.next_woo_id}")
            self.legit_sent.append((self.next_woo_id, headers, body))
            return Req("wh legit", "POST", f"/webhooks/woocommerce/{SLUG}/", dict(headers), body)
        if kind == "wh replay":
            _woo_id, headers, body = rng.choice(self.legit_sent)
            return Req(kind, "POST", f"/webhooks/woocommerce/{SLUG}/", dict(headers), body)
        if kind == "wh replay tampered":
            _woo_id, headers, body = rng.choice(self.legit_sent) if self.legit_sent else (0, {}, b"{}")
            payload = json.loads(body) if body != b"{}" else self.seed_payload()
            payload["status"], payload["total"] = "cancelled", "0.01"
            return Req(kind, "POST", f"/webhooks/woocommerce/{SLUG}/", dict(headers) or webhook_headers(b"{}"),
                       json.dumps(payload).encode())
        body = json.dumps(self.seed_payload()).encode()
        if kind == "wh malformed":
            broken = rng.choice([body[: rng.randrange(1, len(body))], body.replace(b":", b"=", 3), b"{" * 50,
                                 b"<html>Fatal error</html>", b"", b"null", b"[]", b'{"id": }'])
            return self.webhook(kind, broken, signature=rng.choice([False, "x" * 44]))
        if kind == "wh unsigned":
            return self.webhook(kind, body, signature=False)
        if kind == "wh bad signature":
            return self.webhook(kind, body, signature=rng.choice([
                base64.b64encode(os.urandom(32)).decode(), "", " ", "é" * 44, sign(body)[:-4] + "AAAA",
                sign(body).lower(), "sha256=" + sign(body)]) or "=")
        if kind == "wh other store's secret":
            return self.webhook(kind, body, secret=OTHER_SECRET)
        if kind == "wh unknown store":
            slug = rng.choice(["nope", "hostile2", "x" * 200, "HOSTILE", "0"])
            return self.webhook(kind, body, path=f"/webhooks/woocommerce/{slug}/")
        if kind == "wh content type":
            return self.webhook(kind, body, content_type=rng.choice(
                ["text/plain", "application/x-www-form-urlencoded", "multipart/form-data; boundary=x",
                 "application/xml", "application/json-patch+json"]))
        if kind == "wh oversized length":
            return Req(kind, "POST", f"/webhooks/woocommerce/{SLUG}/", webhook_headers(body), body, mode="length-only")
        if kind == "wh oversized chunked":
            return Req(kind, "POST", f"/webhooks/woocommerce/{SLUG}/", webhook_headers(body), body, mode="chunked")
        if kind in ("wh slow", "wh slow abandoned"):
            return Req(kind, "POST", f"/webhooks/woocommerce/{SLUG}/", webhook_headers(body, signature="bad"), body,
                       mode="slow" if kind == "wh slow" else "abandon")
        if kind == "wh nul bytes":
            dirty = body.replace(b"Mallory", rng.choice([b"Mal\x00lory", b"\xff\xfe\x00", b"\xc3\x28", b"\x00" * 5]))
            return self.webhook(kind, dirty, signature=rng.choice([False, "bad\x7f"]))
        if kind in ("wh huge numbers", "wh unicode digits", "wh deep nesting", "wh signed hostile"):
            return self._content_attack(kind, rng)
        if kind == "provider":
            provider = self.world["provider_id"]
            token = rng.choice(["wrong", "é" * 10, "%00", "x" * 300])
            payload = rng.choice([b'{"type": "package_shipped"}', nested(5000), b"\x00\xff", body])
            mode = rng.choice(["plain", "plain", "length-only"])
            return Req(kind, "POST", f"/webhooks/providers/{rng.choice([provider, 999999])}/{quote(token)}/",
                       {"Content-Type": "application/json", "X-Announce": "2000000000"} if mode == "length-only"
                       else {"Content-Type": "application/json"}, payload, mode=mode)
        if kind.startswith("editor"):
            return self._editor(kind, rng)
        return self._admin(kind, rng)

    def _content_attack(self, kind, rng):
        """Bodies only the shop could sign, that are no order: stored (200), then failed when applied."""
        payload = self.seed_payload()
        if kind == "wh huge numbers":
            choice = rng.randrange(4)
            if choice == 0:
                payload["id"] = 10 ** rng.choice([19, 30, 400])
            elif choice == 1:
                payload["line_items"][0]["quantity"] = 10 ** 25
            elif choice == 2:
                payload["total"] = "9" * 40
            body = json.dumps(payload).encode()
            if choice == 3:
                body = body.replace(b'"quantity": ', b'"quantity": 1e400, "q": ', 1)
        elif kind == "wh unicode digits":
            where = rng.randrange(3)
            digits = rng.choice(UNICODE_DIGITS)
            if where == 0:
                payload["id"] = digits
            elif where == 1:
                payload["line_items"][0]["quantity"] = digits
            else:
                payload["line_items"][0]["product_id"] = digits
            body = json.dumps(payload, ensure_ascii=rng.random() < 0.5).encode()
            if rng.random() < 0.3:  # and an unsigned one, with the digits in the delivery id
                return Req(kind, "POST", f"/webhooks/woocommerce/{SLUG}/",
                           webhook_headers(body, signature=False, delivery_id=digits), body)
        elif kind == "wh deep nesting":
            payload["meta_data"] = json.loads(nested(rng.choice([200, 3000])))
            body = json.dumps(payload).encode() if rng.random() < 0.7 else nested(100_000)
        else:  # signed hostile: no order id, a topic we do not take, NUL outside strings, not UTF-8
            body = rng.choice([json.dumps({**payload, "id": None}).encode(), json.dumps([payload]).encode(),
                               json.dumps(payload).encode().replace(b"{", b"{\x00", 1),
                               json.dumps(payload).encode().replace(b"Mallory", b"\xff\xfe", 1)])
            if rng.random() < 0.3:
                return self.webhook(kind, json.dumps(payload).encode(), topic=rng.choice(
                    ["order.updatéd", "product.updated", "order.updated.", "x" * 200]))
        return self.webhook(kind, body)

    def _editor(self, kind, rng):
        world = self.world
        ref, token = world["project_ref"], world["resume_token"]
        base = "/api/editor/v1"
        if kind == "editor no key":
            key = rng.choice(["", "Bearer ", "Bearer bo_ed_wrong", "Basic abc", "Bearer " + "é" * 50,
                              "Bearer " + world["editor_key"][:-2] + "xx"])
            headers = {"Content-Type": "application/json", **({"Authorization": key} if key else {})}
            return Req(kind, rng.choice(["POST", "PUT"]), f"{base}/projects/{ref}/pages/", headers,
                       json.dumps({"pages": []}).encode())
        headers = {"Authorization": f"Bearer {world['editor_key']}", "Content-Type": "application/json"}
        if kind == "editor oversized":
            body = json.dumps({"pages": [{"slots": {"t": "x" * (EDITOR_LIMIT + 10)}}]}).encode()
            return Req(kind, "PUT", f"{base}/projects/{ref}/pages/", headers, body,
                       mode=rng.choice(["plain", "length-only", "chunked"]))
        junk = rng.choice([*UNICODE_DIGITS, "\x00", "a\x00b", 10 ** 30, -1, 1.5, True, None, [], {}, "x" * 5000,
                           {"a": [1, {"b": None}]}, "0x10", " 12 ", "NaN", 1e308])
        customer = rng.choice([None, world["customer_woo_id"], junk])
        target = rng.randrange(5)
        if target == 0:  # create: always with something wrong in it
            data = {"template": rng.choice([junk, str(world["template_id"]), 10 ** 20]),
                    "title": rng.choice(["\x00", "a" * 10_000, junk, "ok"]), "customer_id": customer}
            if data["template"] == world["template_id"]:
                data["template"] = "١"
            return Req(kind, "POST", f"{base}/projects/", headers, json.dumps(data).encode())
        if target == 1:  # pages: fuzzed pages (never a valid page list), with or without the token / customer
            pages = rng.choice([junk, [junk], [{"slots": junk}], [{"slots": {"s": {"asset": junk}}}],
                                [{"slots": {"s": {"text": "\x00"}}}], json.loads(nested(3000)), [[[]]] * 200])
            if pages in ([], None, [{"slots": {}}], [{}], [None]) or junk in ({}, [], None):
                pages = "١٢٣"  # an empty page list or page is valid: a fuzzed one never is
            data = {"pages": pages, "customer_id": customer}
            if rng.random() < 0.6:
                data["resume_token"] = rng.choice([token, "é" + token[1:], token + "\x00", junk])
            body = json.dumps(data).encode()
            if rng.random() < 0.2:
                body = rng.choice([nested(100_000), b"{\x00}", b"\xff\xfe", b"[1,2]"])
            return Req(kind, "PUT", f"{base}/projects/{ref}/pages/", headers, body)
        if target == 2:  # a ref that is no project's
            bad = quote(rng.choice(["\x00", "p" + "0" * 40, "١٢٣", "%", "é", ref + "\x00"]), safe="")
            return Req(kind, rng.choice(["GET", "POST", "PUT"]), f"{base}/projects/{bad}/pages/", headers,
                       json.dumps({"pages": []}).encode())
        if target == 3:  # a render asked with a wrong token (never the right one: a preview is a legit action)
            data = {"resume_token": rng.choice(["é", "\x00", "x", junk]), "customer_id": rng.choice([junk, 999])}
            return Req(kind, "POST", f"{base}/projects/{ref}/renders/", headers, json.dumps(data).encode())
        # an upload without a file, or of the wrong type
        headers = {**headers, "Content-Type": rng.choice(["multipart/form-data; boundary=zz", "text/plain",
                                                          "multipart/form-data"])}
        body = b"--zz\r\nContent-Disposition: form-data; name=\"resume_token\"\r\n\r\n" + token.encode() + \
            b"\r\n--zz\r\nContent-Disposition: form-data; name=\"file\"; filename=\"a.png\"\r\n\r\nnot an image" \
            b"\x00\r\n--zz--\r\n"
        return Req(kind, "POST", f"{base}/projects/{ref}/assets/", headers, body[: rng.randrange(10, len(body) + 1)])

    def _admin(self, kind, rng):
        world = self.world
        order_pk = rng.choice(world["seed_pks"] + [999_999_999])
        junk = rng.choice([*UNICODE_DIGITS, "\x00", "a\x00b", "9" * 30, "-1", "1e400", "NaN", "inf", "", " ",
                           "<script>", "x" * 3000, "0,5.5", "1.999", "€12", "9" * 5000])
        if kind == "admin search":
            params = rng.choice([{"q": junk}, {"q": "#" + junk}, {"store": junk}, {"customer": junk},
                                 {"status": junk}, {"production": junk}, {"p": junk}, {"o": junk}])
            return Req(kind, "GET", "/admin/fulfillment/order/?" + urlencode(params), {}, cookies=world["cookies"])
        action = rng.choice(["status", "note", "refund", "tracking", "address", "nope", "retry_submission"])
        line = rng.choice(world["line_ids"][order_pk] if order_pk in world["line_ids"] else [1])
        if action == "status":
            fields = {"status": rng.choice([junk, "wc-cancelled", "deleted", "trash", "processing\x00"]),
                      "note": rng.choice(["", junk])}
        elif action == "note":
            fields = {"note": rng.choice(["", "\x00", "a\x00b", " ", "x" * 100_000]),
                      "customer_note": rng.choice(["on", junk])}
        elif action == "refund":
            fields = {f"amount_{rng.choice([line, junk])}": rng.choice([junk, "-5", "0", "99999999999"]),
                      f"quantity_{rng.choice([line, junk, '²'])}": rng.choice([junk, "-1", "²", "99999999"]),
                      "reason": rng.choice(["", junk]), "token": rng.choice(["", junk])}
        elif action == "tracking":
            fields = {"carrier": rng.choice([junk, "nosuchcarrier"]), "tracking_number": rng.choice([junk, "\x00"]),
                      "tracking_link": rng.choice(["javascript:alert(1)", junk]), "shipped_on": junk,
                      f"ship_{rng.choice([line, junk, '١'])}": junk, "token": junk}
        elif action == "retry_submission":
            fields = {"submission": rng.choice(UNICODE_DIGITS + ["9" * 30])}
        else:
            fields = {"country": junk, "postcode": "\x00", "first_name": junk, "address_1": "\x00"}
        if kind == "admin fuzz":
            fields["csrfmiddlewaretoken"] = world["csrf"]
        body = urlencode(fields).encode()
        headers = {"Content-Type": "application/x-www-form-urlencoded", "Referer": f"http://127.0.0.1:{world['port']}/"}
        if kind == "admin fuzz":
            headers["X-CSRFToken"] = world["csrf"]
        return Req(kind, "POST", f"/admin/fulfillment/order/{order_pk}/action/{action}/", headers, body,
                   cookies=world["cookies"])


# -- the world: store, seed orders, editor key, project, staff session ---------------------------------------------

def _setup_database(world):
    from django.contrib.auth import get_user_model

    from fulfillment.models import Provider, Store
    from projects.services.api_keys import editor_key_create
    from projects.services.projects import project_create
    from tests.projects.factories import CustomerFactory, ProductTemplateFactory

    store = Store.objects.create(slug=SLUG, name="Hostile shop", base_url="http://127.0.0.1:9", consumer_key="ck_x",
                                 consumer_secret="cs_x", webhook_secret=SECRET, timezone="Europe/Amsterdam")
    Store.objects.create(slug=OTHER_SLUG, name="Neighbour shop", base_url="http://127.0.0.1:9", consumer_key="ck_y",
                         consumer_secret="cs_y", webhook_secret=OTHER_SECRET, timezone="Europe/Amsterdam")
    provider = Provider.objects.create(store=store, name="Printful", kind="printful", base_url="http://127.0.0.1:9",
                                       webhook_token="the-right-token-0123456789")
    _row, key = editor_key_create(store=store, name="hostile")
    template = ProductTemplateFactory(store=store)
    customer = CustomerFactory(profile__store=store, profile__woo_id=4242)
    project = project_create(store=store, template=template, owner=customer, title="A real one", source="editor_api")
    get_user_model().objects.create_superuser("hostile-admin", "admin@example.com", STAFF_PASSWORD)
    world.update(store_id=store.pk, provider_id=provider.pk, editor_key=key, template_id=template.pk,
                 customer_woo_id=4242, project_ref=project.ref, resume_token=project.resume_token)


def _login(world, port):
    """A superuser's session and CSRF token, through the admin's login form."""
    import requests

    http = requests.Session()
    page = http.get(f"http://127.0.0.1:{port}/admin/login/", timeout=30)
    token = re.search(r'name="csrfmiddlewaretoken" value="([^"]+)"', page.text).group(1)
    answer = http.post(f"http://127.0.0.1:{port}/admin/login/?next=/admin/", timeout=30, allow_redirects=False,
                       data={"username": "hostile-admin", "password": STAFF_PASSWORD, "csrfmiddlewaretoken": token,
                             "next": "/admin/"}, headers={"Referer": f"http://127.0.0.1:{port}/admin/login/"})
    if answer.status_code != 302:
        raise SystemExit(f"the admin login failed ({answer.status_code})")
    page = http.get(f"http://127.0.0.1:{port}/admin/fulfillment/order/{world['seed_pks'][0]}/change/", timeout=30)
    token = re.search(r'name="csrfmiddlewaretoken" value="([^"]+)"', page.text).group(1)
    world["cookies"] = "; ".join(f"{c.name}={c.value}" for c in http.cookies)
    world["csrf"] = token


def snapshot(store_id, seed_ids):
    from django.apps import apps

    from fulfillment.models import Order, WebhookDelivery
    from projects.models import Project

    orders = {row[0]: row[1:] for row in Order.objects.filter(store_id=store_id, woo_id__in=seed_ids).values_list(
        "woo_id", "status", "raw_hash", "total", "refunded_total", "billing", "shipping", "modified_at", "trashed",
        "customer_note")}
    related = {name: apps.get_model("fulfillment", name).objects.filter(order__woo_id__in=seed_ids).count()
               for name in ("OrderEvent", "StorePush", "Refund", "Shipment", "Submission")}
    projects = list(Project.objects.order_by("pk").values_list("ref", "title", "pages", "state", "updated_at"))
    return {"orders": orders, "related": related, "projects": projects,
            "deliveries": WebhookDelivery.objects.count()}


def wait_applied(deadline):
    from fulfillment.choices import DeliveryState
    from fulfillment.models import WebhookDelivery

    while time.monotonic() < deadline:
        if not WebhookDelivery.objects.filter(state=DeliveryState.RECEIVED).exists():
            return True
        time.sleep(0.5)
    return False


# -- the run ------------------------------------------------------------------------------------------------------

@dataclass
class Result:
    figures: dict = field(default_factory=dict)
    problems: list = field(default_factory=list)


def counts_for(total, rng):
    shares = sum(MIX.values())
    kinds = []
    for kind, share in MIX.items():
        kinds += [kind] * max(round(total * share / shares), 1)
    rng.shuffle(kinds)
    # legitimate deliveries spread over the first half, so that their replays follow them
    return kinds[:total] if len(kinds) >= total else kinds


def run(*, requests=10_000, seed_orders=40, concurrency=8, database="faults_hostile",
        redis_url="redis://127.0.0.1:6379/3", seed=15, say=print):
    result = Result()
    rng = random.Random(seed)
    say(f"hostile_input: {requests:,} requests, {concurrency} connections at once (slow bodies on 4 more); "
        f"PostgreSQL {database} (recreated), Redis {redis_url}; {os.cpu_count()} CPUs, load average "
        f"{os.getloadavg()[0]:.2f}")
    support.reset_database(database)
    redis = support.redis_client(redis_url)
    redis.flushdb()
    parts = support.Parts(database=database, redis_url=redis_url, clusters=1, workers=2, extra_env={
        "WEBHOOK_MAX_BYTES": str(WEBHOOK_LIMIT), "EDITOR_API_MAX_BYTES": str(EDITOR_LIMIT), "LOG_LEVEL": "WARNING",
})
    parts.apply_env_here()
    for name in ("WEBHOOK_MAX_BYTES", "EDITOR_API_MAX_BYTES"):
        os.environ[name] = parts.env[name]
    import django

    django.setup()
    from django.db import connections

    log = tempfile.NamedTemporaryFile("w+", prefix="faults_hostile_gunicorn_", suffix=".log", delete=False)
    world = {}
    try:
        _setup_database(world)
        base = parts.start_gunicorn(log=log)
        world["port"] = parts.port
        parts.start_clusters(redis)
        # the seed orders, legitimately
        world["seed_ids"] = list(range(1, seed_orders + 1))
        world["seed_payloads"] = {i: support._support.realistic_order(i, rng) for i in world["seed_ids"]}
        for woo_id, payload in world["seed_payloads"].items():
            payload["status"] = "processing"
            body = json.dumps(payload).encode()
            outcome = send(Req("seed", "POST", f"/webhooks/woocommerce/{SLUG}/", webhook_headers(
                body, topic="order.created", delivery_id=f"seed-{woo_id}"), body), parts.port)
            if outcome.status != 200:
                raise SystemExit(f"a seed order was answered {outcome.status} {outcome.note}")
        if not wait_applied(time.monotonic() + 120):
            raise SystemExit("the seed orders were not applied within 120 s")
        from fulfillment.models import Order, OrderLine

        world["seed_pks"] = list(Order.objects.filter(woo_id__in=world["seed_ids"]).values_list("pk", flat=True))
        world["line_ids"] = defaultdict(list)
        for order_id, line_pk, woo_line in OrderLine.objects.filter(order_id__in=world["seed_pks"]).values_list(
                "order_id", "pk", "woo_line_id"):
            world["line_ids"][order_id] += [line_pk, woo_line]
        _login(world, parts.port)
        before = snapshot(world["store_id"], world["seed_ids"])
        log_start = os.path.getsize(log.name)
        mix = Mix(world, rng)
        plan = [mix.build(kind) for kind in counts_for(requests, rng)]
        say(f"  seeded {seed_orders} orders via webhooks; gunicorn at {base}; {len(plan):,} requests built")
        cpu0, load0, t0 = parts.cpu(), os.getloadavg(), time.perf_counter()
        outcomes = []
        lock = threading.Lock()

        def go(req):
            outcome = send(req, parts.port)
            with lock:
                outcomes.append(outcome)

        slow = [r for r in plan if r.mode in ("slow", "abandon")]
        fast = [r for r in plan if r.mode not in ("slow", "abandon")]
        with ThreadPoolExecutor(4) as slow_pool, ThreadPoolExecutor(concurrency) as pool:
            slow_futures = [slow_pool.submit(go, r) for r in slow]
            futures = [pool.submit(go, r) for r in fast]
            for future in futures + slow_futures:
                future.result()
        wall = time.perf_counter() - t0
        cpu1, load1 = parts.cpu(), os.getloadavg()
        drained = wait_applied(time.monotonic() + 120)
        after = snapshot(world["store_id"], world["seed_ids"])
        time.sleep(1.0)  # the last log lines
        _checks(result, world, mix, outcomes, before, after, drained, log.name, log_start, parts, say,
                wall=wall, cpu=(cpu1["gunicorn"] - cpu0["gunicorn"], cpu1["qclusters"] - cpu0["qclusters"]),
                load=(load0, load1))
    finally:
        connections.close_all()
        _notes, errors = parts.stop()
        for line in errors:
            say(f"  qcluster log kept: {line}")
            result.problems.append("ERROR lines in a qcluster's log")
        redis.flushdb()
        support.drop_database(database)
        log.close()
        if result.problems:
            say(f"  gunicorn's log kept: {log.name}")
        else:
            os.unlink(log.name)
    return result


def _log_records(path, start):
    with open(path, encoding="utf-8", errors="replace") as handle:
        handle.seek(start)
        text = handle.read()
    refusals = Counter()
    reasons = Counter()
    for line in text.splitlines():
        match = re.search(r" WARNING (django\.request|django\.security\.\S+) (.*)", line)
        if match:
            refusals[match.group(2).split(":")[0]] += 1
            continue
        if "[WARNING] Invalid request from" in line:  # gunicorn's own refusal (a header no HTTP allows)
            refusals["gunicorn: invalid request"] += 1
            continue
        match = re.search(r" WARNING (fulfillment\.webhooks|backoffice\.request_limits|projects\.editor_api) ", line)
        if match:
            reasons[match.group(1)] += 1
            if "not applied:" in line:  # a signed body kept failed at once (not UTF-8)
                reasons["kept failed on receipt"] += 1
    errors = [line for line in text.splitlines() if re.search(r" ERROR |\[ERROR\]|\[CRITICAL\]", line)]
    return refusals, reasons, errors


def _checks(result, world, mix, outcomes, before, after, drained, log_path, log_start, parts, say, *, wall, cpu,
            load):
    from fulfillment.choices import DeliveryState
    from fulfillment.models import Order, WebhookDelivery

    by_kind = defaultdict(Counter)
    for outcome in outcomes:
        by_kind[outcome.kind][outcome.status or "no answer"] += 1
    server_errors = [o for o in outcomes if o.status and o.status >= 500]
    unanswered = [o for o in outcomes if o.status is None and o.kind != "wh slow abandoned"]
    legit_digests = {hashlib.sha256(body).hexdigest() for _w, _h, body in mix.legit_sent}
    applied = WebhookDelivery.objects.filter(state__in=[DeliveryState.APPLIED, DeliveryState.STALE])
    hostile_applied = applied.exclude(body_sha256__in=legit_digests).exclude(delivery_id__startswith="seed-").count()
    legit_rows = WebhookDelivery.objects.filter(body_sha256__in=legit_digests)
    legit_applied = legit_rows.filter(state=DeliveryState.APPLIED).count()
    legit_orders = Order.objects.filter(woo_id__in=[w for w, _h, _b in mix.legit_sent]).count()
    replays = Counter(o.kind for o in outcomes)["wh replay"]
    repeats = sum(legit_rows.values_list("repeats", flat=True))
    changed_orders = [w for w, row in before["orders"].items() if after["orders"].get(w) != row]
    changed_related = {k: (before["related"][k], v) for k, v in after["related"].items() if before["related"][k] != v}
    projects_changed = before["projects"] != after["projects"]
    failed_hostile = WebhookDelivery.objects.filter(state=DeliveryState.FAILED).count()
    refusals, reasons, errors = _log_records(log_path, log_start)
    cluster_reasons = 0
    for handle in parts.logs:
        handle.flush()
        handle.seek(0)
        cluster_reasons += sum(1 for line in handle if "not applied:" in line)
    cluster_reasons += reasons.get("kept failed on receipt", 0)  # the gunicorn's records of the same
    four_xx = sum(1 for o in outcomes if o.status and 400 <= o.status < 500)
    abandoned = sum(1 for o in outcomes if o.kind == "wh slow abandoned" and o.status is None)
    refusal_records = sum(refusals.values())
    # every 4xx answered has django's record; an abandoned body is refused (400) after its client has gone
    logged_ok = refusal_records >= four_xx + abandoned and refusal_records - (four_xx + abandoned) <= abandoned
    slow_spans = [(o.started, o.ended) for o in outcomes if o.kind in ("wh slow", "wh slow abandoned")]
    during = sorted(o.ms for o in outcomes if o.kind not in ("wh slow", "wh slow abandoned")
                    and any(a <= o.started <= b for a, b in slow_spans))
    latencies = sorted(o.ms for o in outcomes if o.kind not in ("wh slow", "wh slow abandoned"))

    def pct(values, q):
        return values[min(int(len(values) * q), len(values) - 1)] if values else 0.0

    statuses = Counter(o.status or "no answer" for o in outcomes)
    figures = {
        "requests": len(outcomes), "wall_s": round(wall, 1), "server_errors": len(server_errors),
        "unanswered": len(unanswered), "hostile_applied": hostile_applied, "orders_changed": len(changed_orders),
        "related_changed": changed_related, "projects_changed": projects_changed,
        "legit_sent": len(mix.legit_sent), "legit_applied": legit_applied, "legit_orders": legit_orders,
        "replays": replays, "replay_repeats_counted": repeats, "signed_hostile_failed": failed_hostile,
        "cluster_not_applied_records": cluster_reasons, "refusals_4xx": four_xx, "abandoned": abandoned,
        "refusal_records": refusal_records, "app_reason_records": dict(reasons), "log_errors": len(errors),
        "statuses": {str(k): v for k, v in sorted(statuses.items(), key=str)},
        "p50_ms": round(pct(latencies, 0.5), 1), "p99_ms": round(pct(latencies, 0.99), 1),
        "p99_ms_during_slow_bodies": round(pct(during, 0.99), 1), "requests_during_slow_bodies": len(during),
        "gunicorn_cpu_ms_per_request": round(cpu[0] * 1000 / max(len(outcomes), 1), 2),
        "qcluster_cpu_s": round(cpu[1], 1), "load_before": round(load[0][0], 2), "load_after": round(load[1][0], 2),
        "drained": drained,
    }
    result.figures = figures
    say("  requests per kind (status: count):")
    for kind in MIX:
        say(f"    {kind:<26} " + ", ".join(f"{k}: {v}" for k, v in sorted(by_kind[kind].items(), key=str)))
    say(f"  status codes: {figures['statuses']}")
    say(f"  5xx: {len(server_errors)}" + (f" (e.g. {server_errors[0].kind})" if server_errors else ""))
    say(f"  applied by hostile input: {hostile_applied} deliveries, {len(changed_orders)} seed orders changed, "
        f"related rows changed {changed_related or 'none'}, projects changed {projects_changed}")
    say(f"  legitimate: {len(mix.legit_sent)} sent, {legit_applied} applied once ({legit_orders} orders); "
        f"{replays} replays answered, {repeats} counted as repeats, none applied again")
    say(f"  signed hostile deliveries stored and failed when applied: {failed_hostile} "
        f"({cluster_reasons} log records of why, {reasons.get('kept failed on receipt', 0)} of them kept failed "
        f"on receipt)")
    say(f"  log records: {refusal_records} refusals (django.request/security) for {four_xx} 4xx answered + "
        f"{abandoned} abandoned; app reasons {dict(reasons)}; {len(errors)} ERROR lines")
    say(f"  latency: p50 {figures['p50_ms']} ms, p99 {figures['p99_ms']} ms; during slow bodies p99 "
        f"{figures['p99_ms_during_slow_bodies']} ms over {len(during)} requests")
    say(f"  CPU: gunicorn {figures['gunicorn_cpu_ms_per_request']} ms per request, qcluster {cpu[1]:.1f} s; "
        f"{wall:.1f} s wall; load average {load[0][0]:.2f} → {load[1][0]:.2f}")
    if server_errors:
        result.problems.append(f"{len(server_errors)} answers 5xx: " + ", ".join(
            sorted({f'{o.kind} {o.status}' for o in server_errors})))
    if unanswered:
        result.problems.append(f"{len(unanswered)} requests unanswered, e.g. {unanswered[0].kind}: "
                               f"{unanswered[0].note}")
    if hostile_applied or changed_orders or changed_related or projects_changed:
        examples = [f"{delivery_id} {topic}" for delivery_id, topic in applied.exclude(body_sha256__in=legit_digests)
                    .exclude(delivery_id__startswith="seed-").values_list("delivery_id", "topic")[:5]]
        result.problems.append(f"hostile input was applied: {examples}")
    if legit_applied != len(mix.legit_sent) or legit_orders != len(mix.legit_sent):
        result.problems.append(f"legitimate deliveries: {legit_applied} applied, {legit_orders} orders of "
                               f"{len(mix.legit_sent)}")
    if repeats != replays:
        result.problems.append(f"replays: {replays} sent but {repeats} repeats counted")
    if not logged_ok:
        result.problems.append(f"{four_xx + abandoned} refusals but {refusal_records} log records")
    if cluster_reasons < failed_hostile:
        result.problems.append(f"{failed_hostile} deliveries failed, {cluster_reasons} logged by the qcluster")
    if errors:
        result.problems.append(f"{len(errors)} ERROR lines in gunicorn's log, e.g. {errors[0][:300]}")
    if not drained:
        result.problems.append("deliveries still not applied 120 s after the run")
    say("  verdict: " + ("every check passed" if not result.problems else "; ".join(result.problems)))


def main():
    parser = argparse.ArgumentParser(description=__doc__.split("\n\n")[0])
    parser.add_argument("--requests", type=int, default=10_000)
    parser.add_argument("--seed-orders", type=int, default=40)
    parser.add_argument("--concurrency", type=int, default=8)
    parser.add_argument("--database", default="faults_hostile")
    parser.add_argument("--redis", default=os.environ.get("FAULTS_REDIS_URL", "redis://127.0.0.1:6379/3"))
    parser.add_argument("--seed", type=int, default=15)
    parser.add_argument("--figures", metavar="FILE", help="also write the figures and problems to FILE (JSON)")
    args = parser.parse_args()
    result = run(requests=args.requests, seed_orders=args.seed_orders, concurrency=args.concurrency,
                 database=args.database, redis_url=args.redis, seed=args.seed,
                 say=lambda text: print(text, flush=True))
    if args.figures:
        Path(args.figures).write_text(json.dumps({"figures": result.figures, "problems": result.problems}, indent=1,
                                                 default=str))
    return 0 if result.ok else 1


Result.ok = property(lambda self: not self.problems)

if __name__ == "__main__":
    sys.exit(main())
