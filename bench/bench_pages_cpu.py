#!/usr/bin/env python
"""Benchmark: Django's own CPU for the staff pages, in process: the order list, the order page of a big order
(50 lines, 200 events), the reservations list and the invoices list.

    .venv/bin/python bench/bench_pages_cpu.py [--runs 30] [--warmups 5] [--profile CASE] [--database-url URL]

The machine is shared, so wall time says little: each request is measured as the CPU time of this process
(`time.process_time()`: session, middleware, the changelist or the order page, rendering, and the database
driver's own work) and the time spent in SQL (`connection.execute_wrapper` around every statement). Prints for
each case: wall median / p95, CPU median / p95, SQL ms and the number of queries of a request, and the load average.

By default a fresh SQLite file in /tmp (migrated, filled through the ORM: 3 stores, 300 orders, one order with 50
lines and 200 timeline events, 300 reservations, 150 invoices), removed at the end: the SQL is then a few ms and
the CPU is Django's. `--database-url postgres://...` fills and uses that (empty) database instead. At 1,000,000
orders on PostgreSQL, see bench_order_list.py (which measures the order page too).

`--profile CASE` (a case's key, e.g. `list`, `order-page`) prints cProfile's top functions of --runs requests of that
case, by own time and by cumulative time, instead of the table.
"""

import argparse
import cProfile
import io
import os
import pstats
import statistics
import sys
import tempfile
import time
from contextlib import contextmanager
from datetime import UTC, date, datetime, timedelta
from decimal import Decimal
from pathlib import Path

ROOT = Path(__file__).resolve().parent.parent
if str(ROOT) not in sys.path:
    sys.path.insert(0, str(ROOT))

LINES, EVENTS = 50, 200


class SqlTimer:
    """connection.execute_wrapper: the number of statements and the time spent in them."""

    def __init__(self):
        self.count, self.seconds = 0, 0.0

    def __call__(self, execute, sql, params, many, context):
        started = time.perf_counter()
        try:
            return execute(sql, params, many, context)
        finally:
            self.seconds += time.perf_counter() - started
            self.count += 1


@contextmanager
def sql_timer():
    from django.db import connection

    timer = SqlTimer()
    with connection.execute_wrapper(timer):
        yield timer


def one_request(client, url):
    """(wall ms, CPU ms, SQL ms, queries, response)."""
    with sql_timer() as sql:
        started, cpu = time.perf_counter(), time.process_time()
        response = client.get(url)
        wall, cpu = (time.perf_counter() - started) * 1000, (time.process_time() - cpu) * 1000
    if response.status_code != 200:
        raise SystemExit(f"{url}: HTTP {response.status_code}")
    return wall, cpu, sql.seconds * 1000, sql.count, response


def nearest_rank(values, share):
    ordered = sorted(values)
    return ordered[max(0, min(len(ordered), -(-share * len(ordered) // 100)) - 1)]


def measure(client, url, runs, warmups, before=None):
    """Median and p95 of wall and CPU ms over `runs` requests after `warmups`; SQL ms and queries (medians)."""
    for _ in range(warmups):
        if before:
            before()
        one_request(client, url)
    walls, cpus, sqls, counts = [], [], [], []
    for _ in range(runs):
        if before:
            before()
        wall, cpu, sql, count, response = one_request(client, url)
        walls.append(wall)
        cpus.append(cpu)
        sqls.append(sql)
        counts.append(count)
    return {"wall": statistics.median(walls), "wall95": nearest_rank(walls, 95), "cpu": statistics.median(cpus),
            "cpu95": nearest_rank(cpus, 95), "sql": statistics.median(sqls), "queries": max(counts),
            "bytes": len(response.content)}


def load_average():
    return ", ".join(f"{x:.1f}" for x in os.getloadavg())


# -- data ---------------------------------------------------------------------------------------------------------

def make_big(big, user, start):
    """Make `big` an order of LINES lines and EVENTS timeline entries (status changes, staff notes, pushes sent)."""
    from fulfillment.choices import EventSource, EventType
    from fulfillment.events import order_event, status_changed_event
    from fulfillment.models import Order, OrderEvent, OrderLine
    from fulfillment.texts import text

    Order.objects.filter(pk=big.pk).update(item_count=LINES, status="processing")
    OrderLine.objects.bulk_create([
        OrderLine(order=big, woo_line_id=900_000 + n, name=f"Photo book A4, {20 + n} pages", product_id=21 + n,
                  sku=f"BOOK-A4-{n:02d}", quantity=1 + n % 3, price=Decimal("34.90"), subtotal=Decimal("34.90"),
                  total=Decimal("34.90") * (1 + n % 3), total_tax=Decimal("6.98"),
                  meta=[{"key": "Cover", "value": "Hardcover"}, {"key": "_reduced_stock", "value": "1"}])
        for n in range(LINES)])
    events, kinds = [], ["processing", "on-hold", "awaiting-artwork", "processing"]
    for n in range(EVENTS):
        if n % 4 == 0:
            event = status_changed_event(big, before=kinds[n % 3], after=kinds[(n + 1) % 3],
                                         source=EventSource.STAFF, user=user, note=f"call {n}" if n % 8 else "")
        elif n % 4 == 1:
            event = OrderEvent(order=big, type=EventType.NOTE_ADDED, source=EventSource.STAFF, user=user,
                               message=f"Customer phoned about the cover, call {n}", data={"customer_note": n % 2 == 0})
        else:
            event = order_event(text("Sent to WooCommerce: %(kind)s", kind="status"), order_id=big.pk,
                                type=EventType.PUSH_SENT, source=EventSource.SYSTEM, data={"n": n})
        events.append(event)
    OrderEvent.objects.bulk_create(events)
    OrderEvent.objects.filter(order=big).update(created_at=start)
    return Order.objects.get(pk=big.pk)


def fill():
    """Stores, orders, the big order, reservations, invoices: through the ORM, in bulk."""
    from django.contrib.auth import get_user_model

    from accounting.models import Invoice, InvoiceSeries
    from fulfillment.choices import ReservationSync, SubmitStatus
    from fulfillment.models import Order, OrderLine, Reservation, Store, Supplier

    stores = [Store.objects.create(slug=slug, name=name, base_url=f"https://{slug}.shop.example", currency=currency,
                                   consumer_key="ck_bench", consumer_secret="cs_bench", webhook_secret="bench",
                                   timezone=zone)
              for slug, name, currency, zone in (("eu", "Photo gifts EU", "EUR", "Europe/Amsterdam"),
                                                 ("uk", "Photo gifts UK", "GBP", "Europe/London"),
                                                 ("us", "Photo gifts US", "USD", "America/New_York"))]
    statuses = ["processing", "processing", "completed", "on-hold", "awaiting-artwork", "pending", "cancelled"]
    types = ["in_app", "other", "amazon", "shineon"]
    names = ["Anna Müller", "Oliver Smith", "Léa Dubois", "Lucía García", "Daan de Vries", "Giulia Rossi"]
    start = datetime.now(UTC) - timedelta(days=20)
    orders = []
    for i in range(300):
        store = stores[i % 3]
        failed = i % 11 == 0
        orders.append(Order(
            store=store, woo_id=10_000 + i, number=str(10_000 + i), status=statuses[i % len(statuses)],
            created_at=start + timedelta(minutes=97 * i), modified_at=start + timedelta(minutes=97 * i),
            customer_name=names[i % len(names)], customer_email=f"customer{i}@example.com",
            city=["Berlin", "London", "Paris", "Madrid"][i % 4], country=["DE", "GB", "FR", "ES"][i % 4],
            state="NY" if i % 5 == 0 else "", currency=store.currency, total=Decimal("12.50") + i,
            payment_method_title=["PayPal", "Credit card (Stripe)", "iDEAL"][i % 3], item_count=1 + i % 4,
            order_type=types[i % 4],
            submit_status=SubmitStatus.FAILED if failed else (SubmitStatus.SUBMITTED if i % 3 else SubmitStatus.NONE),
            submit_error="Printer API timeout after 30 s" if failed else "",
            countdown_due_at=start + timedelta(days=30) if i % 7 == 0 else None,
            billing={"first_name": "Anna", "email": f"customer{i}@example.com"},
            shipping={"first_name": "Anna", "last_name": "Müller", "address_1": "Hauptstraße 2", "city": "Berlin",
                      "postcode": "10115", "country": "DE"}))
    Order.objects.bulk_create(orders)
    orders = list(Order.objects.order_by("pk"))
    OrderLine.objects.bulk_create([OrderLine(order=o, woo_line_id=800_000 + o.pk, name="Photo mug", sku="MUG-11",
                                             quantity=1, total=Decimal("9.50")) for o in orders[:-1]])
    user = get_user_model().objects.create_superuser("bench", "bench@example.com", "bench")
    big = make_big(orders[-1], user, start)
    supplier = Supplier.objects.create(store=stores[0], name="BDroppy", base_url="https://supplier.example",
                                       api_user="bench", credentials_env="BENCH_SUPPLIER_PASSWORD")
    syncs = [ReservationSync.IN_SYNC, ReservationSync.IN_SYNC, ReservationSync.RETRYING, ReservationSync.FAILED]
    Reservation.objects.bulk_create([
        Reservation(order=orders[i % 299], supplier=supplier, stock_id=str(234_000 + i), woo_line_id=i,
                    woo_product_id=5000 + i, sku=f"SCARF-{i}", name="Wool blend scarf", size=["S", "M", "L"][i % 3],
                    quantity=1 + i % 2, sync=syncs[i % 4], attempts=i % 4,
                    sync_error="Out of stock at BDroppy" if syncs[i % 4] == ReservationSync.FAILED else "")
        for i in range(300)])
    series = {store.pk: InvoiceSeries.objects.create(store=store, name="Invoices", prefix=f"{store.slug.upper()}-")
              for store in stores}
    invoices = []
    for i, order in enumerate(orders[:150]):
        invoices.append(Invoice(
            store=order.store, order=order, kind="invoice", cause="order", series=series[order.store_id], year=2026,
            sequence=i + 1, number=f"{order.store.slug.upper()}-2026-{i + 1:06d}", issue_date=date(2026, 11, 20),
            currency=order.currency, net_total=Decimal("33.06"), vat_total=Decimal("6.94"),
            gross_total=Decimal("40.00"), buyer_name=order.customer_name, buyer_country=order.country,
            document={"lines": []}, export_state=["open", "exported", "failed"][i % 3],
            external_id=f"mb-{i}" if i % 3 == 1 else "", export_error="Moneybird: 422" if i % 3 == 2 else ""))
    Invoice.objects.bulk_create(invoices)
    return big, user


def cases(big):
    return [
        ("list", "order list, page 1", "/admin/fulfillment/order/"),
        ("list-status", "order list, status=processing", "/admin/fulfillment/order/?status=processing"),
        ("list-search", "order list, name search", "/admin/fulfillment/order/?q=M%C3%BCller"),
        ("order-page", f"order page ({LINES} lines, {EVENTS} events)", f"/admin/fulfillment/order/{big.pk}/change/"),
        ("reservations", "reservations list", "/admin/fulfillment/reservation/"),
        ("invoices", "invoices list", "/admin/accounting/invoice/"),
    ]


def main():
    parser = argparse.ArgumentParser(description=__doc__.split("\n\n")[0])
    parser.add_argument("--runs", type=int, default=30)
    parser.add_argument("--warmups", type=int, default=5)
    parser.add_argument("--profile", metavar="CASE", help="cProfile one case instead of the table")
    parser.add_argument("--database-url", help="an empty database to fill (default: a SQLite file in /tmp)")
    parser.add_argument("--language", default="en", help="the staff language of the pages (default en)")
    args = parser.parse_args()

    sqlite = None
    if args.database_url:
        os.environ["DATABASE_URL"] = args.database_url
    else:
        sqlite = Path(tempfile.mkdtemp(prefix="bench-pages-")) / "bench.sqlite3"
        os.environ["DATABASE_URL"] = f"sqlite:///{sqlite}"
    os.environ["DJANGO_SETTINGS_MODULE"] = "backoffice.settings"
    os.environ["ALLOWED_HOSTS"] = "testserver,localhost"
    os.environ.pop("REDIS_URL", None)
    os.environ["DEBUG"] = "0"
    try:
        return run(args)
    finally:
        if sqlite:
            for path in sqlite.parent.iterdir():
                path.unlink()
            sqlite.parent.rmdir()


def run(args):
    import django

    django.setup()
    from django.core.cache import cache
    from django.core.management import call_command
    from django.test import Client
    from django.utils import translation

    started = time.perf_counter()
    call_command("migrate", verbosity=0)
    big, user = fill()
    print(f"Migrated and filled in {time.perf_counter() - started:.1f} s", flush=True)
    client = Client()
    client.force_login(user)
    if args.language != "en":
        session = client.session
        session["_language"] = args.language
        session.save()
        client.cookies["django_language"] = args.language
    translation.activate(args.language)
    chosen = [c for c in cases(big) if not args.profile or c[0] == args.profile]
    if not chosen:
        raise SystemExit(f"--profile: no case {args.profile!r}; cases: {', '.join(c[0] for c in cases(big))}")
    if args.profile:
        key, label, url = chosen[0]
        for _ in range(args.warmups):
            one_request(client, url)
        profiler = cProfile.Profile()
        profiler.enable()
        for _ in range(args.runs):
            client.get(url)
        profiler.disable()
        for order in ("tottime", "cumulative"):
            out = io.StringIO()
            pstats.Stats(profiler, stream=out).sort_stats(order).print_stats(45)
            print(f"=== {label}: {args.runs} requests, by {order}\n{out.getvalue()}")
        return 0
    results = []
    for key, label, url in chosen:
        results.append((label, measure(client, url, args.runs, args.warmups)))
        print(f"  measured {label}", flush=True)
    cache.clear()
    width = max(len(label) for label, _ in results)
    print(f"\nIn process, {args.runs} requests per case after {args.warmups} warm-ups, "
          f"{os.environ['DATABASE_URL'].split(':')[0]}\n")
    print(f"{'case':<{width}}  {'wall med':>8}  {'wall p95':>8}  {'CPU med':>7}  {'CPU p95':>7}  {'SQL ms':>6}  "
          f"{'queries':>7}  {'KB':>5}")
    for label, r in results:
        print(f"{label:<{width}}  {r['wall']:>8.1f}  {r['wall95']:>8.1f}  {r['cpu']:>7.1f}  {r['cpu95']:>7.1f}  "
              f"{r['sql']:>6.1f}  {r['queries']:>7}  {r['bytes'] / 1024:>5.0f}")
    print(f"\nCPU: time.process_time() of the request (Django and the driver); SQL: time inside the statements "
          f"(execute_wrapper), median. Load average: {load_average()} on {os.cpu_count()} CPUs.")
    return 0


if __name__ == "__main__":
    sys.exit(main())
