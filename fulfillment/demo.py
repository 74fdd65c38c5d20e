"""Demo data: two shops with a few hundred realistic orders, written through the real mirror service."""

import logging
import os
import random
from datetime import UTC, datetime, timedelta

from fulfillment import demo_systems
from fulfillment.choices import EventSource
from fulfillment.integrations.rewix import SupplierError
from fulfillment.models import Store, Supplier
from fulfillment.services.mirror import orders_upsert
from fulfillment.services.stores import store_save
from fulfillment.services.supplier_poll import catalogue_sync, supplier_refresh
from fulfillment.services.supplier_sync import supplier_client

logger = logging.getLogger("fulfillment.demo")

# The demo supplier: scripts/run.sh starts the local Rewix stand-in (tests/fakes/rewix.py --demo) and names it here.
DEMO_SUPPLIER_URL_ENV = "DEMO_REWIX_URL"
DEMO_SUPPLIER_PASSWORD_ENV = "DEMO_REWIX_PASSWORD"
DEMO_SUPPLIER_API_KEY = "5c0d7a1e-93b2-4f6e-8d41-2a9c7e3b6f10"  # the stand-in's key (not a secret)

DEMO_STORES = [
    {"slug": "demo-eu", "name": "Fotoboek & Co (demo)", "currency": "EUR", "timezone": "Europe/Amsterdam",
     "countries": [("NL", "Amsterdam", ""), ("BE", "Gent", ""), ("FR", "Lyon", ""), ("ES", "Sevilla", "SE"),
                   ("IT", "Torino", "TO"), ("AT", "Wien", "")], "dropship": True},
    {"slug": "demo-uk", "name": "Mugs of London (demo)", "currency": "GBP", "timezone": "Europe/London",
     "countries": [("GB", "London", ""), ("GB", "Leeds", ""), ("IE", "Dublin", "D")]},
]
FIRST_NAMES = ["Emma", "Lucas", "Sofia", "Noah", "Julia", "Hugo", "Chiara", "Daan", "Lucía", "Léa", "Tom", "Anna"]
LAST_NAMES = ["de Vries", "Martin", "Rossi", "García", "Smith", "Janssens", "Bianchi", "Dubois", "Murphy", "Bakker"]
PRODUCTS = [
    # name, product id, sku, price, personalised in our editor, visible attributes
    ("Photo book A4, 24 pages", 101, "BOOK-A4-24", "34.90", True, []),
    ("Personalised mug", 102, "MUG-11", "14.50", True, []),
    ("Canvas print 40×60", 103, "CANVAS-4060", "49.00", True, []),
    ("Organic T-shirt", 104, "TEE-ORG", "19.90", False, [("pa_size", "Size", "M"), ("pa_colour", "Colour", "Navy")]),
    ("Gift card", 105, "GIFT-25", "25.00", False, []),
]
# Dropshipped by the demo supplier (its catalogue's variant SKUs), all in stock there but size 42 (see SOLD_OUT).
DROPSHIP_PRODUCTS = [
    ("Leather low-top sneakers", 201, "GF-SN1830-WHITE-40", "89.00", False, [("pa_size", "Size", "40")]),
    ("Wool blend scarf", 202, "TR-SC2214-GREY-UNI", "39.00", False, []),
    ("Denim trucker jacket", 203, "LJ-JK3157-INDIGO-M", "115.00", False, [("pa_size", "Size", "M")]),
    ("Leather low-top sneakers", 201, "GF-SN1830-WHITE-42", "89.00", False, [("pa_size", "Size", "42")]),
]
# The demo's one reservation that fails, on purpose: size 42 is out of stock at the supplier (0 free in its
# catalogue), and only the first open order asking for it keeps it; the others' sneakers are size 40, so that
# every other reservation goes through and staff see the supplier's refusal, with its reason, on one order.
SOLD_OUT = ("GF-SN1830-WHITE-42", "GF-SN1830-WHITE-40", "40")
OPEN_STATUSES = ("pending", "on-hold", "processing")
STATUSES = ["processing"] * 6 + ["completed"] * 5 + ["on-hold"] * 2 + ["pending", "cancelled", "refunded", "failed",
                                                                         "awaiting-proof"]
PAYMENTS = [("stripe", "Credit card (Stripe)"), ("paypal", "PayPal"), ("bacs", "Direct bank transfer"),
            ("cod", "Cash on delivery")]
VAT = {"NL": "0.21", "BE": "0.21", "FR": "0.20", "ES": "0.21", "IT": "0.22", "AT": "0.20", "GB": "0.20", "IE": "0.23"}


# What other apps set up for each demo store, after it is saved and before its orders are written (accounting's
# export rule must exist when the orders arrive): callables (store, index), registered from AppConfig.ready().
_store_setups = {}
_store_loaded = {}


def register_store_setup(name, setup):
    """Add (or replace, by name) a step run for each demo store before its orders are loaded."""
    _store_setups[name] = setup


def register_store_loaded(name, step):
    """Add (or replace, by name) a step run for each demo store after its orders are mirrored: step(store, index)."""
    _store_loaded[name] = step


# Logins other apps give the demo besides the staff's (projects' My Account customer): callables (password) returning
# (what the login is for, username), or None when there is none; load_demo's command makes them and prints them.
_logins = {}


def register_login(name, make_login):
    """Add (or replace, by name) a login made after the demo is loaded: make_login(password) -> (purpose, username)."""
    _logins[name] = make_login


def demo_logins(password_for):
    """Make (or reset) the registered logins, each with password_for(): [(purpose, username, password)]."""
    made = []
    for make_login in _logins.values():
        password = password_for()
        login = make_login(password)
        if login:
            made.append((*login, password))
    return made


def _date(value):
    return value.strftime("%Y-%m-%dT%H:%M:%S")


def demo_order(rng, woo_id, spec, today):
    country, city, state = rng.choice(spec["countries"])
    first, last = rng.choice(FIRST_NAMES), rng.choice(LAST_NAMES)
    created = today - timedelta(days=rng.randint(0, 40), minutes=rng.randint(0, 1439))
    modified = created + timedelta(minutes=rng.randint(1, 600))
    status = rng.choice(STATUSES)
    rate = VAT[country]
    rate_id = sorted(VAT).index(country) + 1  # the shop's tax rate of that country (OSS)
    lines, subtotal, tax = [], 0, 0
    for n, (name, product_id, sku, price, personalised, attributes) in enumerate(
        rng.sample(PRODUCTS + (DROPSHIP_PRODUCTS if spec.get("dropship") else []), rng.randint(1, 3))
    ):
        quantity = rng.randint(1, 3)
        total = round(float(price) * quantity, 2)
        line_tax = round(total * float(rate), 2)
        meta = [{"id": woo_id * 100 + n, "key": key, "value": value, "display_key": label, "display_value": value}
                for key, label, value in attributes]
        if personalised:
            # The editor's project ids are unique across shops (both demo shops number their orders from 1000).
            meta.append({"id": woo_id * 100 + 50 + n, "key": "_project_id", "value": f"{spec['slug']}-{woo_id}-{n}"})
        lines.append({"id": woo_id * 10 + n, "name": name, "product_id": product_id, "variation_id": 0,
                      "quantity": quantity, "subtotal": f"{total:.2f}", "subtotal_tax": f"{line_tax:.2f}",
                      "total": f"{total:.2f}", "total_tax": f"{line_tax:.2f}", "sku": sku,
                      "price": float(price), "meta_data": meta, "image": {"id": "", "src": ""},
                      "taxes": [{"id": rate_id, "total": f"{line_tax:.2f}", "subtotal": f"{line_tax:.2f}"}]})
        subtotal, tax = subtotal + total, tax + line_tax
    shipping = 4.90
    shipping_tax = round(shipping * float(rate), 2)
    created_via = rng.choices(["checkout", "amazon", "shineon"], weights=[85, 10, 5])[0]
    method, title = ("amazon", "Amazon Marketplace") if created_via == "amazon" else rng.choice(PAYMENTS)
    address = {"first_name": first, "last_name": last, "company": "", "address_1": f"Mainstreet {woo_id % 90 + 1}",
               "address_2": "", "city": city, "state": state, "postcode": f"{1000 + woo_id % 8000}",
               "country": country, "phone": "+31 20 555 0100"}
    total = round(subtotal + tax + shipping + shipping_tax, 2)
    refunds = [{"id": 90000 + woo_id, "reason": "Damaged in transit", "total": f"-{total:.2f}"}] \
        if status == "refunded" else []
    return {
        "id": woo_id, "number": str(woo_id), "parent_id": 0, "status": status, "currency": spec["currency"],
        "prices_include_tax": False, "created_via": created_via,
        "date_created_gmt": _date(created), "date_modified_gmt": _date(modified),
        "date_paid_gmt": _date(created) if status not in ("pending", "failed") else None,
        "date_completed_gmt": _date(modified) if status == "completed" else None,
        "discount_total": "0.00", "discount_tax": "0.00", "shipping_total": f"{shipping:.2f}",
        "shipping_tax": f"{shipping_tax:.2f}", "cart_tax": f"{tax:.2f}", "total": f"{total:.2f}",
        "total_tax": f"{tax + shipping_tax:.2f}",
        "customer_id": rng.choice([0, woo_id % 50 + 1]), "customer_note": "",
        "billing": {**address, "email": f"{first}.{last}.{woo_id}@example.com".lower().replace(" ", "")},
        "shipping": address, "payment_method": method, "payment_method_title": title, "transaction_id": "",
        "meta_data": [], "line_items": lines,
        "tax_lines": [{"id": 1, "rate_code": f"{country}-VAT-1", "rate_id": rate_id, "label": f"VAT {country}",
                       "compound": False, "tax_total": f"{tax:.2f}", "shipping_tax_total": f"{shipping_tax:.2f}",
                       "rate_percent": float(rate) * 100, "meta_data": []}],
        "shipping_lines": [{"id": woo_id * 10 + 9, "method_title": "Flat rate", "method_id": "flat_rate",
                            "total": f"{shipping:.2f}", "total_tax": f"{shipping_tax:.2f}",
                            "taxes": [{"id": rate_id, "total": f"{shipping_tax:.2f}", "subtotal": ""}],
                            "meta_data": []}],
        "fee_lines": [],
        "coupon_lines": [], "refunds": refunds,
    }


def sold_out_line(payloads):
    """Keep the out-of-stock size (SOLD_OUT) in the first open order asking for it, size 40 in the others; returns
    the number of the order that keeps it, or None."""
    sold_out, instead, size = SOLD_OUT
    kept = None
    for payload in payloads:
        for line in (line for line in payload["line_items"] if line["sku"] == sold_out):
            if kept is None and payload["status"] in OPEN_STATUSES:
                kept = payload["number"]
                continue
            if kept == payload["number"]:
                continue
            line["sku"] = instead
            for meta in line["meta_data"]:
                if meta["key"] == "pa_size":
                    meta["value"] = meta["display_value"] = size
    return kept


def load_demo(*, orders_per_store=200):
    """Create (or refresh) the demo stores and their orders; returns {slug: count}.

    With the stand-ins of scripts/run.sh (fulfillment.demo_systems) each store is a shop that exists: its orders are
    written into the shop and imported from it, its provider works and the outbox's pushes reach it.
    """
    today = datetime.now(UTC).replace(hour=0, minute=0, second=0, microsecond=0)
    counts = {}
    for index, spec in enumerate(DEMO_STORES):
        url = demo_systems.shop_url(spec["slug"])
        store, _ = store_save(
            slug=spec["slug"], name=spec["name"], base_url=url or f"http://127.0.0.1:{8089 + index}",
            consumer_key="ck_demo", consumer_secret="cs_demo", webhook_secret=f"demo{index}secret",
            timezone=spec["timezone"], currency=spec["currency"],
        )
        if url:  # the stand-in has the Shipment Tracking extension, as most shops shipping parcels
            Store.objects.filter(pk=store.pk).update(has_shipment_tracking=True)
            store.has_shipment_tracking = True
        for setup in _store_setups.values():
            setup(store, index)
        provider = demo_systems.demo_providers(store, index)
        rng = random.Random(index)
        payloads = [demo_order(rng, 1000 + n, spec, today) for n in range(orders_per_store)]
        if spec.get("dropship"):
            sold_out_line(payloads)
        trouble = demo_systems.make_trouble(payloads, printful=provider.kind == "printful",
                                            made_here={product[2] for product in PRODUCTS})
        if url:
            counts[spec["slug"]] = demo_systems.shop_fill(store, payloads)
        else:
            for start in range(0, len(payloads), 100):
                orders_upsert(store=store, payloads=payloads[start:start + 100], source=EventSource.IMPORT)
            counts[spec["slug"]] = len(payloads)
        for step in _store_loaded.values():
            step(store, index)
        demo_systems.demo_production(store, index, trouble=trouble)
    _demo_suppliers_refresh()
    return counts


def demo_supplier(store, index):
    """The demo supplier of the first demo store, when scripts/run.sh started its stand-in; its catalogue read
    before the orders arrive, so that their dropship lines are reserved as they are mirrored."""
    url = os.environ.get(DEMO_SUPPLIER_URL_ENV)
    if index != 0 or not url:
        return
    supplier, _ = Supplier.objects.update_or_create(
        store=store, name="BDroppy (demo supplier)",
        defaults={"base_url": url, "platform_url": url, "api_user": DEMO_SUPPLIER_API_KEY,
                  "credentials_env": DEMO_SUPPLIER_PASSWORD_ENV, "active": True})
    try:
        catalogue_sync(supplier=supplier, client=supplier_client(supplier), full=True)
    except SupplierError as exc:
        logger.warning("demo supplier: catalogue not read: %s", exc)


def _demo_suppliers_refresh():
    """Reserve, place and poll once or twice now, so that the demo opens with reservations in every status."""
    for supplier in Supplier.objects.filter(active=True, store__slug__in=[s["slug"] for s in DEMO_STORES],
                                            base_url=os.environ.get(DEMO_SUPPLIER_URL_ENV, "-")):
        for _round in range(4):
            supplier_refresh(supplier=Supplier.objects.get(pk=supplier.pk), catalogue=False)


register_store_setup("demo-supplier", demo_supplier)
