#!/usr/bin/env python
"""Benchmark: import N realistic orders (default 20,000) from a fake WooCommerce shop into PostgreSQL.

    .venv/bin/python bench/bench_import.py [--orders 20000] [--latency 0.4] [--shop-workers 8] [--concurrency 6]
                                           [--profile out.prof]

The shop (tests/fakes/woocommerce.py, OAuth1 checked on every request) runs in a separate process so its CPU
is not ours; it takes `--latency` seconds per answer (a real shop: 0.4-1 s for a page of 100) and works on at
most `--shop-workers` requests at once (PHP-FPM's pool). The import is the real one: import_run_execute(mode=all)
→ paging.OrderPages (pages of 100, the store's fetch_concurrency at once) → orders_upsert. It runs three times:
page by page (fetch_concurrency 1) and with `--concurrency` pages at once, each a first import into emptied order
tables (every order new), then a re-import (every order unchanged). Uses only the database `bench_backoffice`,
dropped and recreated at start. See bench/README.md.
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

def serve(count, seed, conn, latency=0.0, workers=None):
    """Child process: build the orders, serve them, answer "cpu" with our CPU seconds, "in_flight" with the most
    requests it had at once since the last "reset", stop on "stop"."""
    import logging

    from tests.fakes.woocommerce import FakeWooCommerce

    logging.getLogger("werkzeug").setLevel(logging.ERROR)  # no access log line per request
    shop = FakeWooCommerce()
    shop.orders = {o["id"]: o for o in _support.realistic_orders(count, seed=seed)}
    shop.delay, shop.workers = latency, workers
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
        elif command == "in_flight":
            conn.send(shop.max_in_flight)
        elif command == "reset":
            shop.max_in_flight = 0
            conn.send(True)
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
                with meter.lock:
                    meter.http += time.perf_counter() - started
                    meter.requests += 1

        def timed_parse(self, *args, **kwargs):
            started = time.perf_counter()
            try:
                return original_parse(self, *args, **kwargs)
            finally:
                with meter.lock:
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
                kind = " ".join(words[:1] if words[0] in ("SAVEPOINT", "RELEASE", "ROLLBACK") else
                                words[:3] if words[0] in ("INSERT", "DELETE") else
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


def report(title, *, run, elapsed, meter, cpu, server_cpu, pg_cpu, expected_total, writers, concurrency,
           shop_in_flight):
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
    print(f"  fetching ({concurrency} page(s) at once, the shop had at most {shop_in_flight} request(s) in flight; a thread "
          f"maps page n+1 while page n is written; overlaps the writers):")
    print(f"    server (HTTP)   : {share(meter.http)}  in {meter.requests} WooClient.request calls, added up over the "
          f"fetching threads; {meter.parse:.2f} s of it decoding JSON on our side")
    print(f"    mapping         : {share(meter.mapping)}  ({meter.mapped:,} map_order calls)")
    print(f"  writers ({writers} threads, each on its own connection, each page its own transaction; their times add up):")
    print(f"    writing pages   : {share(meter.writing)}  (orders_upsert; the writers were busy "
          f"{100 * meter.writing / (writers * elapsed):.0f} % of the time, the rest waiting for pages)")
    print(f"      SQL           : {share(sql_in_writing)}  ({meter.queries:,} queries, "
          f"{meter.queries / max(run.pages_done, 1):.1f} per page; {meter.sql_cpu:.2f} s of it our CPU in psycopg "
          f"(quoting, sending, reading), the rest waiting for PostgreSQL)")
    for kind, (count, seconds) in sorted(meter.statements.items(), key=lambda item: -item[1][1])[:8]:
        print(f"        {seconds:7.2f} s  {count:5d} × {kind}")
    print(f"    COMMIT          : {share(meter.commit)}  ({meter.commits} transactions, each page's after the one "
          f"before it)")
    print(f"      rest (Python) : {share(meter.writing - sql_in_writing)}  (including the time the "
          f"writers waited for the GIL)")
    db_side = run.orders_seen / ((meter.writing + meter.commit) / writers) if meter.writing else 0.0
    print(f"  database side     : {db_side:7,.0f} orders/s  (orders ÷ the writers' time in orders_upsert and COMMIT, "
          f"per writer; target ≥ {TARGET_ORDERS_PER_SECOND:,}: "
          f"{'met' if db_side >= TARGET_ORDERS_PER_SECOND else 'NOT MET'})")
    print(f"  CPU               : ours {cpu:.2f} s (all threads), PostgreSQL server {pg_cpu:.2f} s, shop process "
          f"{server_cpu:.2f} s; load average now {os.getloadavg()[0]:.2f} on {os.cpu_count()} CPUs")
    print(f"  CPU-bound ceiling : {run.orders_seen / cpu if cpu else 0:,.0f} orders/s from our CPU alone (one process)")
    ok = run.orders_seen == expected_total and run.failed == 0 and not run.error
    return ok, rate


def main():
    parser = argparse.ArgumentParser(description=__doc__.split("\n\n")[0])
    parser.add_argument("--orders", type=int, default=20_000)
    parser.add_argument("--seed", type=int, default=2026)
    parser.add_argument("--latency", type=float, default=0.4, help="seconds the shop takes per answer (0.4)")
    parser.add_argument("--shop-workers", type=int, default=8, help="requests the shop works on at once (8)")
    parser.add_argument("--concurrency", type=int, default=6, help="pages asked for at once (the store's setting, 6)")
    parser.add_argument("--profile", metavar="FILE", help="write a cProfile of the first import to FILE")
    args = parser.parse_args()

    os.environ.update(DATABASE_URL=_support.DATABASE_URL, DJANGO_SETTINGS_MODULE="backoffice.settings", DEBUG="0",
                      LOG_LEVEL="WARNING")
    os.environ.pop("REDIS_URL", None)  # the import queues nothing; keep the broker out of it

    print(f"bench_import: {args.orders:,} orders, PostgreSQL database {_support.BENCH_DB} (recreated); "
          f"{os.cpu_count()} CPUs, load average {' / '.join(f'{x:.2f}' for x in os.getloadavg())} (1/5/15 min)")
    started = time.perf_counter()
    context = multiprocessing.get_context("spawn")
    ours, theirs = context.Pipe()
    shop = context.Process(target=serve, args=(args.orders, args.seed, theirs, args.latency, args.shop_workers),
                           daemon=True)
    shop.start()
    _support.reset_database()
    info = ours.recv()
    print(f"  shop at {info['url']} (separate process {shop.pid}, threaded, {args.latency:g} s per answer, at most "
          f"{args.shop_workers} requests at once): {info['orders']:,} orders, "
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

    def shop_in_flight(reset=False):
        ours.send("reset" if reset else "in_flight")
        return ours.recv()

    from django.db import connection

    rounds = [
        ("page by page (1 page at a time), first import (every order new)", 1, True),
        (f"{args.concurrency} pages at once, first import (every order new)", args.concurrency, True),
        (f"{args.concurrency} pages at once, re-import (every order unchanged)", args.concurrency, False),
    ]
    all_ok, rates = True, []
    try:
        for index, (title, concurrency, new) in enumerate(rounds):
            if new and index:
                with connection.cursor() as cursor:
                    cursor.execute("TRUNCATE fulfillment_order, fulfillment_importrun CASCADE")
                print("\n  (order tables emptied: this import too finds every order new)")
            if not new:
                # Autovacuum would have analysed the freshly filled tables by the time anyone re-imports (it is
                # off on some servers, this one included); without statistics the planner scans whole tables.
                with connection.cursor() as cursor:
                    cursor.execute("ANALYZE fulfillment_order, fulfillment_orderline, fulfillment_refund, "
                                   "fulfillment_orderevent")
                print("\n  (ANALYZE of the order tables before the re-import, as autovacuum would have done)")
            Store.objects.filter(pk=store.pk).update(fetch_concurrency=concurrency)
            store.refresh_from_db()
            run = import_run_create(store=store, mode=ImportMode.ALL)
            meter.reset()
            shop_in_flight(reset=True)
            profiler = None
            if args.profile and index == 1:
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
            ok, rate = report(title, run=run, elapsed=elapsed, meter=meter, cpu=cpu, server_cpu=server, pg_cpu=pg,
                              expected_total=info["orders"], writers=PAGE_WRITERS, concurrency=concurrency,
                              shop_in_flight=shop_in_flight())
            all_ok &= ok
            rates.append((elapsed, rate))
            expected = {"created": info["orders"], "updated": 0, "unchanged": 0} if new else \
                {"created": 0, "updated": 0, "unchanged": info["orders"]}
            got = {"created": run.created, "updated": run.updated, "unchanged": run.unchanged}
            if got != expected:
                print(f"  UNEXPECTED counters: {got}, expected {expected}")
                all_ok = False
        # The fetching alone, nothing written: what the shop lets through at this many requests at once, whatever
        # the database (and the machine's other work) allows the writers.
        from fulfillment.integrations.woocommerce.client import WooClient
        from fulfillment.integrations.woocommerce.paging import OrderPages

        pages_alone = OrderPages(WooClient.for_store(store), {"orderby": "id", "order": "asc"},
                                 concurrency=args.concurrency)
        t0 = time.perf_counter()
        fetched = sum(len(page.items) for page in pages_alone)
        fetch_time = time.perf_counter() - t0
        (one_time, one_rate), (many_time, many_rate) = rates[0], rates[1]
        pages = -(-info["orders"] // 100)
        print(f"\n== summary ({args.latency:g} s per page, the shop serving {args.shop_workers} at once) ==")
        print(f"  page by page      : {one_time:7.2f} s  ({one_rate:,.0f} orders/s; the shop's own ceiling one at a "
              f"time: {pages} pages × {args.latency:g} s = {pages * args.latency:.1f} s)")
        print(f"  {args.concurrency} pages at once  : {many_time:7.2f} s  ({many_rate:,.0f} orders/s; target ≥ "
              f"{TARGET_ORDERS_PER_SECOND:,}: {'met' if many_rate >= TARGET_ORDERS_PER_SECOND else 'NOT MET'})")
        ratio = one_time / many_time if many_time else 0.0
        print(f"  ratio             : {ratio:.1f}×  (goal ≥ 4×: {'met' if ratio >= 4 else 'NOT MET'})")
        print(f"  fetching alone    : {fetch_time:7.2f} s  for {fetched:,} orders, {args.concurrency} pages at once, "
              f"nothing written ({fetched / fetch_time:,.0f} orders/s; {one_time / fetch_time:.1f}× the page-by-page "
              f"import, at most {pages_alone.max_in_flight} requests in flight)")
        all_ok &= fetched == info["orders"]
        print(f"  load average now  : {' / '.join(f'{x:.2f}' for x in os.getloadavg())} (1/5/15 min)")
        counts = {"orders": Order.objects.filter(store=store).count(),
                  "lines": OrderLine.objects.filter(order__store=store).count(),
                  "refunds": Refund.objects.filter(order__store=store).count(),
                  "events": OrderEvent.objects.filter(order__store=store).count()}
        # An event per order (its arrival) and one per refund made in WooCommerce.
        wanted = {"orders": info["orders"], "lines": info["lines"], "refunds": info["refunds"],
                  "events": info["orders"] + info["refunds"]}
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
