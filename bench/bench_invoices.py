#!/usr/bin/env python
"""Benchmark: invoices issued when 10,000 orders complete at once, through four workers (issue 13).

    .venv/bin/python bench/bench_invoices.py [--orders 10000] [--clusters 2] [--workers 2] [--deadline 900] [--keep]

PostgreSQL database `bench_invoices` (dropped, recreated, migrated) and Redis db 12 (flushed; django-q2's broker).
A Dutch store with an invoice rule (processing, completed) mirrors --orders realistic orders *on hold* (no invoice;
not timed). Then --clusters × `manage.py qcluster` (Q_WORKERS=--workers: four workers by default) start, and the
same orders are mirrored again as *completed* in pages of 100, as a shop's webhooks would bring them: each page's
follower queues one `accounting.tasks.issue_invoices` per batch of 20 orders after its commit, and the workers
issue them, each batch in one transaction taking its numbers at once from the series' locked counter row. Timed from the first page until every order has
its invoice; printed: invoices/s end to end and while issuing, CPU of the workers and of PostgreSQL, the machine's
load. Checked: the sequences are exactly 1..N (0 gaps, 0 duplicates) and each invoice's total is its order's.

Exit status 1 when a check fails. Only `bench_invoices` and Redis db 12 are touched; the database is dropped at
the end unless --keep. The documents of one big invoice (PDF, UBL) are bench/bench_documents.py's.
"""

import argparse
import base64
import os
import sys
import tempfile
import time
from pathlib import Path

sys.path.insert(0, str(Path(__file__).resolve().parent))

import _support  # noqa: E402  (puts the project root on sys.path)
from bench_submit import machine_busy, start_cluster, stop_cluster, tree_cpu  # noqa: E402

BENCH_DB = "bench_invoices"  # the only database this script creates, drops or writes
DATABASE_URL = f"postgres://{_support.PG_USER}@{_support.PG_HOST}:{_support.PG_PORT}/{BENCH_DB}"
REDIS_URL = "redis://127.0.0.1:6379/12"
GOAL = 200  # invoices per second


def _pg():
    import psycopg

    return psycopg.connect(host=_support.PG_HOST, port=_support.PG_PORT, user=_support.PG_USER, dbname="postgres",
                           autocommit=True)


def reset_database(env):
    import subprocess

    with _pg() as conn:
        conn.execute(f"DROP DATABASE IF EXISTS {BENCH_DB} WITH (FORCE)")
        conn.execute(f"CREATE DATABASE {BENCH_DB}")
    subprocess.run([sys.executable, str(_support.ROOT / "manage.py"), "migrate", "--verbosity", "0"],
                   env={k: v for k, v in env.items() if k != "REDIS_URL"}, cwd=_support.ROOT, check=True)


def drop_database():
    with _pg() as conn:
        conn.execute(f"DROP DATABASE IF EXISTS {BENCH_DB} WITH (FORCE)")


def orders(count, status):
    """The benchmark's realistic orders (every market's OSS rate), without refunds, in one status."""
    payloads = _support.realistic_orders(count, seed=2031)
    for payload in payloads:
        payload.update(status=status, refunds=[], fee_lines=[], coupon_lines=[])
        for line in payload["line_items"]:
            # Without projects: their renders would be queued to the same workers and measured with the invoices.
            line["meta_data"] = [m for m in line["meta_data"] if m["key"] != "_project_id"]
    return payloads


def main():
    parser = argparse.ArgumentParser(description=__doc__.split("\n\n")[0])
    parser.add_argument("--orders", type=int, default=10_000)
    parser.add_argument("--clusters", type=int, default=2, help="qcluster processes (default 2)")
    parser.add_argument("--workers", type=int, default=2, help="Q_WORKERS of each qcluster (default 2)")
    parser.add_argument("--deadline", type=float, default=900)
    parser.add_argument("--keep", action="store_true", help=f"keep the database {BENCH_DB}")
    parser.add_argument("--profile", action="store_true",
                        help="no workers: issue the invoices in this process in batches of 20, half of them "
                             "without the profiler (CPU per invoice), half under cProfile (where the time goes)")
    args = parser.parse_args()

    env = {**os.environ, "DATABASE_URL": DATABASE_URL, "REDIS_URL": REDIS_URL,
           "DJANGO_SETTINGS_MODULE": "backoffice.settings", "DEBUG": "0", "LOG_LEVEL": "WARNING",
           "SECRET_KEY": "bench-" + base64.b64encode(os.urandom(30)).decode(), "Q_WORKERS": str(args.workers),
           "PYTHONUNBUFFERED": "1"}
    os.environ.update({k: env[k] for k in ("DATABASE_URL", "REDIS_URL", "DJANGO_SETTINGS_MODULE", "DEBUG",
                                           "LOG_LEVEL", "SECRET_KEY")})
    print(f"bench_invoices: {args.orders:,} orders, {args.clusters} qcluster × Q_WORKERS={args.workers}, PostgreSQL "
          f"{BENCH_DB} (recreated), Redis {REDIS_URL}; {os.cpu_count()} CPUs, load average "
          f"{os.getloadavg()[0]:.2f}", flush=True)
    clusters, logs, ok = [], [], False
    try:
        t0 = time.perf_counter()
        reset_database(env)
        print(f"  database migrated in {time.perf_counter() - t0:.1f} s", flush=True)

        import django
        import redis as redis_module

        django.setup()
        import logging

        logging.getLogger("django-q").setLevel(logging.WARNING)
        from datetime import timedelta

        from django.db import connection
        from django.db.models import F, Max, Min, Sum
        from django.utils import timezone
        from django_q.models import Schedule

        from accounting.models import Invoice, InvoiceRule, InvoiceSeries
        from fulfillment.choices import EventSource
        from fulfillment.models import Order, Store
        from fulfillment.services.mirror import orders_upsert

        Schedule.objects.update(next_run=timezone.now() + timedelta(days=1))  # nothing else lands mid-run
        store = Store.objects.create(slug="bench-nl", name="Bench NL", base_url="http://127.0.0.1:9",
                                     consumer_key="ck_bench", consumer_secret="cs_bench",
                                     webhook_secret="bench_webhook_secret_0123456789", timezone="Europe/Amsterdam")
        series = InvoiceSeries.objects.create(store=store, name="Invoices", prefix="{year}-")
        InvoiceRule.objects.create(store=store, invoice_series=series, seller_name="Bench B.V.",
                                   seller_street="Keizersgracht 1", seller_postcode="1015 CJ", seller_city="Amsterdam",
                                   seller_country="NL", seller_vat_id="NL854091798B01")

        t0 = time.perf_counter()
        held = orders(args.orders, "on-hold")
        for start in range(0, args.orders, 100):
            orders_upsert(store=store, payloads=held[start:start + 100], source=EventSource.IMPORT)
        with connection.cursor() as cursor:
            cursor.execute("ANALYZE")
        print(f"  {Order.objects.count():,} orders mirrored on hold in {time.perf_counter() - t0:.1f} s", flush=True)

        redis = redis_module.Redis.from_url(REDIS_URL)
        redis.flushdb()
        if args.profile:
            ok = profile_issuing(args, store, orders)
            sys.exit(0 if ok else 1)  # after the finally's clean-up
        for index in range(args.clusters):
            log = tempfile.NamedTemporaryFile("w+", prefix=f"bench_invoices_qcluster{index}_", suffix=".log",
                                              delete=False)
            logs.append(log)
            clusters.append(start_cluster(env, log))
        time.sleep(4)  # the clusters' workers are up before the clock starts
        completed = orders(args.orders, "completed")
        for payload in completed:
            payload["date_modified_gmt"] = "2026-12-01T12:00:00"
        busy0, total0 = machine_busy()
        cpu0 = sum(tree_cpu(c.pid) for c in clusters)
        pg0 = _support.postgres_server_cpu()
        started = time.perf_counter()
        for start in range(0, args.orders, 100):
            orders_upsert(store=store, payloads=completed[start:start + 100], source=EventSource.WEBHOOK)
        mirrored = time.perf_counter() - started
        print(f"  {args.orders:,} orders mirrored as completed in {mirrored:.1f} s (their invoices queued)",
              flush=True)
        issued, last_print = 0, 0.0
        while issued < args.orders and time.perf_counter() - started < args.deadline:
            time.sleep(0.25)
            issued = Invoice.objects.count()
            if time.perf_counter() - last_print >= 10:
                last_print = time.perf_counter()
                print(f"    {last_print - started:6.1f} s: {issued:,} invoices", flush=True)
        wall = time.perf_counter() - started
        busy1, total1 = machine_busy()
        cpu = sum(tree_cpu(c.pid) for c in clusters) - cpu0
        pg = _support.postgres_server_cpu() - pg0

        span = Invoice.objects.aggregate(first=Min("created_at"), last=Max("created_at"), n=Max("sequence"),
                                         low=Min("sequence"))
        sequences = list(Invoice.objects.order_by("sequence").values_list("sequence", flat=True))
        gaps = len(set(range(1, args.orders + 1)) - set(sequences))
        duplicates = len(sequences) - len(set(sequences))
        wrong_totals = Invoice.objects.exclude(gross_total=F("order__total")).count()
        issuing = (span["last"] - span["first"]).total_seconds() if span["first"] else float("nan")
        gross = Invoice.objects.aggregate(total=Sum("gross_total"))["total"]
        print()
        print(f"  invoices issued      {len(sequences):,} of {args.orders:,} in {wall:.1f} s end to end "
              f"→ {len(sequences) / wall:,.1f} invoices/s")
        print(f"  while issuing        first to last invoice {issuing:.1f} s → "
              f"{len(sequences) / issuing if issuing else 0:,.1f} invoices/s (goal ≥ {GOAL})")
        print(f"  numbers              {span['low']}..{span['n']}: {gaps} gaps, {duplicates} duplicates; "
              f"{wrong_totals} totals differing from their order's; {gross} EUR in all")
        print(f"  CPU                  workers {cpu:.1f} s ({cpu / max(len(sequences), 1) * 1000:.2f} ms per invoice), "
              f"PostgreSQL (whole server) {pg:.1f} s; machine {100 * (busy1 - busy0) / max(total1 - total0, 1):.0f} % busy; "
              f"load average {os.getloadavg()[0]:.2f}")
        ok = len(sequences) == args.orders and gaps == 0 and duplicates == 0 and wrong_totals == 0
        print(f"  checks               {'OK' if ok else 'FAILED'}")
    finally:
        for cluster in clusters:
            stop_cluster(cluster)
        for log in logs:
            log.close()
            if ok:
                os.unlink(log.name)
            else:
                print(f"  qcluster log kept: {log.name}")
        if not args.keep:
            drop_database()
    sys.exit(0 if ok else 1)


def profile_issuing(args, store, orders):
    """The workers' job without the workers: where an invoice's milliseconds go, queries included."""
    import cProfile
    import pstats

    from django.db import connection

    from accounting.models import Invoice
    from accounting.services.invoices import invoices_issue_due_batch
    from fulfillment.choices import EventSource
    from fulfillment.models import Order
    from fulfillment.services.mirror import orders_upsert

    completed = orders(args.orders, "completed")
    for payload in completed:
        payload["date_modified_gmt"] = "2026-12-01T12:00:00"
    for start in range(0, args.orders, 100):  # the follower's tasks go to Redis, where no worker takes them
        orders_upsert(store=store, payloads=completed[start:start + 100], source=EventSource.WEBHOOK)
    ids = list(Order.objects.order_by("pk").values_list("pk", flat=True))
    profiler = cProfile.Profile()
    shapes = {}  # the SQL of each query without its values → [count, seconds waiting for the database]

    def timed(execute, sql, params, many, context):
        begun = time.perf_counter()
        try:
            return execute(sql, params, many, context)
        finally:
            shape = shapes.setdefault(sql, [0, 0.0])
            shape[0] += 1
            shape[1] += time.perf_counter() - begun

    # The first half without the profiler (what a worker pays), the second under it (where it goes).
    half = (len(ids) // 2 // 20) * 20
    with connection.cursor() as cursor:
        cursor.execute("SELECT pg_backend_pid()")
        backend = cursor.fetchone()[0]  # the PostgreSQL process serving this one: its CPU is the database's share
    started, cpu0, pg0 = time.perf_counter(), time.process_time(), _support.process_cpu(backend)
    for start in range(0, half, 20):
        invoices_issue_due_batch(order_ids=ids[start:start + 20])
    wall, cpu, pg = time.perf_counter() - started, time.process_time() - cpu0, _support.process_cpu(backend) - pg0
    plain = Invoice.objects.count()
    print(f"  in process, batches of 20, no profiler: {plain:,} invoices in {wall:.2f} s wall "
          f"({plain / wall:,.1f}/s), CPU per invoice {cpu * 1000 / max(plain, 1):.2f} ms here and "
          f"{pg * 1000 / max(plain, 1):.2f} ms in its PostgreSQL backend; load average {os.getloadavg()[0]:.2f}")
    started, cpu0 = time.perf_counter(), time.process_time()
    with connection.execute_wrapper(timed):
        profiler.enable()
        for start in range(half, len(ids), 20):
            invoices_issue_due_batch(order_ids=ids[start:start + 20])
        profiler.disable()
    wall, cpu = time.perf_counter() - started, time.process_time() - cpu0
    query_count = sum(count for count, _ in shapes.values())
    issued = Invoice.objects.count() - plain
    print(f"  in process, batches of 20, under cProfile: {issued:,} invoices in {wall:.2f} s wall, "
          f"{cpu * 1000 / max(issued, 1):.2f} ms CPU and {query_count / max(issued, 1):.1f} queries per invoice")
    print("  queries by time spent in the database (count, total ms, ms each, SQL):")
    for sql, (count, seconds) in sorted(shapes.items(), key=lambda item: -item[1][1])[:12]:
        print(f"    {count:>7,} {seconds * 1000:>10,.0f} {seconds * 1000 / count:>8.2f}  {' '.join(sql.split())[:150]}")
    pstats.Stats(profiler).sort_stats("cumulative").print_stats(30)
    pstats.Stats(profiler).sort_stats("tottime").print_stats(25)
    return plain + issued == args.orders


if __name__ == "__main__":
    main()
