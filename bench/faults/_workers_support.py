"""Issue 15, scenario 2 — workers die: the parts of bench/faults/workers_die.py and its CI test.

Over 400 lines: one scenario with its stand-ins' processes, the set-up of a store using all of them, the load, the
killer and the checks, which are read together; split, each part would only make sense next to the others.

Real parts, each its own process: PostgreSQL (a database of its own, dropped and made again), Redis (a db of its
own, flushed), gunicorn (sync workers) receiving the shop's webhooks, `--clusters` × `manage.py qcluster`
(Q_WORKERS=`--workers`: four worker processes by default), and the stand-ins of tests/fakes/ — the shop
(WooCommerce: the invoice number pushed to its orders), the provider (Printful), the supplier (Rewix), the accounting
system (Moneybird) — each in a spawned process of its own.

The load: `orders` in-app orders (every line made by the provider) and `orders // 2` dropship orders (lines of the
supplier's models; 60 % paid, placed as supplier orders, the rest pending, locked in the growing order) arrive as
signed `order.created` webhooks through gunicorn (4 senders; a delivery that fails is sent again a second later, as
WooCommerce does). Every paid order gets an invoice (issued by the follower's task, exported to Moneybird, its number
pushed to the shop); staff bulk-submit the in-app orders as they arrive. Meanwhile a killer `kill -9`s, every
`kill_every` seconds, a random process of a random cluster (a worker, its pusher or monitor: the sentinel brings it
back) or, one time in four, a whole cluster (its process group; started again a second later, as a supervisor
would), and gunicorn once (started again). Time is compressed: the times after which work of a dead worker counts as
lost are `lost_seconds` instead of 5-10 minutes (settings SUBMISSION_CLAIM_SECONDS, ...: lost_after() below) and
the sweeps' schedules are made due every `sweep_every` seconds instead of every 1-5 minutes.

Checked once every job is finished (or the catch-up deadline passed): no order twice at the provider (by external id)
and none with two live submissions; no supplier order twice (by key) and the growing order locking exactly what the
pending lines need; invoice numbers 1..N without a gap or a duplicate, one invoice per paid order, each booked once
in Moneybird and its number in the shop; every delivery applied, every submission submitted, every reservation in
sync, nothing left in the outbox.
"""

import base64
import hashlib
import hmac
import json
import multiprocessing
import os
import random
import signal
import socket
import subprocess
import sys
import tempfile
import threading
import time
from collections import Counter
from concurrent.futures import ThreadPoolExecutor
from dataclasses import dataclass, field
from datetime import timedelta
from http.client import HTTPConnection
from pathlib import Path

BENCH = Path(__file__).resolve().parent.parent
if str(BENCH) not in sys.path:
    sys.path.insert(0, str(BENCH))

import _support  # noqa: E402  (puts the project root on sys.path)
from bench_submit import machine_busy, start_cluster, stop_cluster, tree_cpu  # noqa: E402

SLUG = "faults"
WEBHOOK_SECRET = "faults_webhook_secret_0123456789"
CONSUMER_KEY, CONSUMER_SECRET = "ck_faults_0123456789abcdef", "cs_faults_fedcba9876543210"
PRINTFUL_TOKEN_ENV, REWIX_PASSWORD_ENV, MONEYBIRD_TOKEN_ENV = (
    "FAULTS_PRINTFUL_TOKEN", "FAULTS_REWIX_PASSWORD", "FAULTS_MONEYBIRD_TOKEN")
STAT_PATTERN = "django_q:backoffice:cluster:*"
MARKETS = ("NL", "DE", "FR")  # the ones the local Moneybird has VAT rates for (NL's own, DE and FR's OSS rates)
PRODUCT_BASE, STOCK_BASE, SUPPLIER_PRODUCTS = 700_000, 8_000_000, 20
SIZES = ["XS", "S", "M", "L", "XL"]
DROPSHIP_FIRST_ID = 500_000  # woo ids of the dropship orders
# Compressed time: how long before a dead worker's work is taken up again (production: minutes, settings.py).
def lost_after(seconds):
    """The settings that say when a dead worker's work counts as lost, all `seconds` (production: minutes)."""
    value = f"{seconds:g}"
    return {"SUBMISSION_CLAIM_SECONDS": value, "SUBMISSION_LOST_TASK_SECONDS": value,
            "SUPPLIER_SYNC_LEASE_SECONDS": value, "INVOICE_EXPORT_CLAIM_SECONDS": value, "PUSH_CLAIM_SECONDS": value,
            "INVOICE_LOST_TASK_SECONDS": value, "WEBHOOK_REQUEUE_MINUTES": f"{seconds / 60:g}"}


# The schedules that take up lost work; the bench makes them due every sweep_every seconds. Every other schedule is
# put off (the reconcile, renders, shipment polls would only add unrelated load).
SWEEPS = ["fulfillment.tasks.production_tick", "fulfillment.tasks.requeue_lost_deliveries",
          "fulfillment.tasks.refresh_suppliers", "fulfillment.tasks.dispatch_due_pushes",
          "fulfillment.tasks.retry_followers", "accounting.tasks.issue_lost_invoices",
          "accounting.tasks.export_due_invoices"]


# -- the stand-ins, each in its own process ---------------------------------------------------------------------

def serve(kind, secrets, orders, conn):
    """Child process: one stand-in; answers ("stats",), ("cpu",); stops on ("stop",)."""
    import logging

    logging.getLogger("werkzeug").setLevel(logging.ERROR)
    if kind == "shop":
        from tests.fakes.woocommerce import FakeWooCommerce

        fake = FakeWooCommerce(consumer_key=CONSUMER_KEY, consumer_secret=CONSUMER_SECRET)
        fake.add_orders(orders)
        fake.start()
        info = {"url": fake.url}
    elif kind == "provider":
        from tests.fakes.printful import FakePrintful

        fake = FakePrintful(token=secrets["printful"]).start()
        info = {"url": fake.url}
    elif kind == "supplier":
        from datetime import UTC, datetime

        from tests.fakes.rewix import FakeRewix

        fake = FakeRewix(password=secrets["rewix"])
        for index in range(SUPPLIER_PRODUCTS):
            fake.add_product({
                "id": PRODUCT_BASE + index, "name": f"Jacket {index:02d}", "code": f"JK-{index:02d}",
                "taxable": 40.5, "suggestedPrice": 89.0, "streetPrice": 119.0, "online": True, "images": [],
                "tags": [], "models": [{"id": STOCK_BASE + index * 10 + n, "model": size, "size": size,
                                        "color": "Black", "code": f"JK-{index:02d}-{size}",
                                        "barcode": f"80{STOCK_BASE + index * 10 + n:011d}", "availability": 100_000,
                                        "backorder": False} for n, size in enumerate(SIZES)]},
                at=datetime.now(UTC) - timedelta(days=1))
        fake.start()
        info = {"url": fake.url, "api_key": fake.api_key}
    elif kind == "accounting":
        from tests.fakes.moneybird import ADMINISTRATION_ID, FakeMoneybird

        fake = FakeMoneybird(token=secrets["moneybird"], rate_limit=10**9).start()
        info = {"url": fake.base_url, "administration": ADMINISTRATION_ID}
    else:
        raise ValueError(kind)
    conn.send(info)
    while True:
        command = conn.recv()[0]
        if command == "cpu":
            conn.send(time.process_time())
        elif command == "stats":
            with fake.lock:
                conn.send(_stats(kind, fake))
        else:
            break
    fake.stop()


def _stats(kind, fake):
    if kind == "shop":
        numbers = {woo_id: next((m["value"] for m in order.get("meta_data", []) if m.get("key") == "_invoice_number"),
                                None) for woo_id, order in fake.orders.items()}
        return {"invoice_numbers": {k: v for k, v in numbers.items() if v}, "requests": len(fake.requests)}
    if kind == "provider":
        external = Counter(str(order["external_id"]) for order in fake.orders.values())
        posts = sum(1 for method, path, _params in fake.requests if method == "POST" and path == "/orders")
        return {"external_ids": dict(external), "posts": posts, "requests": len(fake.requests)}
    if kind == "supplier":
        from tests.fakes.rewix import DROPSHIPPING

        placed = {key: sorted(order["items"]) for key, order in fake.orders.items()}
        posts = sum(1 for logged in fake.requests if logged.method == "POST"
                    and logged.path.rstrip("/").startswith(DROPSHIPPING.rstrip("/")))
        return {"placed": placed, "locks": {s: n for s, n in fake.locks.items() if n}, "posts": posts,
                "requests": len(fake.requests)}
    references = Counter(invoice["reference"] for invoice in fake.invoices.values())
    return {"references": dict(references), "requests": len(fake.requests)}


class StandIn:
    """The bench's end of a stand-in's pipe."""

    def __init__(self, kind, secrets, orders=()):
        context = multiprocessing.get_context("spawn")
        self.conn, theirs = context.Pipe()
        self.process = context.Process(target=serve, args=(kind, secrets, list(orders), theirs), daemon=True)
        self.process.start()
        self.info = self.conn.recv()
        self.lock = threading.Lock()

    def ask(self, command):
        with self.lock:
            self.conn.send((command,))
            return self.conn.recv()

    def stop(self):
        if self.process.is_alive():
            try:
                self.conn.send(("stop",))
            except OSError:
                pass
            self.process.join(timeout=10)
            if self.process.is_alive():
                self.process.terminate()


# -- the orders ---------------------------------------------------------------------------------------------------

def supplier_models():
    return [(str(STOCK_BASE + index * 10 + n), f"JK-{index:02d}-{size}", size, index)
            for index in range(SUPPLIER_PRODUCTS) for n, size in enumerate(SIZES)]


def _market_orders(count, first_id, seed):
    """Realistic orders (bench/_support.py) in the markets Moneybird has rates for, paid and processing."""
    rng, payloads, woo_id = random.Random(seed), [], first_id
    while len(payloads) < count:
        payload = _support.realistic_order(woo_id, rng)
        woo_id += 1
        if payload["billing"]["country"] not in MARKETS or payload["currency"] != "EUR":
            continue
        payload.update(status="processing", refunds=[], date_completed_gmt=None, needs_payment=False,
                       date_paid_gmt=payload["date_created_gmt"], date_paid=payload["date_created"],
                       fee_lines=[], coupon_lines=[], meta_data=[])
        payloads.append(payload)
    return payloads


def build_orders(count, seed):
    """(in-app orders, dropship orders): every line of the first made by the provider, with its print file; the
    second's lines the supplier's models, 60 % paid (placed at the supplier), the rest pending (locked)."""
    in_app = _market_orders(count, 1, seed)
    for payload in in_app:
        for line in payload["line_items"]:
            url = f"https://files.example.com/print/{payload['id']}/{line['id']}.pdf"
            line["meta_data"] = [m for m in line["meta_data"] if m["key"] not in ("_project_id",)] + [
                {"id": line["id"] * 10 + 9, "key": "_print_file_url", "value": url, "display_key": "_print_file_url",
                 "display_value": url}]
    dropship = _market_orders(count // 2, DROPSHIP_FIRST_ID, seed + 1)
    models, rng = supplier_models(), random.Random(seed + 2)
    for payload in dropship:
        for line, (stock_id, code, size, index) in zip(payload["line_items"],
                                                        rng.sample(models, len(payload["line_items"]))):
            line.update(name=f"Jacket {index:02d} {size}", product_id=PRODUCT_BASE + index, variation_id=int(stock_id),
                        sku=code, meta_data=[])
        if rng.random() >= 0.6:
            payload.update(status="pending", date_paid=None, date_paid_gmt=None, needs_payment=True)
    return in_app, dropship


def delivery(payload):
    body = json.dumps(payload, separators=(",", ":")).encode()
    signature = base64.b64encode(hmac.new(WEBHOOK_SECRET.encode(), body, hashlib.sha256).digest()).decode()
    headers = {"Content-Type": "application/json", "User-Agent": "WooCommerce/9.9.5 Hookshot (WordPress/6.9)",
               "X-WC-Webhook-Source": "http://shop.example.com/", "X-WC-Webhook-Topic": "order.created",
               "X-WC-Webhook-Resource": "order", "X-WC-Webhook-Event": "created",
               "X-WC-Webhook-Signature": signature, "X-WC-Webhook-ID": "15",
               "X-WC-Webhook-Delivery-ID": f"created-{payload['id']}"}
    return headers, body


# -- processes we run ---------------------------------------------------------------------------------------------

class Gunicorn:
    def __init__(self, env, port, log):
        self.env, self.port, self.log, self.process = env, port, log, None

    def start(self):
        command = [sys.executable, "-m", "gunicorn", "backoffice.wsgi:application", "--bind",
                   f"127.0.0.1:{self.port}", "--workers", "2", "--log-level", "warning", "--timeout", "60"]
        self.process = subprocess.Popen(command, cwd=_support.ROOT, env=self.env, stdout=self.log,
                                        stderr=subprocess.STDOUT, start_new_session=True)
        for _ in range(300):
            if self.process.poll() is not None:
                raise RuntimeError(f"gunicorn exited with {self.process.returncode}; see {self.log.name}")
            try:
                socket.create_connection(("127.0.0.1", self.port), timeout=0.2).close()
                return
            except OSError:
                time.sleep(0.05)
        raise RuntimeError("gunicorn did not start listening")

    def kill(self):
        os.killpg(self.process.pid, signal.SIGKILL)  # its own session: the arbiter and its workers, nothing else
        self.process.wait()

    def stop(self):
        if self.process and self.process.poll() is None:
            os.killpg(self.process.pid, signal.SIGTERM)
            try:
                self.process.wait(timeout=20)
            except subprocess.TimeoutExpired:
                self.kill()


def _children(pid):
    try:
        return [int(p) for p in Path(f"/proc/{pid}/task/{pid}/children").read_text().split()]
    except OSError:
        return []


class Clusters:
    """The qcluster processes, killed and started again as a supervisor would (systemd's Restart=always)."""

    def __init__(self, env, count, logs_prefix):
        self.env, self.processes, self.logs, self.cpu_gone = env, [], [], 0.0
        for index in range(count):
            self.logs.append(tempfile.NamedTemporaryFile("w+", prefix=f"{logs_prefix}{index}_", suffix=".log",
                                                         delete=False))
            self.processes.append(start_cluster(env, self.logs[index]))

    def cpu(self):
        return self.cpu_gone + sum(tree_cpu(p.pid) for p in self.processes)

    def kill_child(self, rng):
        """kill -9 one process the cluster's sentinel runs (a worker, the pusher, the monitor): the sentinel spawns
        it again. Returns its pid, or None when the cluster is between lives."""
        cluster = rng.choice(self.processes)
        sentinels = _children(cluster.pid)
        victims = [pid for sentinel in sentinels for pid in _children(sentinel)]
        if not victims:
            return None
        victim = rng.choice(victims)
        try:
            os.kill(victim, signal.SIGKILL)
        except ProcessLookupError:
            return None
        return victim

    def kill_cluster(self, rng, restart_after=1.0):
        """kill -9 a whole cluster (its process group: the qcluster, sentinel, workers, pusher, monitor), then
        start it again."""
        index = rng.randrange(len(self.processes))
        process = self.processes[index]
        self.cpu_gone += tree_cpu(process.pid)
        try:
            os.killpg(process.pid, signal.SIGKILL)
        except ProcessLookupError:
            pass
        process.wait()
        time.sleep(restart_after)
        self.processes[index] = start_cluster(self.env, self.logs[index])
        return process.pid

    def stop(self):
        # The checks are done: the monitors' unsaved results do not matter, a short grace does.
        return [stop_cluster(p, grace=5) for p in self.processes]


# -- the run ------------------------------------------------------------------------------------------------------

@dataclass
class Result:
    figures: dict = field(default_factory=dict)
    problems: list = field(default_factory=list)
    lines: list = field(default_factory=list)

    @property
    def ok(self):
        return not self.problems


def _pg(dbname="postgres"):
    import psycopg

    return psycopg.connect(host=_support.PG_HOST, port=_support.PG_PORT, user=_support.PG_USER, dbname=dbname,
                           autocommit=True)


def _free_port():
    with socket.socket() as sock:
        sock.bind(("127.0.0.1", 0))
        return sock.getsockname()[1]


def run(*, orders=1000, database="faults_workers", redis_url="redis://127.0.0.1:6379/8", clusters=2, workers=2,
        kill_every=4.0, min_kills=12, catch_up=300.0, sweep_every=10.0, lost_seconds=60.0, seed=15, keep=False, say=print):
    """The scenario end to end; returns a Result (figures, problems). Touches only `database` and `redis_url`'s db."""
    result = Result()

    def out(text):
        result.lines.append(text)
        say(text)

    database_url = f"postgres://{_support.PG_USER}@{_support.PG_HOST}:{_support.PG_PORT}/{database}"
    secrets = {"printful": "pf-faults-" + base64.urlsafe_b64encode(os.urandom(18)).decode(),
               "rewix": "rx-" + base64.urlsafe_b64encode(os.urandom(12)).decode(),
               "moneybird": "mb-" + base64.urlsafe_b64encode(os.urandom(18)).decode()}
    env = {**os.environ, "DATABASE_URL": database_url, "REDIS_URL": redis_url,
           "DJANGO_SETTINGS_MODULE": "backoffice.settings", "DEBUG": "0", "LOG_LEVEL": "WARNING",
           "SECRET_KEY": "faults-" + base64.b64encode(os.urandom(30)).decode(), "Q_WORKERS": str(workers),
           PRINTFUL_TOKEN_ENV: secrets["printful"], REWIX_PASSWORD_ENV: secrets["rewix"],
           MONEYBIRD_TOKEN_ENV: secrets["moneybird"], "PYTHONUNBUFFERED": "1", **lost_after(lost_seconds)}
    in_app, dropship = build_orders(orders, seed)
    out(f"workers_die: {len(in_app):,} in-app + {len(dropship):,} dropship orders; {clusters} qcluster × "
        f"Q_WORKERS={workers}; kill -9 every {kill_every:g} s (≥ {min_kills}); work lost after {lost_seconds:g} s, "
        f"sweeps due every {sweep_every:g} s; PostgreSQL {database} (recreated), "
        f"Redis {redis_url}; {os.cpu_count()} CPUs, load average {os.getloadavg()[0]:.2f}")

    with _pg() as conn:
        conn.execute(f'DROP DATABASE IF EXISTS "{database}" WITH (FORCE)')
        conn.execute(f'CREATE DATABASE "{database}"')
    t0 = time.perf_counter()
    subprocess.run([sys.executable, str(_support.ROOT / "manage.py"), "migrate", "--verbosity", "0"],
                   env={k: v for k, v in env.items() if k != "REDIS_URL"}, cwd=_support.ROOT, check=True)
    out(f"  database migrated in {time.perf_counter() - t0:.1f} s")
    stand_ins = {}
    processes = {}
    logs = []
    try:
        stand_ins["shop"] = StandIn("shop", secrets, in_app + dropship)
        for kind in ("provider", "supplier", "accounting"):
            stand_ins[kind] = StandIn(kind, secrets)
        out("  stand-ins: " + ", ".join(f"{k} {s.info['url']} (pid {s.process.pid})" for k, s in stand_ins.items()))
        saved = {k: os.environ.get(k) for k in env}
        os.environ.update(env)
        try:
            _run_with(result, out, env, stand_ins, processes, logs, in_app, dropship, clusters, kill_every,
                      min_kills, catch_up, sweep_every, seed)
        finally:
            for key, value in saved.items():
                if value is None:
                    os.environ.pop(key, None)
                else:
                    os.environ[key] = value
    finally:
        if "clusters" in processes:
            processes["clusters"].stop()
        if "gunicorn" in processes:
            processes["gunicorn"].stop()
        for stand_in in stand_ins.values():
            stand_in.stop()
        for log in logs:
            log.flush()
            log.seek(0)
            errors = [line.rstrip() for line in log if "Traceback" in line or " ERROR " in line]
            log.close()
            if errors and not result.ok:
                out(f"  {log.name}: {len(errors)} error lines, e.g. {errors[0][:240]}")
            else:
                os.unlink(log.name)
        try:
            import redis as redis_module

            redis_module.Redis.from_url(redis_url).flushdb()
        except Exception:  # noqa: BLE001 - clean-up only
            pass
        from django.db import connections

        connections.close_all()
        if not keep:
            with _pg() as conn:
                conn.execute(f'DROP DATABASE IF EXISTS "{database}" WITH (FORCE)')
    return result


def _setup(stand_ins):
    """The store with its provider, supplier, invoice rule and Moneybird export, in the bench's database."""
    from django.contrib.auth import get_user_model
    from django.utils import timezone
    from django_q.models import Schedule

    from accounting.choices import Connector
    from accounting.models import ExportRule, InvoiceRule, InvoiceSeries
    from fulfillment.choices import ProviderKind
    from fulfillment.models import Provider, Store, Supplier
    from fulfillment.services.supplier_poll import catalogue_sync
    from fulfillment.services.supplier_sync import supplier_client

    store = Store.objects.create(slug=SLUG, name="Faults shop", base_url=stand_ins["shop"].info["url"],
                                 consumer_key=CONSUMER_KEY, consumer_secret=CONSUMER_SECRET,
                                 webhook_secret=WEBHOOK_SECRET, timezone="Europe/Amsterdam")
    Provider.objects.create(store=store, name="Printful (stand-in)", kind=ProviderKind.PRINTFUL,
                            skus="\n".join(p[2] for p in _support.PRODUCTS), base_url=stand_ins["provider"].info["url"],
                            credentials_env=PRINTFUL_TOKEN_ENV, confirm_orders=True)
    supplier = Supplier.objects.create(store=store, name="Rewix (stand-in)", base_url=stand_ins["supplier"].info["url"],
                                       api_user=stand_ins["supplier"].info["api_key"],
                                       credentials_env=REWIX_PASSWORD_ENV)
    catalogue_sync(supplier=supplier, client=supplier_client(supplier))
    series = InvoiceSeries.objects.create(store=store, name="Invoices", prefix="{year}-")
    InvoiceRule.objects.create(store=store, invoice_series=series, seller_name="Faults B.V.",
                               seller_street="Keizersgracht 1", seller_postcode="1015 CJ", seller_city="Amsterdam",
                               seller_country="NL", seller_vat_id="NL854091798B01")
    # Orders are exported (as orders) when completed, which none of these becomes: only invoices go to Moneybird.
    ExportRule.objects.create(store=store, statuses=["completed"], connector=Connector.MONEYBIRD,
                              moneybird_url=stand_ins["accounting"].info["url"],
                              moneybird_administration=stand_ins["accounting"].info["administration"],
                              moneybird_token_env=MONEYBIRD_TOKEN_ENV)
    Schedule.objects.exclude(func__in=SWEEPS).update(next_run=timezone.now() + timedelta(days=1))
    staff = get_user_model().objects.create_user("faults-staff", "staff@example.com", is_staff=True)
    return store, supplier, staff


class Sender:
    """The shop's webhooks: 4 threads, each delivery sent until gunicorn answers 2xx (WooCommerce retries)."""

    def __init__(self, port, payloads, threads=4):
        self.port, self.failures, self.sent = port, 0, 0
        self.lock = threading.Lock()
        self.pool = ThreadPoolExecutor(threads)
        self.futures = [self.pool.submit(self._send, payload) for payload in payloads]

    def _send(self, payload):
        headers, body = delivery(payload)
        while True:
            try:
                conn = HTTPConnection("127.0.0.1", self.port, timeout=30)
                conn.request("POST", f"/webhooks/woocommerce/{SLUG}/", body=body, headers=headers)
                status = conn.getresponse().status
                conn.close()
                if 200 <= status < 300:
                    with self.lock:
                        self.sent += 1
                    return
            except OSError:
                pass
            with self.lock:
                self.failures += 1
            time.sleep(1.0)

    def done(self):
        return all(f.done() for f in self.futures)


def _nudge_sweeps():
    from django.utils import timezone
    from django_q.models import Schedule

    Schedule.objects.filter(func__in=SWEEPS).update(next_run=timezone.now())


def _state(store, supplier, expected):
    """What is not finished yet, by kind (0 everywhere: every job finished)."""
    from django.db.models import Q

    from accounting.choices import ExportState
    from accounting.models import Invoice
    from fulfillment.choices import DeliveryState, PushState, ReservationSync, SubmissionState
    from fulfillment.models import Order, Reservation, StorePush, Submission, WebhookDelivery

    paid = Order.objects.filter(store=store, status="processing")
    return {
        "orders not mirrored": expected["orders"] - Order.objects.filter(store=store).count(),
        "deliveries not applied": WebhookDelivery.objects.filter(state=DeliveryState.RECEIVED).count(),
        "submissions not submitted": expected["in_app"] - Submission.objects.filter(
            state=SubmissionState.SUBMITTED).count(),
        "reservations not in sync": Reservation.objects.filter(supplier=supplier).exclude(
            sync=ReservationSync.IN_SYNC).count() + expected["dropship_lines"] - Reservation.objects.filter(
            supplier=supplier).count(),
        "paid orders without invoice": paid.filter(invoices__isnull=True).count(),
        "invoices not exported": Invoice.objects.exclude(export_state=ExportState.EXPORTED).count(),
        "pushes not sent": StorePush.objects.filter(~Q(state=PushState.SENT)).count(),
    }


def _run_with(result, out, env, stand_ins, processes, logs, in_app, dropship, cluster_count, kill_every, min_kills,
              catch_up, sweep_every, seed):
    import django

    django.setup()
    import logging

    import redis as redis_module

    logging.getLogger("django-q").setLevel(logging.WARNING)
    from django.db import close_old_connections

    from fulfillment.models import Order
    from fulfillment.services.submissions import orders_bulk_submit

    store, supplier, staff = _setup(stand_ins)
    redis = redis_module.Redis.from_url(env["REDIS_URL"])
    redis.flushdb()
    rng = random.Random(seed)
    web_log = tempfile.NamedTemporaryFile("w+", prefix="workers_die_gunicorn_", suffix=".log", delete=False)
    logs.append(web_log)
    gunicorn = processes["gunicorn"] = Gunicorn(env, _free_port(), web_log)
    gunicorn.start()
    clusters = processes["clusters"] = Clusters(env, cluster_count, "workers_die_qcluster")
    logs.extend(clusters.logs)
    for _ in range(600):
        if len(redis.keys(STAT_PATTERN)) >= cluster_count:
            break
        time.sleep(0.1)
    else:
        raise RuntimeError("the qclusters did not come up within 60 s")
    expected = {"orders": len(in_app) + len(dropship), "in_app": len(in_app),
                "dropship_lines": sum(len(p["line_items"]) for p in dropship)}
    out(f"  gunicorn :{gunicorn.port} (pid {gunicorn.process.pid}), qclusters "
        f"{', '.join(str(p.pid) for p in clusters.processes)}; {expected['dropship_lines']:,} dropship lines")

    payloads = in_app + dropship
    rng.shuffle(payloads)
    busy0, cpu0, pg0 = machine_busy(), clusters.cpu(), _support.postgres_server_cpu()
    cpu_stand_ins0 = {k: s.ask("cpu") for k, s in stand_ins.items()}
    cpu_ours0 = time.process_time()
    started = time.perf_counter()
    sender = Sender(gunicorn.port, payloads)
    kills = Counter()
    web_killed_at = None
    submitted_ids, next_kill, last_sweep, last_print = set(), started + kill_every, 0.0, 0.0
    in_app_ids = [p["id"] for p in in_app]
    last_kill = started
    while True:
        now = time.perf_counter()
        loading = not sender.done() or len(submitted_ids) < len(in_app_ids)
        if now >= next_kill and (loading or sum(kills.values()) < min_kills):
            if web_killed_at is None and sum(kills.values()) >= min_kills // 2:
                gunicorn.kill()
                time.sleep(0.5)
                gunicorn.start()
                kills["web server"] += 1
                web_killed_at = now - started
            elif rng.random() < 0.25:
                clusters.kill_cluster(rng)
                kills["whole cluster"] += 1
            elif clusters.kill_child(rng):
                kills["cluster child"] += 1
            last_kill, next_kill = time.perf_counter(), time.perf_counter() + kill_every
        # Staff bulk-submit the in-app orders that have arrived, every 2 s, as an admin action would.
        if len(submitted_ids) < len(in_app_ids):
            arrived = Order.objects.filter(store=store, woo_id__in=in_app_ids).exclude(woo_id__in=submitted_ids)
            batch = list(arrived.select_related("store").order_by("pk"))
            if batch:
                orders_bulk_submit(orders=batch, user=staff)
                submitted_ids.update(o.woo_id for o in batch)
        if now - last_sweep >= sweep_every:
            _nudge_sweeps()
            last_sweep = now
        state = _state(store, supplier, expected)
        if now - last_print >= 10:
            last_print = now
            waiting = ", ".join(f"{n:,} {k}" for k, n in state.items() if n) or "nothing"
            out(f"    {now - started:6.1f} s: kills {sum(kills.values())}; deliveries sent {sender.sent:,} "
                f"(failed tries {sender.failures:,}); waiting: {waiting}; Redis queue "
                f"{redis.llen('django_q:backoffice:q')}")
        if not loading and sum(kills.values()) >= min_kills and not any(state.values()):
            done_at = time.perf_counter()
            break
        if not loading and time.perf_counter() - last_kill > catch_up:
            done_at = None
            break
        close_old_connections()
        time.sleep(min(2.0, max(0.2, next_kill - time.perf_counter())))
    elapsed = time.perf_counter() - started
    busy1 = machine_busy()
    cpu_clusters = clusters.cpu() - cpu0
    cpu_pg = _support.postgres_server_cpu() - pg0
    cpu_stand_ins = sum(s.ask("cpu") - cpu_stand_ins0[k] for k, s in stand_ins.items())
    cpu_ours = time.process_time() - cpu_ours0
    stats = {k: s.ask("stats") for k, s in stand_ins.items()}
    sender.pool.shutdown(cancel_futures=True)
    _check(result, out, store, supplier, stats, expected, in_app, dropship, state)
    machine = (busy1[0] - busy0[0]) / max(busy1[1] - busy0[1], 1)
    figures = result.figures
    figures.update(kills=dict(kills), kills_total=sum(kills.values()), elapsed_s=round(elapsed, 1),
                   catch_up_s=None if done_at is None else round(done_at - last_kill, 1),
                   web_killed_at_s=None if web_killed_at is None else round(web_killed_at, 1),
                   delivery_retries=sender.failures, cpu_workers_s=round(cpu_clusters, 1),
                   cpu_postgres_s=round(cpu_pg, 1), cpu_stand_ins_s=round(cpu_stand_ins, 1),
                   cpu_bench_s=round(cpu_ours, 1), machine_busy=round(machine, 2), load=os.getloadavg())
    if done_at is None:
        result.problems.append(f"not every job finished {catch_up:.0f} s after the last kill: "
                               + ", ".join(f"{n:,} {k}" for k, n in state.items() if n))
    out(f"\n== workers die: {expected['orders']:,} orders, {sum(kills.values())} kills "
        f"({', '.join(f'{n} × {k}' for k, n in kills.items())}) ==")
    out(f"  jobs              : {figures['jobs']}")
    out(f"  doubles           : provider {figures['provider_doubles']} (POSTs refused as a known external id "
        f"{figures['provider_refused']}), supplier orders {figures['supplier_doubles']}, over-reserved models "
        f"{figures['over_reserved']}, Moneybird bookings {figures['moneybird_doubles']}")
    out(f"  invoice numbers   : 1..{figures['invoice_max']}: {figures['gaps']} gaps, {figures['duplicates']} "
        f"duplicates; paid orders with ≠ 1 invoice {figures['invoices_not_one']}; numbers in the shop missing "
        f"{figures['shop_numbers_missing']}")
    out(f"  taken up by sweeps: " + ", ".join(f"{n:,} {k}" for k, n in figures["recovered"].items())
        + " (submissions and exports also include work merely still queued when the sweep ran)")
    out(f"  web server        : killed once at {figures['web_killed_at_s']} s and started again; deliveries sent "
        f"again after a failure {sender.failures:,}")
    out(f"  catch-up          : " + (f"{figures['catch_up_s']:.1f} s after the last kill every job was finished"
                                     if done_at else "NOT DONE") + f" (whole run {elapsed:.1f} s)")
    out(f"  CPU               : workers {cpu_clusters:.1f} s, PostgreSQL server {cpu_pg:.1f} s, stand-ins "
        f"{cpu_stand_ins:.1f} s, bench {cpu_ours:.1f} s; machine {100 * machine:.0f} % busy; load average "
        f"{' '.join(f'{x:.2f}' for x in os.getloadavg())}")
    out(f"  verdict           : {'OK' if result.ok else 'FAILED: ' + '; '.join(result.problems)}")


RECOVERY_RESULTS = {  # sweep → (pattern of its result, what it took up again)
    "fulfillment.tasks.production_tick": (r"(\d+) submissions run", "submissions run again"),
    "fulfillment.tasks.requeue_lost_deliveries": (r"(\d+) deliveries queued again", "deliveries applied again"),
    "accounting.tasks.issue_lost_invoices": (r"(\d+) orders queued", "orders queued for issuing"),
    "accounting.tasks.export_due_invoices": (r"queued (\d+)", "invoice exports queued"),
}


def _recovered():
    """What each sweep took up, from the task results the monitors saved (a killed monitor loses a few)."""
    import re

    from django_q.models import Task

    taken = {}
    for func, (pattern, label) in RECOVERY_RESULTS.items():
        taken[label] = sum(int(m.group(1)) for m in (re.search(pattern, str(r)) for r in
                                                     Task.objects.filter(func=func).values_list("result", flat=True))
                           if m)
    return taken


def _check(result, out, store, supplier, stats, expected, in_app, dropship, state):
    from django.db.models import Count

    from accounting.models import Invoice
    from django_q.models import Failure
    from fulfillment.choices import SubmissionState
    from fulfillment.models import Order, Reservation, Submission

    problems, figures = result.problems, result.figures
    external = stats["provider"]["external_ids"]
    figures["provider_doubles"] = sum(n - 1 for n in external.values() if n > 1)
    figures["provider_refused"] = stats["provider"]["posts"] - sum(external.values())
    live = Submission.objects.exclude(state__in=(SubmissionState.CANCELLED, SubmissionState.REPRINTED))
    figures["orders_with_two_submissions"] = live.values("order_id").annotate(n=Count("pk")).filter(n__gt=1).count()
    submitted = dict(Submission.objects.filter(state=SubmissionState.SUBMITTED).values_list("external_id", "pk"))
    figures["provider_unknown"] = len(set(external) - set(submitted))
    figures["provider_missing"] = len(set(submitted) - set(external))

    placed = stats["supplier"]["placed"]
    keys = Counter(Reservation.objects.filter(supplier=supplier).exclude(remote_order_id="")
                   .values_list("order_id", flat=True).distinct())
    paid_dropship = [p for p in dropship if p["status"] == "processing"]
    figures["supplier_orders"] = len(placed)
    figures["supplier_doubles"] = max(0, len(placed) - len(paid_dropship))
    need = Counter()
    pending = {p["id"] for p in dropship if p["status"] == "pending"}
    for payload in dropship:
        if payload["id"] in pending:
            for line in payload["line_items"]:
                need[str(line["variation_id"])] += line["quantity"]
    locks = stats["supplier"]["locks"]
    figures["over_reserved"] = sum(1 for s, n in locks.items() if n > need.get(s, 0))
    figures["under_reserved"] = sum(1 for s, n in need.items() if locks.get(s, 0) < n)
    placed_items = Counter()
    for items in placed.values():
        for stock_id, quantity in items:
            placed_items[stock_id] += quantity
    paid_need = Counter()
    for payload in paid_dropship:
        for line in payload["line_items"]:
            paid_need[str(line["variation_id"])] += line["quantity"]
    figures["placed_items_differ"] = sum(1 for s in set(placed_items) | set(paid_need)
                                         if placed_items.get(s, 0) != paid_need.get(s, 0))

    sequences = sorted(Invoice.objects.filter(store=store).values_list("sequence", flat=True))
    figures["invoice_max"] = sequences[-1] if sequences else 0
    figures["gaps"] = len(set(range(1, figures["invoice_max"] + 1)) - set(sequences))
    figures["duplicates"] = len(sequences) - len(set(sequences))
    paid = Order.objects.filter(store=store, status="processing").annotate(n=Count("invoices"))
    figures["invoices_not_one"] = paid.exclude(n=1).count()
    references = stats["accounting"]["references"]
    figures["moneybird_doubles"] = sum(n - 1 for n in references.values() if n > 1)
    numbers = dict(Invoice.objects.filter(store=store).values_list("order__woo_id", "number"))
    shop_numbers = {int(k): v for k, v in stats["shop"]["invoice_numbers"].items()}
    figures["shop_numbers_missing"] = sum(1 for woo_id, number in numbers.items() if shop_numbers.get(woo_id) != number)
    figures["task_failures"] = Failure.objects.count()
    figures["recovered"] = _recovered()
    figures["jobs"] = (f"{len(in_app):,} submissions ({len(submitted):,} submitted), {len(paid_dropship):,} supplier "
                       f"orders placed ({len(placed):,} at the supplier) + {len(pending):,} pending orders locked, "
                       f"{len(sequences):,} invoices ({len(references):,} in Moneybird), "
                       f"{expected['orders']:,} deliveries; failed tasks {figures['task_failures']}")
    for name, limit in (("provider_doubles", 0), ("orders_with_two_submissions", 0), ("provider_unknown", 0),
                        ("provider_missing", 0), ("supplier_doubles", 0), ("over_reserved", 0),
                        ("under_reserved", 0), ("placed_items_differ", 0), ("gaps", 0), ("duplicates", 0),
                        ("invoices_not_one", 0), ("moneybird_doubles", 0), ("shop_numbers_missing", 0)):
        if figures[name] > limit:
            problems.append(f"{name.replace('_', ' ')}: {figures[name]}")
    if len(keys) != len(placed):
        problems.append(f"orders placed here {len(keys)} ≠ supplier orders {len(placed)}")
