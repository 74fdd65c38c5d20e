#!/usr/bin/env python
"""Benchmark: import N realistic orders (default 20,000) from a fake WooCommerce shop into PostgreSQL.

    .venv/bin/python bench/bench_import.py [--orders 20000] [--profile out.prof]

The shop (tests/fakes/woocommerce.py, OAuth1 checked on every request) runs in a separate process so its CPU
is not ours. The import is the real one: import_run_execute(mode=all) → WooClient pages of 100 →
orders_upsert. It runs twice: a first import (every order new) and a re-import (every order unchanged).
Uses only the database `bench_backoffice`, dropped and recreated at start. See bench/README.md.
"""

import argparse
import multiprocessing
import os
import sys
import time
from pathlib import Path

sys.path.insert(0, str(Path(__file__).resolve().parent))

import _support  # noqa: E402  (puts the project root on sys.path)

TARGET_ORDERS_PER_SECOND = 1000


# -- the shop, in its own process ---------------------------------------------------------------------------------

def serve(count, seed, conn):
    """Child process: build the orders, serve them, answer "cpu" with our CPU seconds, stop on "stop"."""
    import logging

    from tests.fakes.woocommerce import FakeWooCommerce

    logging.getLogger("werkzeug").setLevel(logging.ERROR)  # no access log line per request
    shop = FakeWooCommerce()
    shop.orders = {o["id"]: o for o in _support.realistic_orders(count, seed=seed)}
    shop.start(threaded=True)
    conn.send({"url": shop.url, "key": shop.consumer_key, "secret": shop.consumer_secret, "orders": len(shop.orders),
               "lines": sum(len(o["line_items"]) for o in shop.orders.values()),
               "refunds": sum(len(o["refunds"]) for o in shop.orders.values()),
               "currencies": len({o["currency"] for o in shop.orders.values()}),
               "countries": len({o["shipping"]["country"] for o in shop.orders.values()})})
    while True:
        command = conn.recv()
        if command == "cpu":
            conn.send(time.process_time())
        elif command == "requests":
            conn.send(len(shop.requests))
        else:
            break
    shop.stop()


# -- measuring ----------------------------------------------------------------------------------------------------

class Meter:
    """Wall time spent in HTTP (WooClient.request), JSON decoding, mapping and SQL, plus a query count.

    The pages are written by several threads at once (imports.PAGE_WRITERS), each on its own connection: the SQL
    of every connection is measured, and the times of the writers add up.
    """

    def __init__(self):
        import threading

        self.lock = threading.Lock()
        self.reset()

    def reset(self):
        self.http = self.parse = self.mapping = self.sql = self.sql_cpu = self.commit = self.writing = 0.0
        self.requests = self.queries = self.mapped = self.commits = 0
        self.statements = {}  # statement kind → [count, seconds]

    def install(self):
        from django.db import connection, connections
        from django.db.backends.signals import connection_created

        from fulfillment.integrations.woocommerce import client as client_module
        from fulfillment.services import imports, mirror

        meter = self
        original_upsert = imports.orders_upsert

        def timed_upsert(*args, **kwargs):
            started = time.perf_counter()
            try:
                return original_upsert(*args, **kwargs)
            finally:
                with meter.lock:
                    meter.writing += time.perf_counter() - started

        imports.orders_upsert = timed_upsert
        original_request = client_module.WooClient.request
        original_parse = client_module.WooClient._parse
        original_map = mirror.map_order

        def timed_request(self, *args, **kwargs):
            started = time.perf_counter()
            try:
                return original_request(self, *args, **kwargs)
            finally:
                meter.http += time.perf_counter() - started
                meter.requests += 1

        def timed_parse(self, *args, **kwargs):
            started = time.perf_counter()
            try:
                return original_parse(self, *args, **kwargs)
            finally:
                meter.parse += time.perf_counter() - started

        def timed_map(payload):
            started = time.perf_counter()
            try:
                return original_map(payload)
            finally:
                meter.mapping += time.perf_counter() - started
                meter.mapped += 1

        def timed_sql(execute, sql, params, many, context):
            started, cpu = time.perf_counter(), time.thread_time()
            try:
                return execute(sql, params, many, context)
            finally:
                took, used = time.perf_counter() - started, time.thread_time() - cpu
                words = sql.split(None, 3)
                kind = " ".join(words[:3] if words[0] in ("INSERT", "DELETE") else
                                [words[0], sql.partition(" FROM ")[2].split(None, 1)[0]] if " FROM " in sql
                                else words[:2])
                with meter.lock:
                    meter.sql += took
                    meter.sql_cpu += used
                    meter.queries += 1
                    entry = meter.statements.setdefault(kind.replace('"', ""), [0, 0.0])
                    entry[0] += 1
                    entry[1] += took

        wrapper_class = type(connections["default"])  # the backend's DatabaseWrapper
        original_commit = wrapper_class._commit

        def timed_commit(self):
            started = time.perf_counter()
            try:
                return original_commit(self)
            finally:
                with meter.lock:
                    meter.commit += time.perf_counter() - started
                    meter.commits += 1

        wrapper_class._commit = timed_commit

        client_module.WooClient.request = timed_request
        client_module.WooClient._parse = timed_parse
        mirror.map_order = timed_map
        connection.execute_wrappers.append(timed_sql)  # for the whole run (execute_wrapper() is a with-block)

        def on_new_connection(sender, connection, **kwargs):  # the page writers' own connections
            if timed_sql not in connection.execute_wrappers:
                connection.execute_wrappers.append(timed_sql)

        connection_created.connect(on_new_connection, weak=False)


def report(title, *, run, elapsed, meter, cpu, server_cpu, pg_cpu, expected_total, writers):
    rate = run.orders_seen / elapsed if elapsed else 0.0
    sql_in_writing = meter.sql - meter.statements.get("UPDATE fulfillment_importrun", [0, 0.0])[1]

    def share(seconds):
        return f"{seconds:7.2f} s  ({100 * seconds / elapsed:4.1f} %)"

    print(f"\n== {title} ==")
    print(f"  result            : {run.get_state_display()}, {run.orders_seen:,} orders in {run.pages_done} pages: "
          f"{run.created:,} created, {run.updated:,} updated, {run.unchanged:,} unchanged, {run.failed:,} failed"
          + (f"  ERROR: {run.error}" if run.error else ""))
    print(f"  total             : {elapsed:7.2f} s")
    print(f"  throughput        : {rate:7,.0f} orders/s   (target ≥ {TARGET_ORDERS_PER_SECOND:,}: "
          f"{'met' if rate >= TARGET_ORDERS_PER_SECOND else 'NOT MET'})")
    print("  fetch thread (reads the shop and maps page n+1 while page n is written; overlaps the writer):")
    print(f"    server (HTTP)   : {share(meter.http)}  in {meter.requests} WooClient.request calls, "
          f"of which {meter.parse:.2f} s decoding JSON on our side")
    print(f"    mapping         : {share(meter.mapping)}  ({meter.mapped:,} map_order calls)")
    print(f"  writers ({writers} threads, each on its own connection, each page its own transaction; their times add up):")
    print(f"    writing pages   : {share(meter.writing)}  (orders_upsert; the writers were busy "
          f"{100 * meter.writing / (writers * elapsed):.0f} % of the time, the rest waiting for pages)")
    print(f"      SQL           : {share(sql_in_writing)}  ({meter.queries:,} queries, "
          f"{meter.queries / max(run.pages_done, 1):.1f} per page; {meter.sql_cpu:.2f} s of it our CPU in psycopg "
          f"(quoting, sending, reading), the rest waiting for PostgreSQL)")
    for kind, (count, seconds) in sorted(meter.statements.items(), key=lambda item: -item[1][1])[:8]:
        print(f"        {seconds:7.2f} s  {count:5d} × {kind}")
    print(f"      COMMIT        : {share(meter.commit)}  ({meter.commits} transactions)")
    print(f"      rest (Python) : {share(meter.writing - sql_in_writing - meter.commit)}  (including the time the "
          f"writers waited for the GIL)")
    print(f"  CPU               : ours {cpu:.2f} s (all threads), PostgreSQL server {pg_cpu:.2f} s, shop process "
          f"{server_cpu:.2f} s; load average now {os.getloadavg()[0]:.2f} on {os.cpu_count()} CPUs")
    print(f"  CPU-bound ceiling : {run.orders_seen / cpu if cpu else 0:,.0f} orders/s from our CPU alone (one process)")
    ok = run.orders_seen == expected_total and run.failed == 0 and not run.error
    return ok


def main():
    parser = argparse.ArgumentParser(description=__doc__.split("\n\n")[0])
    parser.add_argument("--orders", type=int, default=20_000)
    parser.add_argument("--seed", type=int, default=2026)
    parser.add_argument("--profile", metavar="FILE", help="write a cProfile of the first import to FILE")
    args = parser.parse_args()

    os.environ.update(DATABASE_URL=_support.DATABASE_URL, DJANGO_SETTINGS_MODULE="backoffice.settings", DEBUG="0",
                      LOG_LEVEL="WARNING")
    os.environ.pop("REDIS_URL", None)  # the import queues nothing; keep the broker out of it

    print(f"bench_import: {args.orders:,} orders, PostgreSQL database {_support.BENCH_DB} (recreated); "
          f"{os.cpu_count()} CPUs, load average {os.getloadavg()[0]:.2f}")
    started = time.perf_counter()
    context = multiprocessing.get_context("spawn")
    ours, theirs = context.Pipe()
    shop = context.Process(target=serve, args=(args.orders, args.seed, theirs), daemon=True)
    shop.start()
    _support.reset_database()
    info = ours.recv()
    print(f"  shop at {info['url']} (separate process {shop.pid}, threaded): {info['orders']:,} orders, "
          f"{info['lines']:,} lines, {info['refunds']:,} refunds, {info['currencies']} currencies, "
          f"{info['countries']} countries; set up in {time.perf_counter() - started:.1f} s")

    import django

    django.setup()
    from fulfillment.choices import ImportMode
    from fulfillment.models import Order, OrderEvent, OrderLine, Refund, Store
    from fulfillment.services.imports import PAGE_WRITERS, import_run_create, import_run_execute

    store = Store.objects.create(slug="bench", name="Bench shop", base_url=info["url"], consumer_key=info["key"],
                                 consumer_secret=info["secret"], webhook_secret="benchsecret")
    meter = Meter()
    meter.install()

    def server_cpu():
        ours.send("cpu")
        return ours.recv()

    all_ok = True
    try:
        for index, title in enumerate(("first import (every order new)", "re-import (every order unchanged)")):
            if index == 1:
                # Autovacuum would have analysed the freshly filled tables by the time anyone re-imports (it is
                # off on some servers, this one included); without statistics the planner scans whole tables.
                from django.db import connection

                with connection.cursor() as cursor:
                    cursor.execute("ANALYZE fulfillment_order, fulfillment_orderline, fulfillment_refund, "
                                   "fulfillment_orderevent")
                print("\n  (ANALYZE of the order tables before the re-import, as autovacuum would have done)")
            run = import_run_create(store=store, mode=ImportMode.ALL)
            meter.reset()
            profiler = None
            if args.profile and index == 0:
                import cProfile

                profiler = cProfile.Profile()
            cpu0, server0, pg0 = time.process_time(), server_cpu(), _support.postgres_server_cpu()
            t0 = time.perf_counter()
            if profiler:
                profiler.enable()
            run = import_run_execute(run=run)
            if profiler:
                profiler.disable()
                profiler.dump_stats(args.profile)
            elapsed = time.perf_counter() - t0
            cpu, server = time.process_time() - cpu0, server_cpu() - server0
            time.sleep(0.5)  # the writers' backends have ended: let the postmaster reap them (and count their CPU)
            pg = _support.postgres_server_cpu() - pg0
            all_ok &= report(title, run=run, elapsed=elapsed, meter=meter, cpu=cpu, server_cpu=server, pg_cpu=pg,
                             expected_total=info["orders"], writers=PAGE_WRITERS)
            expected = {"created": info["orders"], "updated": 0, "unchanged": 0} if index == 0 else \
                {"created": 0, "updated": 0, "unchanged": info["orders"]}
            got = {"created": run.created, "updated": run.updated, "unchanged": run.unchanged}
            if got != expected:
                print(f"  UNEXPECTED counters: {got}, expected {expected}")
                all_ok = False
        counts = {"orders": Order.objects.filter(store=store).count(),
                  "lines": OrderLine.objects.filter(order__store=store).count(),
                  "refunds": Refund.objects.filter(order__store=store).count(),
                  "events": OrderEvent.objects.filter(order__store=store).count()}
        wanted = {"orders": info["orders"], "lines": info["lines"], "refunds": info["refunds"],
                  "events": info["orders"]}
        print(f"\n  stored: {counts['orders']:,} orders, {counts['lines']:,} lines, {counts['refunds']:,} refunds, "
              f"{counts['events']:,} events  ({'as served' if counts == wanted else f'EXPECTED {wanted}'})")
        all_ok &= counts == wanted
        if args.profile:
            print(f"  cProfile of the first import written to {args.profile} "
                  f"(.venv/bin/python -m pstats {args.profile})")
    finally:
        ours.send("stop")
        shop.join(timeout=10)
        from django.db import connections

        connections.close_all()
    return 0 if all_ok else 1


if __name__ == "__main__":
    sys.exit(main())
