#!/usr/bin/env python
"""Benchmark: bulk submit of N orders (default 10,000) to a local Printful-compatible server by two qclusters.

    .venv/bin/python bench/bench_submit.py [--orders 10000] [--clusters 2] [--workers 2] [--deadline 900] [--keep]
        [--redis-db 13] [--database bench_submit]

The server (tests/fakes/printful.py: Printful's order API, bearer token, refuses a second order with the same
external id) runs in a separate process, threaded, so its CPU is not ours. The database `bench_submit` is dropped,
recreated and migrated (--database names another); N eligible orders (processing, every SKU made by the provider,
personalised lines carrying a `_print_file_url`) are mirrored with orders_upsert; Redis db --redis-db (13) is flushed
and used as django-q2's broker; two `manage.py qcluster` processes (Q_WORKERS=--workers each) run with the same
environment. Then the bulk submit runs as staff run it (orders_bulk_submit over every order: one queued task per
batch of submissions) and the database is polled until every submission is submitted. It prints the time to queue,
the time until all are submitted, orders/s end to end, and checks the server's side: remote orders created (must be N), duplicate external ids (must be 0), and
that every submission's remote id is the server's order; the CPU of the workers and of the server per order, with
the load average. Only that database and that Redis db are touched; the database is dropped at the end unless
--keep. See bench/README.md.
"""

import argparse
import base64
import multiprocessing
import os
import random
import re
import signal
import subprocess
import sys
import tempfile
import threading
import time
from pathlib import Path

sys.path.insert(0, str(Path(__file__).resolve().parent))

import _support  # noqa: E402  (puts the project root on sys.path)

BENCH_DB = "bench_submit"  # the only database this script creates, drops or writes (--database names another)
DATABASE_URL = f"postgres://{_support.PG_USER}@{_support.PG_HOST}:{_support.PG_PORT}/{BENCH_DB}"
REDIS_URL = "redis://127.0.0.1:6379/13"  # --redis-db names another
QUEUE_KEY = "django_q:backoffice:q"  # django-q2's Redis list for the cluster named in settings.Q_CLUSTER
STAT_PATTERN = "django_q:backoffice:cluster:*"  # each running cluster's status key
TOKEN_ENV = "BENCH_PRINTFUL_TOKEN"
SLUG = "bench"
SKUS = [product[2] for product in _support.PRODUCTS]
TICK = "fulfillment.tasks.production_tick"  # every minute: due countdowns, and submissions due for a (re)run


# -- the provider, in its own process -----------------------------------------------------------------------------

def serve(token, conn):
    """Child process: run the fake Printful; answer "cpu", "stats" and "count"; stop on "stop"."""
    import logging

    from tests.fakes.printful import FakePrintful

    logging.getLogger("werkzeug").setLevel(logging.ERROR)  # no access log line per request
    server = FakePrintful(token=token).start()
    conn.send({"url": server.url})
    while True:
        command = conn.recv()
        if command == "cpu":
            conn.send(time.process_time())
        elif command == "count":
            conn.send(server.created)
        elif command == "stats":
            with server.lock:
                orders = [(o["external_id"], o["id"]) for o in server.orders.values()]
                calls = {}
                for method, path, _params in server.requests:
                    kind = f"{method} {'/orders' if path == '/orders' else '/orders/{id}'}"
                    calls[kind] = calls.get(kind, 0) + 1
            conn.send({"orders": orders, "calls": calls, "cpu": time.process_time()})
        else:
            break
    server.stop()


# -- the orders ---------------------------------------------------------------------------------------------------

def eligible_orders(count, seed):
    """Realistic orders (bench/_support.py), all paid and processing; editor lines carry a print-ready file."""
    rng = random.Random(seed)
    for woo_id in range(1, count + 1):
        payload = _support.realistic_order(woo_id, rng)
        payload.update(status="processing", refunds=[], date_completed_gmt=None, needs_payment=False,
                       date_paid_gmt=payload["date_created_gmt"], date_paid=payload["date_created"])
        for line in payload["line_items"]:
            for meta in line["meta_data"]:
                if meta["key"] == "_project_id":  # made in the shop's own editor: the file comes with the order
                    url = f"https://files.example.com/print/{woo_id}/{line['id']}.pdf"
                    meta.update(key="_print_file_url", value=url, display_key="_print_file_url", display_value=url)
        yield payload


def reset_database():
    """Drop and recreate `bench_submit` (never any other database), then migrate it."""
    import psycopg

    with psycopg.connect(host=_support.PG_HOST, port=_support.PG_PORT, user=_support.PG_USER, dbname="postgres",
                         autocommit=True) as conn:
        conn.execute(f"DROP DATABASE IF EXISTS {BENCH_DB} WITH (FORCE)")
        conn.execute(f"CREATE DATABASE {BENCH_DB}")
    env = {**os.environ, "DATABASE_URL": DATABASE_URL, "DJANGO_SETTINGS_MODULE": "backoffice.settings"}
    env.pop("REDIS_URL", None)
    subprocess.run([sys.executable, str(_support.ROOT / "manage.py"), "migrate", "--verbosity", "0"], env=env,
                   cwd=_support.ROOT, check=True)


def drop_database():
    import psycopg

    with psycopg.connect(host=_support.PG_HOST, port=_support.PG_PORT, user=_support.PG_USER, dbname="postgres",
                         autocommit=True) as conn:
        conn.execute(f"DROP DATABASE IF EXISTS {BENCH_DB} WITH (FORCE)")


# -- the workers ----------------------------------------------------------------------------------------------------

def start_cluster(env, log):
    process = subprocess.Popen([sys.executable, str(_support.ROOT / "manage.py"), "qcluster"], cwd=_support.ROOT,
                               env=env, stdout=log, stderr=subprocess.STDOUT, start_new_session=True)
    return process


def stop_cluster(process, grace=30):
    """SIGTERM to the qcluster process (it stops its sentinel, pusher, workers and monitor in order); SIGKILL to its
    own session (those processes and nothing else) if it has not finished within `grace` seconds."""
    if process.poll() is not None:
        return f"qcluster {process.pid} had exited"
    process.send_signal(signal.SIGTERM)
    try:
        process.wait(timeout=grace)
        return f"qcluster {process.pid} stopped"
    except subprocess.TimeoutExpired:
        os.killpg(process.pid, signal.SIGKILL)
        process.wait()
        return f"qcluster {process.pid} killed after {grace} s"


def tree_cpu(pid):
    """CPU seconds of a process and all its descendants, living or reaped (from /proc; 0 where unavailable)."""
    ticks = os.sysconf("SC_CLK_TCK")
    try:
        fields = Path(f"/proc/{pid}/stat").read_text().rpartition(")")[2].split()
        # utime, stime of the process, cutime, cstime of its children already waited for
        total = sum(int(fields[i]) for i in (11, 12, 13, 14)) / ticks
    except (OSError, IndexError, ValueError):
        return 0.0
    try:
        children = [int(p) for p in Path(f"/proc/{pid}/task/{pid}/children").read_text().split()]
    except OSError:
        children = []
    return total + sum(tree_cpu(child) for child in children)


def machine_busy():
    """(busy, total) jiffies of the whole machine, for its utilisation over an interval."""
    values = [int(v) for v in Path("/proc/stat").read_text().split("\n", 1)[0].split()[1:]]
    idle = values[3] + values[4]
    return sum(values) - idle, sum(values)


# -- watching the database --------------------------------------------------------------------------------------

class Watcher(threading.Thread):
    """Polls submission states (its own DB connection) and Redis' queue length every `interval` seconds."""

    def __init__(self, redis, expected, started, interval=0.25):
        super().__init__(daemon=True)
        self.redis, self.expected, self.started, self.interval = redis, expected, started, interval
        self.samples = []  # (seconds since start, {state: count}, queue length)
        self.done_at = None
        self.first_submitted_at = None
        self.stop_event = threading.Event()
        self.ticks = {}  # django-q task id → result of production_tick (read before django-q prunes it)
        self.last_submitted, self.last_progress, self.stall_reported, self.stalls = 0, 0.0, False, []
        self.stalled = 0.0  # seconds spent in stalls (≥ 5 s in which no submission finished)

    def run(self):
        from django.db import connection
        from django.db.models import Count
        from django_q.models import Task

        from fulfillment.choices import SubmissionState
        from fulfillment.models import Submission

        last_print = last_ticks = 0.0
        try:
            while not self.stop_event.is_set():
                if time.perf_counter() - last_ticks >= 2:
                    last_ticks = time.perf_counter()
                    self.ticks.update(Task.objects.filter(func=TICK).values_list("id", "result"))
                states = {row["state"]: row["n"]
                          for row in Submission.objects.values("state").order_by().annotate(n=Count("pk"))}
                now = time.perf_counter() - self.started
                queued = self.redis.llen(QUEUE_KEY)
                self.samples.append((now, states, queued))
                submitted = states.get(SubmissionState.SUBMITTED, 0)
                if submitted and self.first_submitted_at is None:
                    self.first_submitted_at = now
                if submitted != self.last_submitted:
                    if now - self.last_progress >= 5 and self.last_submitted:
                        self.stalled += now - self.last_progress
                    self.last_submitted, self.last_progress = submitted, now
                elif now - self.last_progress >= 5 and not self.stall_reported:
                    self.stall_reported = True  # once per stall: what the database sessions are doing
                    self.stalls.append((self.last_progress, _sessions()))
                    print(f"    {now:6.1f} s: STALL, no submission finished for 5 s; database sessions: "
                          f"{self.stalls[-1][1]}", flush=True)
                if now - self.last_progress < 5:
                    self.stall_reported = False
                if now - last_print >= 10:
                    last_print = now
                    print(f"    {now:6.1f} s: {_states_text(states)}; Redis queue {queued:,}", flush=True)
                if submitted + states.get(SubmissionState.FAILED, 0) >= self.expected:
                    self.done_at = now
                    return
                self.stop_event.wait(self.interval)
        finally:
            connection.close()


def _sessions():
    """The bench database's sessions other than ours, by state, wait and statement."""
    from django.db import connection

    with connection.cursor() as cursor:
        cursor.execute("SELECT state, coalesce(wait_event_type || ':' || wait_event, ''), left(query, 70), count(*) "
                       "FROM pg_stat_activity WHERE datname = current_database() AND pid <> pg_backend_pid() "
                       "GROUP BY 1, 2, 3 ORDER BY 4 DESC")
        return [f"{n}× {state} {wait} {query!r}" for state, wait, query, n in cursor.fetchall()]


def _states_text(states):
    return ", ".join(f"{states[k]:,} {k}" for k in sorted(states)) or "no submissions yet"


def _use(database, redis_db):
    """Point the script at the database and the Redis db named on the command line."""
    global BENCH_DB, DATABASE_URL, REDIS_URL
    if not re.fullmatch(r"[a-z_][a-z0-9_]*", database) or database in ("postgres", "template0", "template1"):
        raise SystemExit(f"--database {database!r}: a plain lower-case name of a database this script may drop")
    BENCH_DB = database
    DATABASE_URL = f"postgres://{_support.PG_USER}@{_support.PG_HOST}:{_support.PG_PORT}/{BENCH_DB}"
    REDIS_URL = f"redis://127.0.0.1:6379/{redis_db}"


# -- the run ------------------------------------------------------------------------------------------------------

def main():
    parser = argparse.ArgumentParser(description=__doc__.split("\n\n")[0])
    parser.add_argument("--orders", type=int, default=10_000)
    parser.add_argument("--clusters", type=int, default=2, help="qcluster processes (default 2)")
    parser.add_argument("--workers", type=int, default=2, help="Q_WORKERS of each qcluster (default 2)")
    parser.add_argument("--deadline", type=float, default=900,
                        help="give up this many seconds after the bulk submit starts (default 900)")
    parser.add_argument("--seed", type=int, default=2028)
    parser.add_argument("--keep", action="store_true", help=f"keep the database {BENCH_DB} at the end")
    parser.add_argument("--profile", metavar="FILE", help="write a cProfile of the bulk submit (queueing) to FILE")
    parser.add_argument("--redis-db", type=int, default=13, help="the Redis db used and flushed (default 13)")
    parser.add_argument("--database", default=BENCH_DB,
                        help=f"the PostgreSQL database dropped, recreated and used (default {BENCH_DB})")
    args = parser.parse_args()
    _use(args.database, args.redis_db)

    token = "pf-bench-" + base64.urlsafe_b64encode(os.urandom(24)).decode()
    env = {**os.environ, "DATABASE_URL": DATABASE_URL, "REDIS_URL": REDIS_URL,
           "DJANGO_SETTINGS_MODULE": "backoffice.settings", "DEBUG": "0", "LOG_LEVEL": "WARNING",
           "SECRET_KEY": "bench-" + base64.b64encode(os.urandom(30)).decode(), "Q_WORKERS": str(args.workers),
           TOKEN_ENV: token, "PYTHONUNBUFFERED": "1"}
    os.environ.update({k: env[k] for k in ("DATABASE_URL", "REDIS_URL", "DJANGO_SETTINGS_MODULE", "DEBUG",
                                           "LOG_LEVEL", "SECRET_KEY", TOKEN_ENV)})
    print(f"bench_submit: {args.orders:,} orders, {args.clusters} qcluster × Q_WORKERS={args.workers}, PostgreSQL "
          f"database {BENCH_DB} (recreated), Redis {REDIS_URL}; {os.cpu_count()} CPUs, load average "
          f"{os.getloadavg()[0]:.2f}", flush=True)

    context = multiprocessing.get_context("spawn")
    ours, theirs = context.Pipe()
    server = context.Process(target=serve, args=(token, theirs), daemon=True)
    server.start()
    clusters, logs = [], []
    redis = None
    ok = False
    try:
        t0 = time.perf_counter()
        reset_database()
        info = ours.recv()
        print(f"  database migrated in {time.perf_counter() - t0:.1f} s; Printful-compatible server at {info['url']} "
              f"(separate process {server.pid}, threaded; token in ${TOKEN_ENV})", flush=True)

        import django
        import redis as redis_module

        django.setup()
        import logging

        logging.getLogger("django-q").setLevel(logging.WARNING)  # no "Enqueued" line per task
        from django.contrib.auth import get_user_model
        from django.db import connection

        from fulfillment.choices import EventSource, ProviderKind
        from fulfillment.models import Order, OrderLine, Provider, Store
        from fulfillment.services.mirror import orders_upsert

        store = Store.objects.create(slug=SLUG, name="Bench shop", base_url="http://127.0.0.1:9",  # nothing listens
                                     consumer_key="ck_bench", consumer_secret="cs_bench",
                                     webhook_secret="bench_webhook_secret_0123456789")
        provider = Provider.objects.create(store=store, name="Printful (bench)", kind=ProviderKind.PRINTFUL,
                                           skus="\n".join(SKUS), base_url=info["url"], credentials_env=TOKEN_ENV,
                                           confirm_orders=True)
        staff = get_user_model().objects.create_user("bench-staff", "staff@example.com", is_staff=True)
        # In a fresh database every schedule is due at once; only the one that belongs to submitting stays: the
        # others (reconcile, pushes, renders, shipment poll: a GET per submitted order) would land mid-run.
        from datetime import timedelta

        from django.utils import timezone
        from django_q.models import Schedule

        Schedule.objects.exclude(func=TICK).update(next_run=timezone.now() + timedelta(days=1))

        t0 = time.perf_counter()
        page, created = [], 0
        for payload in eligible_orders(args.orders, args.seed):
            page.append(payload)
            if len(page) == 100:
                created += len(orders_upsert(store=store, payloads=page, source=EventSource.IMPORT).created)
                page = []
        if page:
            created += len(orders_upsert(store=store, payloads=page, source=EventSource.IMPORT).created)
        with connection.cursor() as cursor:
            cursor.execute("ANALYZE")  # as autovacuum would have done by the time staff select 10,000 orders
        lines = OrderLine.objects.filter(order__store=store).count()
        with_file = OrderLine.objects.filter(order__store=store, meta__contains=[{"key": "_print_file_url"}]).count()
        print(f"  {created:,} orders mirrored ({lines:,} lines, {with_file:,} personalised with a print file) in "
              f"{time.perf_counter() - t0:.1f} s", flush=True)
        if created != args.orders:
            raise SystemExit(f"expected {args.orders:,} orders, mirrored {created:,}")

        redis = redis_module.Redis.from_url(REDIS_URL)
        redis.flushdb()
        for index in range(args.clusters):
            log = tempfile.NamedTemporaryFile("w+", prefix=f"bench_submit_qcluster{index}_", suffix=".log",
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
        print(f"  {args.clusters} qclusters running (pids {', '.join(str(c.pid) for c in clusters)}), "
              f"{args.workers} workers each; logs in {', '.join(log.name for log in logs)}", flush=True)

        from fulfillment.services.submissions import EXECUTE_BATCH, orders_bulk_submit

        orders = Order.objects.filter(store=store).select_related("store").order_by("pk")
        cpu_clusters0 = sum(tree_cpu(c.pid) for c in clusters)
        ours.send("cpu")
        cpu_server0 = ours.recv()
        busy0 = machine_busy()
        pg0 = _support.postgres_server_cpu()
        load0 = os.getloadavg()
        cpu_ours0 = time.process_time()
        started = time.perf_counter()
        deadline = started + args.deadline
        watcher = Watcher(redis, args.orders, started)
        watcher.start()

        def bounded(queryset):
            for order in queryset.iterator(chunk_size=500):
                if time.perf_counter() > deadline:
                    print("  DEADLINE reached while queueing: the rest of the orders were not submitted")
                    return
                yield order

        profiler = None
        if args.profile:
            import cProfile

            profiler = cProfile.Profile()
            profiler.enable()
        print("  bulk submit (orders_bulk_submit over every order) ...", flush=True)
        result = orders_bulk_submit(orders=bounded(orders), user=staff)
        queue_time = time.perf_counter() - started
        if profiler:
            profiler.disable()
            profiler.dump_stats(args.profile)
        cpu_ours = time.process_time() - cpu_ours0
        print(f"  queued {len(result.queued):,} in {queue_time:.1f} s ({len(result.queued) / queue_time:,.0f}/s); "
              f"already submitted {len(result.already):,}, not eligible {len(result.not_eligible):,}"
              + (f" — e.g. {result.not_eligible[:3]}" if result.not_eligible else ""), flush=True)

        while watcher.is_alive() and time.perf_counter() < deadline:
            watcher.join(timeout=1)
        watcher.stop_event.set()
        watcher.join()
        total = watcher.done_at
        elapsed = time.perf_counter() - started
        busy1 = machine_busy()
        cpu_pg = _support.postgres_server_cpu() - pg0
        cpu_clusters = sum(tree_cpu(c.pid) for c in clusters) - cpu_clusters0
        ours.send("cpu")
        cpu_server = ours.recv() - cpu_server0
        if total is None:
            print(f"  GAVE UP after {elapsed:.0f} s (--deadline {args.deadline:.0f}): not every submission was "
                  f"submitted; last state: {_states_text(watcher.samples[-1][1]) if watcher.samples else '?'}")
        max_queue = max((q for _, _, q in watcher.samples), default=0)
        queue_left = redis.llen(QUEUE_KEY)
        # Stopping lets each cluster's monitor save the task results it still holds (the production_tick's too).
        stop_started = time.perf_counter()
        stops = [stop_cluster(c, grace=120) for c in clusters]
        stop_took = time.perf_counter() - stop_started
        from django_q.models import Task

        watcher.ticks.update(Task.objects.filter(func=TICK).values_list("id", "result"))
        ticks = list(watcher.ticks.values())
        rerun = sum(int(m.group(1)) for m in (re.search(r"(\d+) submissions run", str(t)) for t in ticks) if m)

        # -- the server's side and ours, compared ------------------------------------------------------------
        from django.db.models import Count, Max, Sum
        from django_q.models import Failure

        from fulfillment.choices import SubmissionState
        from fulfillment.models import Submission

        ours.send("stats")
        stats = ours.recv()
        remote = {}
        for external_id, remote_id in stats["orders"]:
            remote.setdefault(external_id, []).append(str(remote_id))
        remote_created = len(stats["orders"])
        duplicates = remote_created - len(remote)
        subs = Submission.objects.filter(provider=provider)
        by_state = {r["state"]: r["n"] for r in subs.values("state").order_by().annotate(n=Count("pk"))}
        submitted = by_state.get(SubmissionState.SUBMITTED, 0)
        failed = by_state.get(SubmissionState.FAILED, 0)
        attempts = subs.aggregate(total=Sum("attempts"), most=Max("attempts"))
        ours_ids = dict(subs.filter(state=SubmissionState.SUBMITTED).values_list("external_id", "remote_id"))
        mismatched = sum(1 for ext, rid in ours_ids.items() if remote.get(ext) != [rid])
        unknown_remote = len(set(remote) - set(ours_ids))
        per_order = subs.values("order_id").order_by().annotate(n=Count("pk")).filter(n__gt=1).count()
        orders_flagged = Order.objects.filter(store=store, submit_status="submitted").count()
        task_failures = Failure.objects.count()
        failure_reasons = list(subs.filter(state=SubmissionState.FAILED).values_list("failure_reason", flat=True)[:3])

        print(f"\n== bulk submit of {args.orders:,} orders · {args.clusters} qcluster × {args.workers} workers ==")
        print(f"  queueing          : {queue_time:7.1f} s  ({len(result.queued) / queue_time:,.0f} orders/s; "
              f"one execute_submissions task per batch of {EXECUTE_BATCH}; our CPU {cpu_ours:.1f} s)")
        if total is not None:
            print(f"  all submitted     : {total:7.1f} s after the bulk submit started (first after "
                  f"{watcher.first_submitted_at:.1f} s; {total - queue_time:.1f} s after the last was queued)")
            print(f"  end to end        : {args.orders / total:7.1f} orders/s")
        print(f"  remote orders     : {remote_created:,} created at the server (expected {args.orders:,}), "
              f"duplicate external ids {duplicates}, ours not matching the server's {mismatched}, server orders "
              f"unknown to us {unknown_remote}")
        print("  server calls      : " + ", ".join(f"{n:,} × {k}" for k, n in sorted(stats["calls"].items())))
        print(f"  submissions       : {_states_text(by_state)}; attempts {attempts['total'] or 0:,} (most "
              f"{attempts['most'] or 0} for one); orders with more than one submission {per_order}; orders shown "
              f"Submitted {orders_flagged:,}; failed tasks in django-q {task_failures}")
        if failure_reasons:
            print(f"  failure reasons   : {failure_reasons}")
        if watcher.stalls:
            print(f"  stalls            : {len(watcher.stalls)} times no submission finished for ≥ 5 s, "
                  f"{watcher.stalled:.0f} s in all (first at {watcher.stalls[0][0]:.0f} s; the database sessions "
                  f"then are printed above)")
        print(f"  Redis queue       : at most {max_queue:,} tasks waiting, {queue_left:,} left at the end; the "
              f"every-minute production_tick ran {len(ticks)} times and queued {rerun:,} execute_submission tasks "
              f"again (submissions still queued when it ran)")
        machine = (busy1[0] - busy0[0]) / max(busy1[1] - busy0[1], 1)
        print(f"  stopping          : {'; '.join(stops)} in {stop_took:.0f} s (the monitors save the task results "
              f"they still hold first)")
        load1 = os.getloadavg()
        ms_each = 1000 / max(submitted, 1)
        print(f"  CPU per order     : workers {ms_each * cpu_clusters:.2f} ms (the qclusters, all their processes: "
              f"{cpu_clusters:.1f} s), provider stand-in {ms_each * cpu_server:.2f} ms ({cpu_server:.1f} s), "
              f"queueing {ms_each * cpu_ours:.2f} ms ({cpu_ours:.1f} s, the bench process); PostgreSQL server "
              f"{ms_each * cpu_pg:.2f} ms ({cpu_pg:.1f} s: the whole server, other databases' work on this machine "
              f"included)")
        print(f"  load              : load average {load0[0]:.2f} at the start, {load1[0]:.2f} at the end (1 min; "
              f"5 min {load1[1]:.2f}); machine {100 * machine:.0f} % busy over the run, {os.cpu_count()} CPUs")
        ok = (total is not None and submitted == args.orders and remote_created == args.orders and duplicates == 0
              and mismatched == 0 and unknown_remote == 0 and per_order == 0 and failed == 0)
        print(f"  verdict           : {'every order submitted exactly once' if ok else 'PROBLEM (see above)'}")
        if args.profile:
            print(f"  cProfile of the queueing written to {args.profile} (.venv/bin/python -m pstats {args.profile})")
    finally:
        for cluster in clusters:
            stop_cluster(cluster)  # already stopped unless the run ended early
        for log in logs:
            log.flush()
            log.seek(0)
            errors = [line.rstrip() for line in log if "ERROR" in line or "Traceback" in line]
            log.close()
            if errors:
                print(f"  {log.name}: {len(errors)} error lines, e.g. {errors[0][:300]}")
            else:
                os.unlink(log.name)
        if server.is_alive():
            ours.send("stop")
            server.join(timeout=10)
            if server.is_alive():
                server.terminate()
        if redis is not None:
            redis.flushdb()
        from django.db import connections

        connections.close_all()
        if args.keep:
            print(f"  database {BENCH_DB} kept (--keep)")
        else:
            drop_database()
            print(f"  database {BENCH_DB} dropped; Redis {REDIS_URL} flushed")
    return 0 if ok else 1


if __name__ == "__main__":
    sys.exit(main())
