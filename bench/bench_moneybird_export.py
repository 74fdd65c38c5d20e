#!/usr/bin/env python
"""Benchmark: export N invoices and credit notes (default 10,000) to a local Moneybird with MoneybirdConnector.

    .venv/bin/python bench/bench_moneybird_export.py [--invoices 10000] [--customers 200] [--lookups 500]

The local Moneybird (tests/fakes/moneybird.py: bearer token, contacts by customer_id, tax rates, external sales
invoices with a unique reference, PDF uploads) runs in a separate process, threaded, its request limit lifted, so
its CPU is not ours. The export is the real one: accounting.invoice_connectors.MoneybirdConnector over
MoneybirdClient, one connector in one thread, as a worker runs it. Each document carries the same PDF (made once
with to_pdf: the PDF's rendering is bench_documents.py's business, not this one's). Rounds:

1. `--customers` customers Moneybird does not know yet: each one's contact is looked up and made on first sight;
2. the same customers, now in Moneybird, with a new connector (its caches empty): one lookup per customer;
3. every document a new customer (a shop of one-time buyers): lookup + creation every time;
4. `--lookups` documents of round 2 exported again with may_exist=True (a retry after an unknown outcome):
   each is found by its number in that day's list, nothing is created.

No database: django.setup() only for the settings gettext needs. See bench/README.md.
"""

import argparse
import multiprocessing
import os
import random
import sys
import time
from datetime import date, timedelta
from decimal import ROUND_HALF_UP, Decimal
from pathlib import Path

sys.path.insert(0, str(Path(__file__).resolve().parent))

import _support  # noqa: E402  (puts the project root on sys.path)

os.environ.setdefault("DJANGO_SETTINGS_MODULE", "backoffice.settings")  # gettext needs the settings, no database

MONEYBIRD_LIMIT = (150, 300)  # requests per seconds, per token, as Moneybird documents it
CENT = Decimal("0.01")
# buyer country → (city, postcode, VAT rate of most goods, of books): what the local Moneybird has rates for
COUNTRIES = {"NL": ("Utrecht", "3511 AB", "21", "9"), "BE": ("Gent", "9000", "21", "21"),
             "DE": ("Berlin", "10115", "19", "19"), "FR": ("Paris", "75004", "20", "20")}


# -- Moneybird, in its own process ----------------------------------------------------------------------------

def serve(conn):
    """Child process: run the local Moneybird without its request limit; answer "stats"; stop on "stop"."""
    import logging

    from tests.fakes.moneybird import FakeMoneybird

    logging.getLogger("werkzeug").setLevel(logging.ERROR)  # no access log line per request
    server = FakeMoneybird(rate_limit=10**9).start()
    conn.send({"base_url": server.base_url, "administration_id": server.administration_id, "token": server.token})
    while conn.recv() == "stats":
        with server.lock:
            conn.send({"cpu": time.process_time(), "requests": len(server.requests), "invoices": len(server.invoices),
                       "contacts": len(server.contacts),
                       "attachments": sum(len(files) for files in server.attachments.values())})
    server.stop()


# -- documents ------------------------------------------------------------------------------------------------

def documents(count, *, prefix, customers, rng):
    """(document, customer key): invoices of 1–4 lines and shipping, every tenth a credit note of the one before."""
    from accounting.documents import Document, DocumentLine, Party, totals, vat_subtotals

    seller = Party(name="Fotocadeau B.V.", street="Keizersgracht 123", postcode="1015 CJ", city="Amsterdam",
                   country="NL", vat_id="NL123456789B01", email="facturen@fotocadeau.nl")
    made, invoices = [], 0
    for index in range(count):
        # Every customer buys once before anyone buys again: a round of `customers` invoices or more meets them all.
        customer = rng.randrange(customers) if customers and invoices >= customers else invoices
        invoices += index % 10 != 9
        country = list(COUNTRIES)[customer % len(COUNTRIES)]
        city, postcode, rate, book_rate = COUNTRIES[country]
        buyer = Party(name=f"Klant {customer}", street=f"{customer % 200 + 1} Main street", postcode=postcode,
                      city=city, country=country, email=f"klant{customer}@example.com")
        lines = []
        for _ in range(rng.choice([1, 1, 2, 3, 4])):
            name, _id, sku, price, _personal, _attributes = rng.choice(_support.PRODUCTS)
            vat_rate = Decimal(book_rate if sku.startswith("BOOK") else rate)
            quantity = Decimal(rng.choice([1, 1, 2, 3]))
            unit = (Decimal(price) / (1 + vat_rate / 100)).quantize(Decimal("0.0001"), ROUND_HALF_UP)
            net = (unit * quantity).quantize(CENT, ROUND_HALF_UP)
            lines.append(DocumentLine(description=name, quantity=quantity, unit_price=unit, net_amount=net,
                                      vat_rate=vat_rate, vat_category="S", sku=sku,
                                      vat_amount=(net * vat_rate / 100).quantize(CENT, ROUND_HALF_UP)))
        shipping = Decimal("5.70")
        lines.append(DocumentLine(description="Shipping", quantity=Decimal(1), unit_price=shipping,
                                  net_amount=shipping, vat_rate=Decimal(rate), vat_category="S", kind="shipping",
                                  vat_amount=(shipping * Decimal(rate) / 100).quantize(CENT, ROUND_HALF_UP)))
        sums = totals(lines)
        issued = date(2026, 1, 1) + timedelta(days=index % 300)
        fields = dict(kind="invoice", number=f"{prefix}-{index:06d}", issue_date=issued, supply_date=None,
                      currency="EUR", seller=seller, buyer=buyer, lines=tuple(lines),
                      vat_subtotals=vat_subtotals(lines), net_total=sums.net_total, vat_total=sums.vat_total,
                      gross_total=sums.gross_total, order_number=str(10_000 + index), language="nl")
        key = f"bench-{customer}"
        if index % 10 == 9 and made:
            corrected, key = made[-1]
            fields.update(kind="credit_note", buyer=corrected.buyer, lines=corrected.lines,
                          vat_subtotals=corrected.vat_subtotals, net_total=corrected.net_total,
                          vat_total=corrected.vat_total, gross_total=corrected.gross_total,
                          corrects_number=corrected.number, corrects_issue_date=corrected.issue_date)
        made.append((Document(**fields), key))
    return made


# -- measuring ------------------------------------------------------------------------------------------------

def export_round(title, connector, batch, *, pdf, may_exist, stats):
    before, cpu, started = stats(), time.process_time(), time.perf_counter()
    requests, existing, attach_errors = 0, 0, 0
    for document, key in batch:
        exported = connector.export(document, customer_key=key, pdf=pdf, may_exist=may_exist)
        requests += exported.requests
        existing += exported.existing
        attach_errors += bool(exported.attach_error)
    elapsed, cpu = time.perf_counter() - started, time.process_time() - cpu
    after = stats()
    return {"title": title, "documents": len(batch), "seconds": elapsed, "requests": requests, "cpu": cpu,
            "server_cpu": after["cpu"] - before["cpu"], "served": after["requests"] - before["requests"],
            "invoices": after["invoices"] - before["invoices"], "contacts": after["contacts"] - before["contacts"],
            "attachments": after["attachments"] - before["attachments"], "existing": existing,
            "attach_errors": attach_errors}


def main():
    parser = argparse.ArgumentParser(description=__doc__.split("\n\n")[0])
    parser.add_argument("--invoices", type=int, default=10_000)
    parser.add_argument("--customers", type=int, default=200)
    parser.add_argument("--lookups", type=int, default=500, help="documents exported again with may_exist=True")
    parser.add_argument("--seed", type=int, default=2026)
    args = parser.parse_args()

    print(f"bench_moneybird_export: {args.invoices:,} documents a round, {args.customers} customers; "
          f"{os.cpu_count()} CPUs, load average {' '.join(f'{x:.2f}' for x in os.getloadavg())}")
    context = multiprocessing.get_context("spawn")
    ours, theirs = context.Pipe()
    moneybird = context.Process(target=serve, args=(theirs,), daemon=True)
    moneybird.start()
    info = ours.recv()

    import django

    django.setup()
    from accounting.documents.pdf import to_pdf
    from accounting.integrations.moneybird import MoneybirdClient
    from accounting.invoice_connectors import MoneybirdConnector

    def stats():
        ours.send("stats")
        return ours.recv()

    def fresh_connector():
        return MoneybirdConnector(MoneybirdClient(info["base_url"], administration_id=info["administration_id"],
                                                  token=info["token"]))

    rng = random.Random(args.seed)
    known = documents(args.invoices, prefix="A", customers=args.customers, rng=rng)
    again = documents(args.invoices, prefix="B", customers=args.customers, rng=rng)
    one_time = [(document, f"once-{index}") for index, (document, _key) in enumerate(
        documents(args.invoices, prefix="C", customers=0, rng=rng))]
    pdf = to_pdf(known[0][0])
    credit_notes = sum(document.kind == "credit_note" for document, _key in known)
    print(f"  local Moneybird at {info['base_url']} (separate process {moneybird.pid}, threaded, no request limit); "
          f"{credit_notes:,} of each round's documents are credit notes; PDF {len(pdf) / 1024:.1f} KiB each")

    rounds = []
    try:
        rounds.append(export_round(f"{args.customers} customers, none in Moneybird yet", fresh_connector(), known,
                                   pdf=pdf, may_exist=False, stats=stats))
        rounds.append(export_round(f"the same {args.customers}, in Moneybird (new connector)", fresh_connector(),
                                   again, pdf=pdf, may_exist=False, stats=stats))
        rounds.append(export_round("every document a new customer", fresh_connector(), one_time, pdf=pdf,
                                   may_exist=False, stats=stats))
        rounds.append(export_round(f"retry of {min(args.lookups, len(again))} booked (may_exist)", fresh_connector(),
                                   again[:args.lookups], pdf=pdf, may_exist=True, stats=stats))
    finally:
        ours.send("stop")
        moneybird.join(timeout=10)

    print(f"\n  {'round':<44}{'docs':>7}{'s':>8}{'docs/s':>8}{'req/doc':>9}{'our CPU ms':>11}"
          f"{'MB CPU ms':>10}{'booked':>8}{'contacts':>9}{'PDFs':>7}")
    ok = True
    for run in rounds:
        count = run["documents"]
        print(f"  {run['title']:<44}{count:>7,}{run['seconds']:>8.1f}{count / run['seconds']:>8.0f}"
              f"{run['requests'] / count:>9.3f}{1000 * run['cpu'] / count:>11.2f}"
              f"{1000 * run['server_cpu'] / count:>10.2f}{run['invoices']:>8,}{run['contacts']:>9,}"
              f"{run['attachments']:>7,}")
        retry = run["title"].startswith("retry")
        ok &= run["invoices"] == (0 if retry else count) and run["attachments"] == (0 if retry else count)
        ok &= run["existing"] == (count if retry else 0) and run["attach_errors"] == 0
        ok &= run["served"] == run["requests"]  # the fake saw what the connector counted
    print("  (docs/s: one connector in one thread, wall time including the local Moneybird's; req/doc: requests the "
          "connector sent; CPU per document, ours and the local Moneybird's process)")
    limit, window = MONEYBIRD_LIMIT
    print(f"\n  at Moneybird's own limit ({limit} requests per {window // 60} minutes and token), not the local one's:")
    for run in rounds[:3]:
        per_hour = limit / (run["requests"] / run["documents"]) * 3600 / window
        print(f"    {run['title']:<44}{per_hour:>7,.0f} documents an hour, "
              f"{args.invoices:,} in {args.invoices / per_hour:.1f} h")
    print(f"  load average at the end {' '.join(f'{x:.2f}' for x in os.getloadavg())}; "
          f"verdict: {'every document booked once, with its PDF' if ok else 'PROBLEM: counts above differ'}")
    return 0 if ok else 1


if __name__ == "__main__":
    sys.exit(main())
