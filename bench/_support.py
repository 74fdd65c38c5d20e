"""Shared by the benchmarks: the bench database, realistic order payloads, small statistics.

Not a test module and not imported by the application. Everything here runs from a fresh clone with only
the venv: PostgreSQL at 127.0.0.1:5432 (trust auth, user postgres) and, for the webhook bench, Redis.
"""

import math
import os
import random
import subprocess
import sys
from datetime import UTC, datetime, timedelta
from pathlib import Path

ROOT = Path(__file__).resolve().parent.parent
if str(ROOT) not in sys.path:
    sys.path.insert(0, str(ROOT))

PG_HOST = os.environ.get("BENCH_PG_HOST", "127.0.0.1")
PG_PORT = os.environ.get("BENCH_PG_PORT", "5432")
PG_USER = os.environ.get("BENCH_PG_USER", "postgres")
BENCH_DB = "bench_backoffice"  # the only database the benchmarks create, drop or write
DATABASE_URL = f"postgres://{PG_USER}@{PG_HOST}:{PG_PORT}/{BENCH_DB}"


def reset_database():
    """Drop and recreate `bench_backoffice` (never any other database), then migrate it."""
    import psycopg

    with psycopg.connect(host=PG_HOST, port=PG_PORT, user=PG_USER, dbname="postgres", autocommit=True) as conn:
        conn.execute(f"DROP DATABASE IF EXISTS {BENCH_DB} WITH (FORCE)")
        conn.execute(f"CREATE DATABASE {BENCH_DB}")
    env = {**os.environ, "DATABASE_URL": DATABASE_URL, "DJANGO_SETTINGS_MODULE": "backoffice.settings"}
    env.pop("REDIS_URL", None)
    subprocess.run([sys.executable, str(ROOT / "manage.py"), "migrate", "--verbosity", "0"], env=env, cwd=ROOT,
                   check=True)


def process_cpu(pid):
    """CPU seconds (user + system) used so far by a process, from /proc; 0.0 when it cannot be read."""
    try:
        fields = Path(f"/proc/{pid}/stat").read_text().rpartition(")")[2].split()
        return (int(fields[11]) + int(fields[12])) / os.sysconf("SC_CLK_TCK")
    except (OSError, IndexError, ValueError):
        return 0.0


def _stat(pid):
    fields = Path(f"/proc/{pid}/stat").read_text().rpartition(")")
    return fields[0].partition("(")[2], fields[2].split()


def postgres_server_cpu():
    """CPU seconds used so far by the whole PostgreSQL server on this machine, backends that ended included.

    Every postgres process now running, plus what the postmaster's children that have ended used (the kernel adds
    it to the postmaster's cutime/cstime): a benchmark whose threads open and close their own connections is then
    counted whole. It includes PostgreSQL's background processes, and any other database's work.
    """
    tick, total = os.sysconf("SC_CLK_TCK"), 0
    for entry in Path("/proc").iterdir():
        if not entry.name.isdigit():
            continue
        try:
            name, fields = _stat(entry.name)
        except (OSError, IndexError):
            continue
        if name not in ("postgres", "postmaster"):
            continue
        total += int(fields[11]) + int(fields[12])
        try:
            parent_name, _ = _stat(fields[1])
        except (OSError, IndexError):
            parent_name = ""
        if parent_name not in ("postgres", "postmaster"):  # the postmaster itself
            total += int(fields[13]) + int(fields[14])
    return total / tick


def postgres_cpu():
    """CPU seconds used so far by the PostgreSQL backends connected to the bench database (same machine)."""
    import psycopg

    with psycopg.connect(host=PG_HOST, port=PG_PORT, user=PG_USER, dbname="postgres", autocommit=True) as conn:
        pids = [row[0] for row in conn.execute("SELECT pid FROM pg_stat_activity WHERE datname = %s", [BENCH_DB])]
    return {pid: process_cpu(pid) for pid in pids}


def postgres_cpu_since(before):
    """CPU seconds the bench database's backends used since `before` (a postgres_cpu() result)."""
    return sum(cpu - before.get(pid, 0.0) for pid, cpu in postgres_cpu().items())


# -- realistic orders -----------------------------------------------------------------------------------------

# (country, currency, city, state, first names, last names, VAT rate)
MARKETS = [
    ("AT", "EUR", "Wien", "", ["Ben", "Lena", "Jakob"], ["Schmidt", "Gruber", "Huber"], "0.20"),
    ("DE", "EUR", "Berlin", "", ["Anna", "Lukas", "Mia"], ["Müller", "Schneider", "Weber"], "0.19"),
    ("NL", "EUR", "Amsterdam", "", ["Daan", "Emma", "Sem"], ["de Vries", "Jansen", "Bakker"], "0.21"),
    ("FR", "EUR", "Paris", "", ["Léa", "Hugo", "Chloé"], ["Martin", "Bernard", "Dubois"], "0.20"),
    ("ES", "EUR", "Madrid", "M", ["Lucía", "Hugo", "Sofía"], ["García", "López", "Martínez"], "0.21"),
    ("IT", "EUR", "Roma", "RM", ["Giulia", "Leonardo", "Aurora"], ["Rossi", "Russo", "Ferrari"], "0.22"),
    ("GB", "GBP", "London", "", ["Oliver", "Amelia", "Harry"], ["Smith", "Jones", "Taylor"], "0.20"),
    ("US", "USD", "New York", "NY", ["Liam", "Olivia", "Noah"], ["Johnson", "Williams", "Brown"], "0.00"),
    ("CH", "CHF", "Zürich", "ZH", ["Noah", "Mia", "Luca"], ["Meier", "Keller", "Brunner"], "0.081"),
    ("SE", "SEK", "Stockholm", "", ["Alice", "William", "Maja"], ["Andersson", "Johansson", "Karlsson"], "0.25"),
    ("PL", "PLN", "Warszawa", "", ["Zuzanna", "Jan", "Julia"], ["Nowak", "Kowalski", "Wiśniewski"], "0.23"),
    ("DK", "DKK", "København", "", ["Freja", "Oscar", "Ida"], ["Nielsen", "Jensen", "Hansen"], "0.25"),
]
PRODUCTS = [
    # (name, product id, sku, unit price, personalised in our editor?, variation attributes)
    ("Photo mug", 11, "MUG-11", "9.50", True, []),
    ("Photo book A4, 40 pages", 21, "BOOK-A4-40", "34.90", True, [("pa_cover", "Cover", "Hardcover")]),
    ("Canvas print 60×40", 31, "CANVAS-6040", "49.00", True, []),
    ("Calendar 2027", 41, "CAL-2027", "19.95", True, [("pa_format", "Format", "A3")]),
    ("T-shirt", 51, "TEE-BASIC", "14.90", False, [("pa_size", "Size", "L"), ("pa_colour", "Colour", "Navy")]),
    ("Poster 50×70", 61, "POSTER-5070", "12.00", False, []),
    ("Gift card", 71, "GIFT-25", "25.00", False, []),
    ("Phone case", 81, "CASE-IP15", "17.50", True, [("pa_model", "Model", "iPhone 15")]),
]
STATUSES = ["processing"] * 10 + ["completed"] * 6 + ["on-hold"] * 2 + ["pending", "cancelled", "refunded",
                                                                         "failed", "ready-for-pickup"]
PAYMENTS = [("stripe", "Credit card (Stripe)"), ("paypal", "PayPal"), ("bacs", "Direct bank transfer"),
            ("klarna", "Klarna")]


def _money(value):
    return f"{value:.2f}"


def realistic_order(woo_id, rng):
    """One order built from the captured WooCommerce answer, varied in market, lines, status, refunds."""
    from decimal import ROUND_HALF_UP, Decimal

    from tests.woo_payloads import line_item, order_payload

    country, currency, city, state, firsts, lasts, vat = rng.choice(MARKETS)
    vat = Decimal(vat)
    lines, subtotal, tax = [], Decimal("0"), Decimal("0")
    for index in range(rng.choices([1, 2, 3, 4, 5], weights=[45, 25, 15, 10, 5])[0]):
        name, product_id, sku, price, personalised, attributes = rng.choice(PRODUCTS)
        quantity = rng.choices([1, 2, 3, 5], weights=[70, 20, 7, 3])[0]
        total = Decimal(price) * quantity
        total_tax = (total * vat).quantize(Decimal("0.01"), ROUND_HALF_UP)
        meta = [{"id": woo_id * 100 + index * 10, "key": "_reduced_stock", "value": str(quantity),
                 "display_key": "_reduced_stock", "display_value": str(quantity)}]
        for n, (key, label, value) in enumerate(attributes, 1):
            meta.append({"id": woo_id * 100 + index * 10 + n, "key": key, "value": value.lower(),
                         "display_key": label, "display_value": value})
        if personalised and rng.random() < 0.6:
            meta.append({"id": woo_id * 100 + index * 10 + 9, "key": "_project_id",
                         "value": f"prj_{woo_id:07d}_{index}", "display_key": "_project_id",
                         "display_value": f"prj_{woo_id:07d}_{index}"})
        variation_id = product_id * 100 + len(attributes) if attributes else 0
        lines.append(line_item(woo_id * 10 + index + 1, name=name, product_id=product_id, variation_id=variation_id,
                               quantity=quantity, total=_money(total), total_tax=_money(total_tax), sku=sku,
                               meta=meta))
        subtotal += total
        tax += total_tax
    shipping = Decimal(rng.choice(["0.00", "4.90", "6.90", "9.90"]))
    shipping_tax = (shipping * vat).quantize(Decimal("0.01"), ROUND_HALF_UP)
    grand_total = subtotal + tax + shipping + shipping_tax
    status = rng.choice(STATUSES)
    refunds = []
    if status == "refunded":
        refunds = [{"id": 900_000 + woo_id, "reason": "Customer changed their mind", "total": f"-{grand_total:.2f}"}]
    elif status == "completed" and rng.random() < 0.1:
        refunds = [{"id": 900_000 + woo_id, "reason": "Damaged in transit", "total": f"-{shipping + shipping_tax:.2f}"}]
    created = datetime(2026, 1, 1, 8, 0, tzinfo=UTC) + timedelta(minutes=woo_id * 7 + rng.randrange(7))
    modified = created + timedelta(minutes=rng.randrange(1, 3 * 24 * 60))
    payment_method, payment_title = rng.choice(PAYMENTS)
    created_via = "checkout"
    order_meta = []
    if rng.random() < 0.05:
        created_via, payment_method, payment_title = "amazon", "amazon_payments", "Amazon Pay"
        order_meta = [{"id": woo_id, "key": "_amazon_order_id", "value": f"302-{woo_id:07d}-{rng.randrange(10**7):07d}"}]
    elif rng.random() < 0.03:
        order_meta = [{"id": woo_id, "key": "_shineon_order", "value": f"SO-{woo_id}"}]
    payload = order_payload(
        woo_id, status=status, created=created, modified=modified, currency=currency, country=country,
        first_name=rng.choice(firsts), last_name=rng.choice(lasts), city=city, line_items=lines, refunds=refunds,
        total=_money(grand_total), total_tax=_money(tax + shipping_tax), cart_tax=_money(tax),
        shipping_total=_money(shipping), shipping_tax=_money(shipping_tax), payment_method=payment_method,
        payment_method_title=payment_title, created_via=created_via, meta_data=order_meta,
        customer_id=rng.choice([0, 0, rng.randrange(1, 5000)]), customer_note=rng.choice(["", "", "Gift, no invoice"]),
        date_completed_gmt=(modified.strftime("%Y-%m-%dT%H:%M:%S") if status == "completed" else None),
    )
    for address in (payload["billing"], payload["shipping"]):
        address["state"] = state
        address["address_1"] = f"{rng.randrange(1, 200)} Main street"
    for line in payload["line_items"]:
        line["taxes"] = [{"id": 2, "total": line["total_tax"], "subtotal": line["subtotal_tax"]}]
    payload["shipping_lines"][0].update(total=_money(shipping), total_tax=_money(shipping_tax))
    payload["tax_lines"][0].update(rate_code=f"{country}-VAT {country}-1", label=f"VAT {country}",
                                   tax_total=_money(tax), shipping_tax_total=_money(shipping_tax),
                                   rate_percent=float(vat * 100))
    if status in ("pending", "failed"):
        payload.update(date_paid=None, date_paid_gmt=None, needs_payment=True)
    else:
        payload["date_paid"] = (created + timedelta(hours=1)).strftime("%Y-%m-%dT%H:%M:%S")
    return payload


def realistic_orders(count, *, seed=2026, first_id=1):
    rng = random.Random(seed)
    return [realistic_order(woo_id, rng) for woo_id in range(first_id, first_id + count)]


# -- statistics ---------------------------------------------------------------------------------------------------

def percentile(sorted_values, fraction):
    """Nearest-rank percentile of an already sorted list."""
    if not sorted_values:
        return float("nan")
    rank = max(1, min(len(sorted_values), math.ceil(fraction * len(sorted_values))))
    return sorted_values[rank - 1]
