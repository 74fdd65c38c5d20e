#!/usr/bin/env python
"""Benchmark: supplier reservations (issue 12) on PostgreSQL + Redis against a local Rewix supplier.

Over 400 lines: three measurements of one feature (the follower and workers end to end, one reconcile, the staff
pages) that share the supplier process, the database set-up and the checks; split, each would repeat them.

    .venv/bin/python bench/bench_reservations.py [--orders 5000] [--lines 20000] [--small-lines 2000]
        [--page-rows 100000] [--runs 20] [--clusters 2] [--workers 2] [--deadline 600] [--parts 123] [--keep]

The supplier is tests/fakes/rewix.py (FakeRewix) in a separate process, threaded, its catalogue grown there to
--products products × 5 models with ample stock; its password goes to the workers in $BENCH_REWIX_PASSWORD. The
database `bench_reservations` is dropped, recreated and migrated; Redis db 11 is flushed and is django-q2's broker
and the cache. Then:

1. Reserve end to end: --orders pending orders with 1–3 lines of the supplier's models are mirrored with
   orders_upsert in pages of 100 (each page's follower queues fulfillment.tasks.sync_supplier after its commit)
   while --clusters × `manage.py qcluster` (Q_WORKERS=--workers) run; timed until every reservation is in sync
   and the supplier's growing order locks, per stock id, exactly the lines' quantities.
2. Reconcile: --small-lines and --lines reserved lines (orders × 4 lines, bulk_create, sync=waiting), the
   supplier's locks put off (missing, extra, different); one supplier_sync in this process, timed, with the
   requests it made, RSS peak, and (in a second run) the peak of Python's allocations (tracemalloc).
3. Pages: the reservations list (page 1, sync=failed, an order number, a stock id) and the growing-order page,
   median and p95 of --runs requests through django.test.Client as a superuser, and their queries, at 1,000 and at
   --page-rows reservations.

Exit status 1 when a completeness check fails. Only `bench_reservations` and Redis db 11 are touched; the
database is dropped at the end unless --keep. See bench/README.md.
"""

import argparse
import base64
import multiprocessing
import os
import random
import re
import statistics
import subprocess
import sys
import tempfile
import threading
import time
from collections import Counter
from datetime import UTC, datetime, timedelta
from decimal import Decimal
from pathlib import Path

sys.path.insert(0, str(Path(__file__).resolve().parent))

import _support  # noqa: E402  (puts the project root on sys.path)
from bench_submit import machine_busy, start_cluster, stop_cluster, tree_cpu  # noqa: E402

BENCH_DB = "bench_reservations"  # the only database this script creates, drops or writes
DATABASE_URL = f"postgres://{_support.PG_USER}@{_support.PG_HOST}:{_support.PG_PORT}/{BENCH_DB}"
REDIS_DB = 11
REDIS_URL = f"redis://127.0.0.1:6379/{REDIS_DB}"
QUEUE_KEY = "django_q:backoffice:q"
STAT_PATTERN = "django_q:backoffice:cluster:*"
PASSWORD_ENV = "BENCH_REWIX_PASSWORD"
SYNC_TASK = "fulfillment.tasks.sync_supplier"
SIZES = ["XS", "S", "M", "L", "XL"]  # the models of each product
PRODUCT_BASE, STOCK_BASE = 700_000, 8_000_000
ORDERS_GOAL, RECONCILE_GOAL_S, PAGE_GOAL_MS = 50, 10, 300
STUCK_AFTER = 60  # part 1 gives up when nothing changed this long after the last page, with no sync running
CITIES = [("AT", "Wien", "1010"), ("DE", "Berlin", "10115"), ("NL", "Amsterdam", "1011 AB"), ("IT", "Roma", "00184"),
          ("FR", "Paris", "75002"), ("ES", "Madrid", "28013")]


def bench_models(products):
    """[(stock id, supplier's SKU, size, product index)] of the bench catalogue, in order."""
    return [(str(STOCK_BASE + index * 10 + n), f"BR-{index:04d}-{size}", size, index)
            for index in range(products) for n, size in enumerate(SIZES)]


# -- the supplier, in its own process -----------------------------------------------------------------------------

def request_kind(logged):
    from tests.fakes.rewix import BY_ID, BY_KEY, CATALOGUE, DROPSHIPPING, LOCKED, SOLD

    path = logged.path.rstrip("/")
    for prefix, name in ((LOCKED, "GET growing order"), (SOLD, "POST sold"), (CATALOGUE, "GET catalogue"),
                         (DROPSHIPPING, "POST dropshipping order"), (BY_KEY, "GET order by key"),
                         (BY_ID, "GET order by id")):
        if path.startswith(prefix.rstrip("/")):
            return name
    return f"{logged.method} {path}"


def serve(password, products, stock, conn):
    """Child process: the fake Rewix with the bench catalogue added; answers commands from the pipe."""
    import logging

    from tests.fakes.rewix import FakeRewix

    logging.getLogger("werkzeug").setLevel(logging.ERROR)  # no access log line per request
    fake = FakeRewix(password=password)
    started = datetime.now(UTC) - timedelta(days=1)
    for index in range(products):
        fake.add_product({
            "id": PRODUCT_BASE + index, "name": f"Bench jacket {index:04d}", "code": f"BR-{index:04d}",
            "taxable": 40.5, "suggestedPrice": 89.0, "streetPrice": 119.0, "online": True, "images": [], "tags": [],
            "models": [{"id": STOCK_BASE + index * 10 + n, "model": size, "size": size, "color": "Black",
                        "code": f"BR-{index:04d}-{size}", "barcode": f"80{STOCK_BASE + index * 10 + n:011d}",
                        "availability": stock, "backorder": False} for n, size in enumerate(SIZES)]}, at=started)
    fake.start()
    conn.send({"url": fake.url, "api_key": fake.api_key, "models": len(fake.models)})
    while True:
        command, *args = conn.recv()
        if command == "stats":
            with fake.lock:
                calls = Counter(request_kind(logged) for logged in fake.requests)
            conn.send({"calls": dict(calls), "cpu": time.process_time()})
        elif command == "locks":
            with fake.lock:
                conn.send({stock_id: n for stock_id, n in fake.locks.items() if n})
        elif command == "set_locks":  # the growing order made to hold exactly these (from the stock)
            with fake.lock:
                for stock_id in list(fake.locks):
                    fake.reserve(stock_id, 0)
                for stock_id, quantity in args[0].items():
                    fake.reserve(stock_id, quantity)
                conn.send({stock_id: n for stock_id, n in fake.locks.items() if n})
        elif command == "clear_log":
            with fake.lock:
                fake.requests.clear()
            conn.send(True)
        elif command == "cpu":
            conn.send(time.process_time())
        else:
            break
    fake.stop()


class Fake:
    """The bench's end of the pipe to the supplier's process (one question at a time, from any thread)."""

    def __init__(self, conn, process):
        self.conn, self.process, self.lock = conn, process, threading.Lock()

    def ask(self, *command):
        with self.lock:
            self.conn.send(command)
            return self.conn.recv()


# -- the database ---------------------------------------------------------------------------------------------------

def _pg(dbname="postgres"):
    import psycopg

    return psycopg.connect(host=_support.PG_HOST, port=_support.PG_PORT, user=_support.PG_USER, dbname=dbname,
                           autocommit=True)


def reset_database():
    """Drop and recreate `bench_reservations` (never any other database), then migrate it."""
    with _pg() as conn:
        conn.execute(f"DROP DATABASE IF EXISTS {BENCH_DB} WITH (FORCE)")
        conn.execute(f"CREATE DATABASE {BENCH_DB}")
    env = {**os.environ, "DATABASE_URL": DATABASE_URL, "DJANGO_SETTINGS_MODULE": "backoffice.settings"}
    env.pop("REDIS_URL", None)
    subprocess.run([sys.executable, str(_support.ROOT / "manage.py"), "migrate", "--verbosity", "0"], env=env,
                   cwd=_support.ROOT, check=True)


def drop_database():
    with _pg() as conn:
        conn.execute(f"DROP DATABASE IF EXISTS {BENCH_DB} WITH (FORCE)")


def make_supplier(slug, info):
    from fulfillment.models import Store, Supplier

    store = Store.objects.create(slug=slug, name=f"Bench {slug}", base_url="http://127.0.0.1:9",  # nothing listens
                                 consumer_key="ck_bench", consumer_secret="cs_bench",
                                 webhook_secret="bench_webhook_secret_0123456789")
    return Supplier.objects.create(store=store, name=f"Rewix ({slug})", base_url=info["url"],
                                   api_user=info["api_key"], credentials_env=PASSWORD_ENV)


def address(rng, woo_id):
    country, city, postcode = rng.choice(CITIES)
    return {"first_name": "Ben", "last_name": f"Kunde{woo_id % 997}", "company": "", "address_1":
            f"{rng.randrange(1, 200)} Main street", "address_2": "", "city": city, "state": "", "postcode": postcode,
            "country": country, "phone": "+431234567"}


def bulk_reserved(supplier, first_woo_id, count, per_order, models, rng, decide):
    """`count` orders × `per_order` lines on distinct models, with their Reservation rows, by bulk_create in chunks.

    `decide(rng, order shipping)` → (order status, reservation fields common to the order's lines, or per line
    through a callable). Returns {stock_id: quantity} that the not-placed lines with a quantity need.
    """
    from fulfillment.models import Order, OrderLine, Reservation

    need = Counter()
    base = datetime(2026, 11, 1, tzinfo=UTC)
    for start in range(0, count, 5000):
        orders, plans = [], []
        for woo_id in range(first_woo_id + start, first_woo_id + min(count, start + 5000)):
            shipping = address(rng, woo_id)
            status, fields = decide(rng, shipping)
            created = base + timedelta(seconds=woo_id)
            orders.append(Order(store_id=supplier.store_id, woo_id=woo_id, number=str(woo_id), status=status,
                                created_at=created, modified_at=created, currency="EUR",
                                customer_name=f"Ben {shipping['last_name']}", customer_email=f"c{woo_id}@example.com",
                                city=shipping["city"], country=shipping["country"], billing=shipping,
                                shipping=shipping, total=Decimal("89.00"), item_count=per_order))
            plans.append(fields)
        Order.objects.bulk_create(orders, batch_size=2000)
        lines, reservations = [], []
        for order, fields in zip(orders, plans):
            for k, (stock_id, code, size, index) in enumerate(rng.sample(models, per_order), 1):
                quantity = rng.choices([1, 2, 3], weights=[75, 18, 7])[0]
                line = OrderLine(order_id=order.pk, woo_line_id=order.woo_id * 10 + k, name=f"Bench jacket {index:04d}",
                                 product_id=PRODUCT_BASE + index, variation_id=int(stock_id), sku=code, variation=size,
                                 quantity=quantity, price=Decimal("89.00"), subtotal=Decimal(89 * quantity),
                                 total=Decimal(89 * quantity))
                lines.append(line)
                row = fields(rng) if callable(fields) else dict(fields)
                row.setdefault("quantity", quantity)
                reservations.append(Reservation(order_id=order.pk, supplier_id=supplier.pk, stock_id=stock_id,
                                                woo_line_id=line.woo_line_id, woo_product_id=int(stock_id), sku=code,
                                                name=line.name, size=size, **row))
                if not row.get("remote_order_id") and row["quantity"]:
                    need[stock_id] += row["quantity"]
        OrderLine.objects.bulk_create(lines, batch_size=2000)
        for line, reservation in zip(lines, reservations):
            reservation.line_id = line.pk
        Reservation.objects.bulk_create(reservations, batch_size=2000)
    return dict(need)


def analyze():
    from django.db import connection

    with connection.cursor() as cursor:
        cursor.execute("ANALYZE")


# -- part 1: reserve end to end -----------------------------------------------------------------------------------

def part1_payloads(count, models, rng):
    """Pending orders with 1–3 lines of the supplier's models; and {stock_id: quantity} they need."""
    from tests.woo_payloads import line_item, order_payload

    payloads, need = [], Counter()
    for woo_id in range(1, count + 1):
        items = []
        for k, (stock_id, code, size, index) in enumerate(
                rng.sample(models, rng.choices([1, 2, 3], weights=[40, 35, 25])[0]), 1):
            quantity = rng.choices([1, 2, 3], weights=[75, 18, 7])[0]
            items.append(line_item(woo_id * 10 + k, name=f"Bench jacket {index:04d} {size}",
                                   product_id=PRODUCT_BASE + index, variation_id=int(stock_id), quantity=quantity,
                                   total=f"{89 * quantity:.2f}", total_tax="0.00", sku=code))
            need[stock_id] += quantity
        country, city, _postcode = rng.choice(CITIES)
        payloads.append(order_payload(woo_id, status="pending", line_items=items, country=country, city=city,
                                      date_paid=None, date_paid_gmt=None, needs_payment=True))
    return payloads, dict(need)


class ReserveWatcher(threading.Thread):
    """Polls the reservations' sync states (own connection) and, once all are in sync, the supplier's locks."""

    def __init__(self, fake, supplier_id, lines, need, redis, started, interval=0.25):
        super().__init__(daemon=True)
        self.fake, self.supplier_id, self.lines, self.need = fake, supplier_id, lines, need
        self.redis, self.started, self.interval = redis, started, interval
        self.stop_event = threading.Event()
        self.mirrored_at = None  # set by the main thread after the last page
        self.done_at = self.first_in_sync_at = self.stuck = None
        self.locks_checks = 0
        self.max_queue = 0

    def run(self):
        from django.db import connection
        from django.db.models import Count

        from fulfillment.models import Reservation, Supplier

        last_print, last_seen, last_change = 0.0, None, 0.0
        try:
            while not self.stop_event.is_set():
                states = dict(Reservation.objects.filter(supplier_id=self.supplier_id).values_list("sync")
                              .annotate(n=Count("pk")).order_by())
                now = time.perf_counter() - self.started
                queued = self.redis.llen(QUEUE_KEY)
                self.max_queue = max(self.max_queue, queued)
                total, in_sync = sum(states.values()), states.get("in_sync", 0)
                if in_sync and self.first_in_sync_at is None:
                    self.first_in_sync_at = now
                if (total, in_sync) != last_seen:
                    last_seen, last_change = (total, in_sync), now
                if total == self.lines and in_sync == total:
                    self.locks_checks += 1
                    if self.fake.ask("locks") == self.need:
                        self.done_at = now
                        return
                if self.mirrored_at is not None and now - max(last_change, self.mirrored_at) >= STUCK_AFTER \
                        and queued == 0:
                    claimed = Supplier.objects.filter(pk=self.supplier_id, sync_claimed_until__isnull=False).exists()
                    if not claimed:
                        self.stuck = (now, states)
                        print(f"    {now:6.1f} s: STUCK: nothing changed for {STUCK_AFTER} s, no sync queued or "
                              f"running; reservations {states}", flush=True)
                        return
                if now - last_print >= 10:
                    last_print = now
                    print(f"    {now:6.1f} s: {total:,} reservations, {in_sync:,} in sync "
                          f"({', '.join(f'{n:,} {s}' for s, n in sorted(states.items()))}); Redis queue {queued}",
                          flush=True)
                self.stop_event.wait(self.interval)
        finally:
            connection.close()


def part1(args, fake, info, env):
    import redis as redis_module
    from django.db.models import Count
    from django_q.models import Failure, Schedule, Task

    from fulfillment.choices import EventSource
    from fulfillment.models import Reservation
    from fulfillment.selectors.reservations import needed_by_stock
    from fulfillment.services.mirror import orders_upsert
    from fulfillment.services.supplier_poll import catalogue_sync
    from fulfillment.services.supplier_sync import supplier_client

    print(f"\n== 1. reserve end to end: {args.orders:,} pending orders, {args.clusters} qcluster × "
          f"Q_WORKERS={args.workers} ==", flush=True)
    supplier = make_supplier("reserve", info)
    read, _gone = catalogue_sync(supplier=supplier, client=supplier_client(supplier))
    print(f"  catalogue_sync: {read:,} models read from the supplier", flush=True)
    # In a fresh database every schedule is due at once; the every-5-minutes refresh_suppliers would sync too:
    # only the follower's tasks are measured.
    Schedule.objects.update(next_run=datetime.now(UTC) + timedelta(days=1))
    models = bench_models(args.products)
    payloads, need = part1_payloads(args.orders, models, random.Random(args.seed))
    lines = sum(len(p["line_items"]) for p in payloads)
    print(f"  {args.orders:,} orders built: {lines:,} dropship lines over {len(need):,} models, "
          f"{sum(need.values()):,} items", flush=True)

    redis = redis_module.Redis.from_url(REDIS_URL)
    redis.flushdb()
    clusters, logs = [], []
    try:
        for index in range(args.clusters):
            log = tempfile.NamedTemporaryFile("w+", prefix=f"bench_reservations_qcluster{index}_", suffix=".log",
                                              delete=False)
            logs.append(log)
            clusters.append(start_cluster(env, log))
        for _ in range(600):
            dead = [c for c in clusters if c.poll() is not None]
            if dead:
                log = logs[clusters.index(dead[0])].name
                raise SystemExit(f"a qcluster exited with {dead[0].returncode}; see {log}")
            if len(redis.keys(STAT_PATTERN)) >= args.clusters:
                break
            time.sleep(0.1)
        else:
            raise SystemExit("the qclusters did not come up within 60 s")
        print(f"  {args.clusters} qclusters running (pids {', '.join(str(c.pid) for c in clusters)})", flush=True)

        fake.ask("clear_log")
        cpu_clusters0 = sum(tree_cpu(c.pid) for c in clusters)
        cpu_fake0, cpu_pg0, busy0 = fake.ask("cpu"), _support.postgres_server_cpu(), machine_busy()
        cpu_ours0 = time.process_time()
        started = time.perf_counter()
        watcher = ReserveWatcher(fake, supplier.pk, lines, need, redis, started)
        watcher.start()
        for start in range(0, len(payloads), 100):
            orders_upsert(store=supplier.store, payloads=payloads[start:start + 100], source=EventSource.IMPORT)
        mirrored = watcher.mirrored_at = time.perf_counter() - started
        cpu_ours = time.process_time() - cpu_ours0
        print(f"  mirrored {args.orders:,} orders in {mirrored:.1f} s ({args.orders / mirrored:,.0f} orders/s, "
              f"{(len(payloads) + 99) // 100} pages, each queueing {SYNC_TASK})", flush=True)
        deadline = started + args.deadline
        while watcher.is_alive() and time.perf_counter() < deadline:
            watcher.join(timeout=1)
        watcher.stop_event.set()
        watcher.join()
        elapsed = time.perf_counter() - started
        cpu_clusters = sum(tree_cpu(c.pid) for c in clusters) - cpu_clusters0
        cpu_fake, cpu_pg = fake.ask("cpu") - cpu_fake0, _support.postgres_server_cpu() - cpu_pg0
        busy1 = machine_busy()
        stops = [stop_cluster(c, grace=120) for c in clusters]  # the monitors save the results they hold
    finally:
        for cluster in clusters:
            stop_cluster(cluster)
        for log in logs:
            log.flush()
            log.seek(0)
            errors = [line.rstrip() for line in log if "ERROR" in line or "Traceback" in line]
            log.close()
            if errors:
                print(f"  {log.name}: {len(errors)} error lines, e.g. {errors[0][:300]}")
            else:
                os.unlink(log.name)
        redis.flushdb()

    locks = fake.ask("locks")
    calls = fake.ask("stats")["calls"]
    rows = Reservation.objects.filter(supplier=supplier)
    by_sync = dict(rows.values_list("sync").annotate(n=Count("pk")).order_by())
    db_need = needed_by_stock(supplier)
    stock_ids = set(need) | set(locks)
    over = sorted(s for s in stock_ids if locks.get(s, 0) > need.get(s, 0))
    under = sorted(s for s in stock_ids if locks.get(s, 0) < need.get(s, 0))
    tasks = list(Task.objects.filter(func=SYNC_TASK).values_list("success", "result"))
    busy_tasks = sum(1 for _ok, result in tasks if "another sync is running" in str(result))
    changed = sum(int(m.group(1)) for m in (re.search(r"(\d+) models changed", str(r)) for _ok, r in tasks) if m)
    failures = Failure.objects.count()
    total = watcher.done_at

    print(f"\n  -- reserve end to end: {args.orders:,} orders, {lines:,} reservation lines --")
    if total is None:
        print(f"  NOT DONE after {elapsed:.0f} s" + (f" (stuck at {watcher.stuck[0]:.0f} s)" if watcher.stuck else
                                                   f" (--deadline {args.deadline:.0f})"))
    else:
        goal = "met" if args.orders / total >= ORDERS_GOAL else "MISSED"
        print(f"  all in sync       : {total:7.1f} s after the first page (mirroring took {mirrored:.1f} s; first "
              f"reservation in sync at {watcher.first_in_sync_at:.1f} s; {total - mirrored:.1f} s after the last page)")
        print(f"  orders/s          : {args.orders / total:7.1f} end to end (goal ≥ {ORDERS_GOAL}/s: {goal})")
    print(f"  reservations      : {sum(by_sync.values()):,} rows (expected {lines:,}): "
          + ", ".join(f"{n:,} {s}" for s, n in sorted(by_sync.items())))
    print(f"  supplier requests : " + ", ".join(f"{n:,} × {k}" for k, n in sorted(calls.items())))
    print(f"  sync tasks        : {len(tasks):,} {SYNC_TASK} ran ({busy_tasks:,} found another sync running), "
          f"{changed:,} models set in all; failed tasks {failures}; Redis queue at most {watcher.max_queue}")
    exact = locks == need and db_need == need
    print(f"  remote = lines    : {'exactly' if exact else 'NO'}: {len(locks):,} models locked at the supplier, "
          f"{sum(locks.values()):,} items; the lines need {sum(need.values()):,} over {len(need):,} models (the "
          f"database's sum {sum(db_need.values()):,}); over-reserved stock ids {len(over)}, under-reserved "
          f"{len(under)}" + (f" e.g. {[(s, locks.get(s, 0), need.get(s, 0)) for s in (over + under)[:5]]}"
                             if over or under else ""))
    machine = (busy1[0] - busy0[0]) / max(busy1[1] - busy0[1], 1)
    print(f"  CPU               : qclusters {cpu_clusters:.1f} s, PostgreSQL server {cpu_pg:.1f} s, supplier "
          f"{cpu_fake:.1f} s, bench process {cpu_ours:.1f} s (mirroring); machine {100 * machine:.0f} % busy; "
          f"{'; '.join(stops)}; load average now {os.getloadavg()[0]:.2f}", flush=True)
    ok = (total is not None and exact and not over and not under and sum(by_sync.values()) == lines
          and by_sync.get("in_sync", 0) == lines and failures == 0 and calls.get("POST dropshipping order", 0) == 0)
    print(f"  check             : {'complete' if ok else 'FAILED'}")
    return ok


# -- part 2: one reconcile ------------------------------------------------------------------------------------------

def off_by(need, spare, rng):
    """The supplier's locks made to differ from the need: some missing, some extra, some different."""
    locks, missing, different = {}, 0, 0
    for stock_id in sorted(need):
        roll = rng.random()
        if roll < 0.10:
            missing += 1
        elif roll < 0.20:
            different += 1
            delta = rng.randint(1, 3)
            locks[stock_id] = need[stock_id] - delta if need[stock_id] > delta else need[stock_id] + delta
        else:
            locks[stock_id] = need[stock_id]
    extra = rng.sample(spare, 50)
    for stock_id in extra:
        locks[stock_id] = rng.randint(1, 4)
    return locks, {"missing": missing, "different": different, "extra": len(extra)}


def memory_status():
    fields = dict(line.split(":", 1) for line in Path("/proc/self/status").read_text().splitlines() if ":" in line)
    return {key: int(fields[key].split()[0]) / 1024 for key in ("VmRSS", "VmHWM")}  # MB


def reconcile_once(supplier, fake, locks, *, trace=False, profile=None):
    import tracemalloc

    from fulfillment.choices import ReservationSync
    from fulfillment.models import Reservation
    from fulfillment.services.supplier_sync import supplier_sync

    Reservation.objects.filter(supplier=supplier).update(sync=ReservationSync.WAITING)  # updated_at stays
    fake.ask("set_locks", locks)
    fake.ask("clear_log")
    try:
        Path("/proc/self/clear_refs").write_text("5")  # the peak RSS (VmHWM) starts again from now
    except OSError:
        pass
    before = memory_status()
    if trace:
        tracemalloc.start()
    if profile:
        profile.enable()
    started, cpu = time.perf_counter(), time.process_time()
    report = supplier_sync(supplier_id=supplier.pk)
    elapsed, cpu = time.perf_counter() - started, time.process_time() - cpu
    if profile:
        profile.disable()
    peak = None
    if trace:
        peak = tracemalloc.get_traced_memory()[1] / 1024 / 1024
        tracemalloc.stop()
    after = memory_status()
    return {"seconds": elapsed, "cpu": cpu, "report": report, "calls": fake.ask("stats")["calls"],
            "rss_before": before["VmRSS"], "rss_peak": after["VmHWM"], "traced_peak": peak}


def part2(args, fake, info):
    import cProfile

    from django.db.models import Count

    from fulfillment.choices import ReservationStatus, ReservationSync
    from fulfillment.models import Reservation

    print(f"\n== 2. reconcile: one supplier_sync over {args.small_lines:,} and {args.lines:,} reserved lines ==",
          flush=True)
    models = bench_models(args.products)
    used, spare = models[: len(models) * 9 // 10], [m[0] for m in models[len(models) * 9 // 10:]]
    rng = random.Random(args.seed + 2)
    results, ok = [], True
    for size, first_woo_id in ((args.small_lines, 100_001), (args.lines, 200_001)):
        supplier = make_supplier(f"reconcile-{size}", info)
        started = time.perf_counter()
        need = bulk_reserved(supplier, first_woo_id, size // 4, 4, used, rng,
                             lambda rng, shipping: ("pending", {"status": ReservationStatus.BOOKED,
                                                                "sync": ReservationSync.WAITING}))
        analyze()
        locks, off = off_by(need, spare, rng)
        print(f"  {size:,} lines ({size // 4:,} orders × 4, {len(need):,} models, {sum(need.values()):,} items) "
              f"created in {time.perf_counter() - started:.1f} s; the supplier's locks put off: {off['missing']} "
              f"missing, {off['extra']} extra, {off['different']} different", flush=True)
        profile = cProfile.Profile() if args.profile and size == args.lines else None
        timed = reconcile_once(supplier, fake, locks, profile=profile)
        after_timed = fake.ask("locks")
        states = dict(Reservation.objects.filter(supplier=supplier).values_list("sync").annotate(n=Count("pk"))
                      .order_by())
        traced = reconcile_once(supplier, fake, locks, trace=True)
        after_traced = fake.ask("locks")
        expected_ops = sum(off.values())
        exact = after_timed == need and after_traced == need
        in_sync = states.get(ReservationSync.IN_SYNC, 0) == size
        ops = len(timed["report"].operations)
        ok &= exact and in_sync and ops == expected_ops and not timed["report"].error
        results.append((size, timed, traced, exact, in_sync, ops, expected_ops))
        if profile:
            profile.dump_stats(args.profile)
            print(f"  cProfile of the {size:,}-line sync written to {args.profile}")

    print(f"\n  -- reconcile (one supplier_sync in this process; goal ≤ {RECONCILE_GOAL_S} s, requests constant) --")
    for size, timed, traced, exact, in_sync, ops, expected_ops in results:
        goal = "met" if timed["seconds"] <= RECONCILE_GOAL_S else "MISSED"
        calls = timed["calls"]
        print(f"  {size:>7,} lines: {timed['seconds']:6.2f} s ({timed['cpu']:.2f} s CPU; goal {goal}); requests "
              f"{sum(calls.values())} ({', '.join(f'{n} × {k}' for k, n in sorted(calls.items()))}); "
              f"{ops} models set (expected {expected_ops}); passes {timed['report'].passes}; RSS "
              f"{timed['rss_before']:.0f} → peak {timed['rss_peak']:.0f} MB; Python allocations peak "
              f"{traced['traced_peak']:.1f} MB (traced run: {traced['seconds']:.2f} s); locks = need "
              f"{'exactly' if exact else 'NO'}; all in sync {'yes' if in_sync else 'NO'}")
    counts = [sum(r[1]["calls"].values()) for r in results]
    constant = len(set(counts)) == 1
    ok &= constant
    print(f"  request count     : {' and '.join(str(c) for c in counts)} — "
          f"{'the same at both sizes' if constant else 'GROWS with the lines'}")
    print(f"  check             : {'complete' if ok else 'FAILED'}; load average now {os.getloadavg()[0]:.2f}",
          flush=True)
    return ok


# -- part 3: the staff pages ----------------------------------------------------------------------------------------

def page_decider(placed_share=0.55, moved_share=0.01):
    """Order status and its reservations' state, in proportions a busy shop has."""
    from fulfillment.choices import ReservationStatus as S
    from fulfillment.choices import ReservationSync as Y

    counter = iter(range(5_200_001, 10**9))

    def decide(rng, shipping):
        roll = rng.random()
        if roll < placed_share:  # paid and placed: the supplier's order follows it
            remote = str(next(counter))
            moved = rng.random() < moved_share
            placed = {**shipping, "address_1": "1 Old street"} if moved else shipping
            return "processing", {"remote_order_id": remote, "placed_at": datetime.now(UTC), "placed_address": placed,
                                  "status": rng.choice([S.BOOKED, S.CONFIRMED, S.WORKING_ON, S.READY]),
                                  "sync": Y.IN_SYNC, "status_code": 5}
        if roll < placed_share + 0.08:
            return "completed", {"remote_order_id": str(next(counter)), "placed_address": shipping,
                                 "status": S.DISPATCHED, "sync": Y.IN_SYNC, "status_code": 3, "carrier": "BRT",
                                 "tracking_code": f"BRT{rng.randrange(10**9):010d}"}
        if roll < placed_share + 0.10:
            return "cancelled", {"quantity": 0, "status": S.RELEASED, "sync": Y.IN_SYNC}

        def pending_line(rng):
            sync = rng.choices([Y.IN_SYNC, Y.FAILED, Y.WAITING, Y.RETRYING], weights=[86, 8, 4, 2])[0]
            error = "Out of stock at Rewix: 2 needed, 0 left" if sync == Y.FAILED else ""
            return {"status": S.BOOKED, "sync": sync, "sync_error": error, "attempts": int(sync != Y.IN_SYNC)}

        return rng.choice(["pending", "pending", "on-hold"]), pending_line

    return decide


def timed_get(client, url):
    started, cpu = time.perf_counter(), time.process_time()
    response = client.get(url)
    elapsed, cpu = (time.perf_counter() - started) * 1000, (time.process_time() - cpu) * 1000
    if response.status_code != 200:
        raise SystemExit(f"{url}: HTTP {response.status_code}")
    return elapsed, cpu, response


def rows_shown(html):
    """The list's rows (their checkboxes), or the growing-order table's rows (not the address table's)."""
    if 'id="growing-table"' in html:
        return html.split('id="growing-table"', 1)[1].split("</table>", 1)[0].count('<tr class="diff-')
    return html.count('name="_selected_action"')


def measure(client, url, runs, warmups):
    from django.db import connection
    from django.test.utils import CaptureQueriesContext

    for _ in range(warmups):
        timed_get(client, url)
    times, cpus = [], []
    for _ in range(runs):
        elapsed, cpu, _ = timed_get(client, url)
        times.append(elapsed)
        cpus.append(cpu)
    with CaptureQueriesContext(connection) as captured:
        _, _, response = timed_get(client, url)
    times.sort()
    return {"median": statistics.median(times), "p95": _support.percentile(times, 0.95),
            "cpu": statistics.median(cpus), "queries": list(captured.captured_queries),
            "sql_ms": sum(float(q["time"]) for q in captured.captured_queries) * 1000,
            "rows": rows_shown(response.content.decode())}


def page_cases(supplier):
    from django.urls import reverse

    from fulfillment.models import Reservation

    listing = reverse("admin:fulfillment_reservation_changelist")
    sample = Reservation.objects.filter(supplier=supplier).order_by("pk")
    middle = sample[sample.count() // 2]
    number = middle.order.number
    stock_id = middle.stock_id
    expected = {"number": sample.filter(order__number=number).count(),
                "stock": sample.filter(stock_id=stock_id).count(),
                "failed": Reservation.objects.filter(sync="failed").count(), "all": Reservation.objects.count()}
    return [
        ("list, page 1", listing, min(100, expected["all"])),
        ("list, sync=failed", f"{listing}?sync__exact=failed", min(100, expected["failed"])),
        (f"list, search order number {number}", f"{listing}?q={number}", min(100, expected["number"])),
        (f"list, search stock id {stock_id}", f"{listing}?q={stock_id}", min(100, expected["stock"])),
        ("growing-order page", reverse("admin:fulfillment_supplier_growing", args=[supplier.pk]), None),
    ]


def explain(sql, params):
    from django.db import connection

    with connection.cursor() as cursor:
        cursor.execute("EXPLAIN (ANALYZE, BUFFERS) " + sql, params)
        return "\n".join(row[0] for row in cursor.fetchall())


def part3(args, info):
    import cProfile
    import io
    import pstats

    from django.contrib.auth import get_user_model
    from django.db import connection
    from django.test import Client

    from fulfillment.models import Supplier
    from fulfillment.selectors.reservations import growing_order_comparison, needed_by_stock

    print(f"\n== 3. pages at 1,000 and {args.page_rows:,} reservations ({args.runs} requests per case) ==", flush=True)
    with connection.cursor() as cursor:
        cursor.execute("TRUNCATE fulfillment_reservation")  # parts 1 and 2's rows: the list shows only these
    supplier = make_supplier("pages", info)
    models = bench_models(args.products)
    rng = random.Random(args.seed + 3)
    get_user_model().objects.create_superuser("bench", "bench@example.com", "bench")
    client = Client()
    client.force_login(get_user_model().objects.get(username="bench"))

    def fill(first_woo_id, orders, decide):
        bulk_reserved(supplier, first_woo_id, orders, 2, models, rng, decide)
        need = needed_by_stock(supplier)
        snapshot = dict(need)
        for stock_id in rng.sample(sorted(need), min(5, len(need))):  # a few differences for the page to show
            snapshot[stock_id] = need[stock_id] + 1
        Supplier.objects.filter(pk=supplier.pk).update(growing_snapshot=snapshot, growing_read_at=datetime.now(UTC))
        analyze()

    started = time.perf_counter()
    # At 1,000 rows one placed line in five has a new address: over the 50 the page lists, as at 100,000 rows
    # (1 %), so that both sizes take the same path (the page then counts them: one query more than below 50).
    fill(1_000_001, 500, page_decider(moved_share=0.2))
    small_queries = [len(measure(client, url, 5, 1)["queries"]) for _label, url, _expected in page_cases(supplier)]
    fill(1_000_501, args.page_rows // 2 - 500, page_decider())
    print(f"  filled to {args.page_rows:,} reservations in {time.perf_counter() - started:.0f} s", flush=True)
    cases = page_cases(supplier)
    comparison = growing_order_comparison(Supplier.objects.get(pk=supplier.pk))
    results = []
    for (label, url, expected), queries_small in zip(cases, small_queries):
        result = measure(client, url, args.runs, 2)
        if expected is None:
            expected = len(comparison.rows)
        results.append((label, url, expected, queries_small, result))
        print(f"  measured {label}: {result['median']:.1f} ms", flush=True)

    print(f"\n  -- pages, median and p95 of {args.runs} requests after 2 warm-ups (goal < {PAGE_GOAL_MS} ms, queries "
          f"constant) --")
    width = max(len(r[0]) for r in results)
    print(f"  {'case':<{width}}  {'median ms':>9}  {'p95 ms':>7}  {'SQL ms':>6}  {'CPU ms':>6}  "
          f"{'queries at 1,000':>16}  {'at ' + format(args.page_rows, ','):>10}  {'rows':>5}")
    ok, slow = True, []
    for label, url, expected, queries_small, r in results:
        constant = queries_small == len(r["queries"])
        complete = r["rows"] == expected
        ok &= constant and complete
        if r["median"] >= PAGE_GOAL_MS:
            slow.append((label, url, r))
        print(f"  {label:<{width}}  {r['median']:>9.1f}  {r['p95']:>7.1f}  {r['sql_ms']:>6.1f}  {r['cpu']:>6.1f}  "
              f"{queries_small:>16}  {len(r['queries']):>10}  {r['rows']:>5}"
              + ("" if constant else "  <-- queries grow") + ("" if complete else f"  <-- expected {expected} rows")
              + ("  <-- over the goal" if r["median"] >= PAGE_GOAL_MS else ""))
    print(f"  SQL ms: the queries of one more request; CPU ms: this process's (Django's) CPU per request. Load "
          f"average {', '.join(f'{x:.2f}' for x in os.getloadavg())}; check {'complete' if ok else 'FAILED'}")
    for label, url, r in [(x[0], x[1], x[4]) for x in results] if args.explain else slow:
        print(f"\n  === {label} ({url}): the queries, slowest first, with EXPLAIN ANALYZE of those over 10 ms")
        for q in sorted(r["queries"], key=lambda q: -float(q["time"])):
            print(f"  -- {float(q['time']) * 1000:.1f} ms: {q['sql'][:600]}")
            if float(q["time"]) > 0.010 and q["sql"].lstrip().upper().startswith("SELECT"):
                print("     " + explain(q["sql"], None).replace("\n", "\n     "))
        profile = cProfile.Profile()
        profile.enable()
        client.get(url)
        profile.disable()
        out = io.StringIO()
        pstats.Stats(profile, stream=out).sort_stats("cumulative").print_stats(18)
        print("  cProfile of one request (cumulative):\n" + out.getvalue()[-4000:])
    return ok


# -- the run --------------------------------------------------------------------------------------------------------

def main():
    parser = argparse.ArgumentParser(description=__doc__.split("\n\n")[0])
    parser.add_argument("--orders", type=int, default=5_000, help="part 1: pending orders mirrored (default 5,000)")
    parser.add_argument("--lines", type=int, default=20_000, help="part 2: reserved lines (default 20,000)")
    parser.add_argument("--small-lines", type=int, default=2_000, help="part 2: the smaller size (default 2,000)")
    parser.add_argument("--page-rows", type=int, default=100_000, help="part 3: reservations (default 100,000)")
    parser.add_argument("--products", type=int, default=200, help="the supplier's products, 5 models each")
    parser.add_argument("--runs", type=int, default=20, help="part 3: requests per case (default 20)")
    parser.add_argument("--clusters", type=int, default=2)
    parser.add_argument("--workers", type=int, default=2)
    parser.add_argument("--deadline", type=float, default=600, help="part 1: give up after this many seconds")
    parser.add_argument("--parts", default="123", help="which parts to run, e.g. 13 (default 123)")
    parser.add_argument("--seed", type=int, default=2612)
    parser.add_argument("--explain", action="store_true", help="part 3: the queries and EXPLAIN of every case")
    parser.add_argument("--profile", metavar="FILE", help="part 2: cProfile of the large sync to FILE")
    parser.add_argument("--keep", action="store_true", help=f"keep the database {BENCH_DB} at the end")
    args = parser.parse_args()

    password = "rewix-bench-" + base64.urlsafe_b64encode(os.urandom(18)).decode()
    env = {**os.environ, "DATABASE_URL": DATABASE_URL, "REDIS_URL": REDIS_URL,
           "DJANGO_SETTINGS_MODULE": "backoffice.settings", "DEBUG": "0", "LOG_LEVEL": "WARNING",
           "SECRET_KEY": "bench-" + base64.b64encode(os.urandom(30)).decode(), "Q_WORKERS": str(args.workers),
           "ALLOWED_HOSTS": "testserver,localhost,127.0.0.1", PASSWORD_ENV: password, "PYTHONUNBUFFERED": "1"}
    os.environ.update({k: env[k] for k in ("DATABASE_URL", "REDIS_URL", "DJANGO_SETTINGS_MODULE", "DEBUG",
                                           "LOG_LEVEL", "SECRET_KEY", "ALLOWED_HOSTS", PASSWORD_ENV)})
    print(f"bench_reservations: parts {args.parts}; PostgreSQL database {BENCH_DB} (recreated), Redis {REDIS_URL}; "
          f"{os.cpu_count()} CPUs, load average {', '.join(f'{x:.2f}' for x in os.getloadavg())}", flush=True)

    context = multiprocessing.get_context("spawn")
    ours, theirs = context.Pipe()
    process = context.Process(target=serve, args=(password, args.products, 1_000_000, theirs), daemon=True)
    process.start()
    fake = Fake(ours, process)
    results = {}
    try:
        started = time.perf_counter()
        reset_database()
        info = ours.recv()
        print(f"  database migrated in {time.perf_counter() - started:.1f} s; Rewix supplier at {info['url']} "
              f"(separate process {process.pid}, threaded; {info['models']:,} models; password in ${PASSWORD_ENV})",
              flush=True)
        import django

        django.setup()
        import logging

        logging.getLogger("django-q").setLevel(logging.WARNING)  # no "Enqueued" line per task
        if "1" in args.parts:
            results["reserve end to end"] = part1(args, fake, info, env)
        if "2" in args.parts:
            results["reconcile"] = part2(args, fake, info)
        if "3" in args.parts:
            results["pages"] = part3(args, info)
    finally:
        if process.is_alive():
            ours.send(("stop",))
            process.join(timeout=10)
            if process.is_alive():
                process.terminate()
        import redis as redis_module

        redis_module.Redis.from_url(REDIS_URL).flushdb()
        from django.db import connections

        connections.close_all()
        if args.keep:
            print(f"\n  database {BENCH_DB} kept (--keep); Redis db {REDIS_DB} flushed")
        else:
            drop_database()
            print(f"\n  database {BENCH_DB} dropped; Redis db {REDIS_DB} flushed")
    print("  " + "; ".join(f"{part}: {'complete' if ok else 'CHECK FAILED'}" for part, ok in results.items()))
    return 0 if results and all(results.values()) else 1


if __name__ == "__main__":
    sys.exit(main())
