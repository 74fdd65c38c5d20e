"""Times the documents of one big invoice: check, UBL, schema and EN 16931 validation and PDF of a 50-line order.

    .venv/bin/python bench/bench_documents.py                      # 50 lines, median of 30 runs
    .venv/bin/python bench/bench_documents.py --lines 200 --runs 10

Needs nothing but the venv: no database, no server. The documents are pure functions of the invoice; the figures
are what the documents of one order cost. Each step runs once before it is timed, so that
the schema is loaded, CEN's rules compiled and the fonts registered (a process pays that once: printed apart).
"""

import argparse
import os
import statistics
import sys
import time
from datetime import date
from decimal import ROUND_HALF_UP, Decimal
from pathlib import Path

ROOT = Path(__file__).resolve().parent.parent
if str(ROOT) not in sys.path:
    sys.path.insert(0, str(ROOT))
os.environ.setdefault("DJANGO_SETTINGS_MODULE", "backoffice.settings")  # gettext needs the settings, no database

import django  # noqa: E402

django.setup()

from accounting.documents import Document, DocumentLine, Party, check, totals, vat_subtotals  # noqa: E402
from bench._support import PRODUCTS  # noqa: E402

CENT = Decimal("0.01")
SELLER = Party(name="Fotocadeau B.V.", street="Keizersgracht 123", postcode="1015 CJ", city="Amsterdam",
               country="NL", vat_id="NL123456789B01", email="facturen@fotocadeau.nl")
BUYER = Party(name="Anna de Vries", street="Oudegracht 12", postcode="3511 AB", city="Utrecht", country="NL")


def big_invoice(count):
    """An order of `count` lines from the benchmark catalogue at 21 % (books at 9 %), shipping and a fee."""
    lines = []
    for index in range(count - 2):
        name, _, sku, price, _, _ = PRODUCTS[index % len(PRODUCTS)]
        rate = Decimal("9") if sku.startswith("BOOK") else Decimal("21")
        quantity = Decimal(1 + index % 3)
        unit_price = (Decimal(price) / (1 + rate / 100)).quantize(Decimal("0.0001"), ROUND_HALF_UP)
        net = (quantity * unit_price).quantize(CENT, ROUND_HALF_UP)
        lines.append(DocumentLine(description=f"{name} ({index + 1})", quantity=quantity, unit_price=unit_price,
                                  net_amount=net, vat_rate=rate, vat_category="S",
                                  vat_amount=(net * rate / 100).quantize(CENT, ROUND_HALF_UP), sku=sku))
    for description, kind, net in (("Shipping: PostNL", "shipping", "6.90"), ("Gift wrapping", "fee", "2.48")):
        net = Decimal(net)
        lines.append(DocumentLine(description=description, quantity=Decimal(1), unit_price=net, net_amount=net,
                                  vat_rate=Decimal(21), vat_category="S", vat_amount=(net * 21 / 100).quantize(
                                      CENT, ROUND_HALF_UP), kind=kind))
    sums = totals(lines)
    return Document(kind="invoice", number="2026-000123", issue_date=date(2026, 3, 14), supply_date=None,
                    currency="EUR", seller=SELLER, buyer=BUYER, lines=tuple(lines), vat_subtotals=vat_subtotals(lines),
                    net_total=sums.net_total, vat_total=sums.vat_total, gross_total=sums.gross_total,
                    order_number="4711", language="nl")


def timed(step, runs):
    times = []
    for _ in range(runs):
        started = time.perf_counter()
        step()
        times.append(time.perf_counter() - started)
    return sorted(times)


def main():
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--lines", type=int, default=50)
    parser.add_argument("--runs", type=int, default=30)
    args = parser.parse_args()

    started = time.perf_counter()
    from accounting.documents.pdf import to_pdf
    from accounting.documents.schematron import failed_asserts
    from accounting.documents.ubl import to_ubl
    from accounting.documents.validation import validate_ubl

    invoice = big_invoice(args.lines)
    problems = check(invoice)
    xml = to_ubl(invoice)
    errors = validate_ubl(xml)
    pdf = to_pdf(invoice)
    first = time.perf_counter() - started
    started = time.perf_counter()
    failed = failed_asserts(xml)
    first_rules = time.perf_counter() - started
    if problems or errors or failed:
        print("the benchmark's invoice is not a valid document:", *(problems + errors + failed), sep="\n  ")
        return 1

    print(f"{args.lines} lines, {args.runs} runs, load average {os.getloadavg()[0]:.2f}")
    print(f"  first document of the process (imports, schema, fonts): {first * 1000:.0f} ms")
    print(f"  first EN 16931 check of the process (Saxon, CEN's rules compiled): {first_rules * 1000:.0f} ms")
    steps = [("check", lambda: check(invoice)), ("to_ubl", lambda: to_ubl(invoice)),
             ("validate_ubl", lambda: validate_ubl(xml)), ("failed_asserts", lambda: failed_asserts(xml)),
             ("to_pdf", lambda: to_pdf(invoice)),
             ("UBL + PDF", lambda: (to_ubl(invoice), to_pdf(invoice)))]
    print(f"  {'step':<16}{'median ms':>10}{'min ms':>9}{'max ms':>9}")
    for name, step in steps:
        times = timed(step, args.runs)
        print(f"  {name:<16}{statistics.median(times) * 1000:>10.1f}{times[0] * 1000:>9.1f}{times[-1] * 1000:>9.1f}")
    print(f"  sizes: UBL {len(xml) // 1024} KiB, PDF {len(pdf) // 1024} KiB")
    return 0


if __name__ == "__main__":
    sys.exit(main())
