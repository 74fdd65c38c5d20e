"""The demo's outside systems: the local stand-ins scripts/run.sh starts (tests/fakes/*.py --demo), and what the demo
loads into them and takes from them, through the same clients and services as a real shop and provider.

- A demo shop's URL comes from DEMO_SHOP_URL_<SLUG> (DEMO_SHOP_URL_DEMO_EU): its history is written into the shop
  stand-in with the REST API (POST orders/batch, refunds as the shop's staff make them) when the shop has no orders
  yet, its webhooks are registered to DEMO_BACKOFFICE_URL, and the mirror imports the shop (then one reconcile), so
  that the shop and the mirror agree. Without it, the orders are written straight into the mirror (tests).
- The demo provider: DEMO_PRINTFUL_URL (token in DEMO_PRINTFUL_TOKEN) makes every product of the first shop, its
  webhook set to our provider webhook URL; the other shop (or both, without it) uses a file-drop print room whose
  folder is under DEMO_DIR (var/demo/).
- A few paid orders are submitted at once (one fails, with the provider's reason), and a few completed orders were
  shipped by staff.
"""

import copy
import logging
import os
from datetime import timedelta
from pathlib import Path

from django.conf import settings
from django.urls import reverse

from fulfillment.choices import EventSource, ImportMode, ProviderKind, SubmissionState
from fulfillment.errors import OrderActionError
from fulfillment.integrations.woocommerce.client import WooClient
from fulfillment.models import Order, Provider, Refund, Shipment, Submission
from fulfillment.providers.base import ProviderError
from fulfillment.providers.registry import adapter_for
from fulfillment.services.imports import import_run_create, import_run_execute
from fulfillment.services.reconcile import store_sync
from fulfillment.services.refund_lines import refund_lines_fetch_orders
from fulfillment.services.submissions import SubmissionError, order_submit, submission_execute
from fulfillment.services.tracking import shipment_add

logger = logging.getLogger("fulfillment.demo")

SHOP_URL_ENV = "DEMO_SHOP_URL_{}"
BACKOFFICE_URL_ENV = "DEMO_BACKOFFICE_URL"
PRINTFUL_URL_ENV = "DEMO_PRINTFUL_URL"
PRINTFUL_TOKEN_ENV = "DEMO_PRINTFUL_TOKEN"
WEBHOOK_TOPICS = ("order.created", "order.updated", "order.deleted", "order.restored")
SUBMITTED_AT_ONCE = 5  # paid orders of each shop sent to production by the demo
SHIPPED_BY_STAFF = 5  # completed orders of each shop with a parcel typed in by staff
PARTIAL_REFUND_EVERY = 9  # every ninth completed order: one item and the shipping refunded in the shop
STAFF_CARRIERS = {"EUR": ("PostNL", "3SDEMO{:07d}"), "GBP": ("Royal Mail", "RM{:09d}GB")}


def shop_url(slug):
    """The demo shop stand-in's URL for this store, or "" (no stand-in: the orders go straight into the mirror)."""
    return os.environ.get(SHOP_URL_ENV.format(slug.upper().replace("-", "_")), "").rstrip("/")


def demo_dir():
    return Path(settings.DEMO_DIR)


def printful_demo(index):
    return index == 0 and bool(os.environ.get(PRINTFUL_URL_ENV))


def _personalised(line):
    return any(meta.get("key") == "_project_id" for meta in line["meta_data"])


def make_trouble(payloads, *, printful, made_here):
    """One paid order the provider will refuse, with the reason staff then read: for Printful an address in the
    US without its state, for the print room a print file the shop's editor lost. It is the first paid order whose
    SKUs are all `made_here` (not dropshipped) and none personalised (no render to wait for), so that the demo
    submits it (demo_production sends it first); returns its number, or None."""
    paid = [p for p in payloads if p["status"] == "processing"
            and all(line["sku"] in made_here for line in p["line_items"])]
    order = next((p for p in paid if not any(_personalised(line) for line in p["line_items"])),
                 paid[0] if paid else None)
    if order is None:
        return None
    if printful:
        address = {**order["shipping"], "city": "Austin", "state": "", "postcode": "78701", "country": "US"}
        order["shipping"] = address  # billed at home, shipped to a friend abroad
    else:
        order["line_items"][0]["meta_data"].append(
            {"id": order["id"] * 100 + 99, "key": "_production_file",
             "value": str(demo_dir() / "uploads" / f"order-{order['id']}-print.pdf")})
    return order["number"]


# -- the shop ------------------------------------------------------------------------------------------------------

def _for_shop(payload):
    """A demo order as the REST API creates it: no ids (the shop gives them); a refunded order is first completed."""
    body = copy.deepcopy(payload)
    for name in ("id", "number", "refunds"):
        body.pop(name, None)
    for group in ("line_items", "shipping_lines", "fee_lines"):
        for item in body.get(group) or []:
            item.pop("id", None)
            for meta in item.get("meta_data") or []:
                meta.pop("id", None)
    if body["status"] == "refunded":
        body["status"] = "completed"
    return body


def _refund_items(order, *, whole):
    """Refund lines for the shop: everything (whole), or one item of the first line and the shipping."""
    items = []
    lines = order["line_items"] if whole else order["line_items"][:1]
    for line in lines + order["shipping_lines"]:
        quantity = line.get("quantity", 0) if whole or line not in lines else 1
        share = 1 if whole or line not in lines else quantity / line["quantity"]
        net, tax = float(line["total"]) * share, float(line["total_tax"]) * share
        item = {"id": line["id"], "refund_total": f"{net:.2f}"}
        if line in lines:
            item["quantity"] = quantity
        rate = next((t["id"] for t in line.get("taxes") or []), None)
        if rate is not None:
            item["refund_tax"] = [{"id": rate, "refund_total": f"{tax:.2f}"}]
        items.append(item)
    amount = sum(float(i["refund_total"]) + sum(float(t["refund_total"]) for t in i.get("refund_tax", []))
                 for i in items)
    return items, (order["total"] if whole else f"{amount:.2f}")


def shop_fill(store, payloads, *, client=None):
    """Write the demo history into an empty shop stand-in, register its webhooks, import it: returns its orders."""
    client = client or WooClient.for_store(store)
    _body, headers = client.request("GET", "orders", params={"per_page": 1})
    if int(headers.get("X-WP-Total") or 0) == 0:
        refunded = {p["number"] for p in payloads if p["status"] == "refunded"}
        for start in range(0, len(payloads), 100):
            batch = payloads[start:start + 100]
            made = client.create_orders([_for_shop(p) for p in batch])
            for n, (payload, order) in enumerate(zip(batch, made)):
                if not order.get("id"):
                    logger.warning("demo shop %s refused an order: %s", store.slug, order.get("error"))
                    continue
                whole = payload["number"] in refunded
                if whole or (order["status"] == "completed" and (start + n) % PARTIAL_REFUND_EVERY == 0):
                    items, amount = _refund_items(order, whole=whole)
                    client.create_refund(order["id"], {
                        "amount": amount, "api_refund": False, "line_items": items,
                        "reason": "Damaged in transit" if whole else "One item arrived broken; shipping refunded"})
    shop_webhooks(store, client=client)
    run = import_run_execute(run=import_run_create(store=store, mode=ImportMode.ALL), client=client)
    store_sync(store=store, client=client)
    pending = Refund.objects.filter(order__store=store, lines_pending=True).values_list("order_id", flat=True)
    refund_lines_fetch_orders(order_ids=list(pending), source=EventSource.IMPORT, client_for=lambda _store: client)
    return run.orders_seen


def shop_webhooks(store, *, client):
    """The shop's order webhooks to our webhook URL, with the store's secret (each topic once)."""
    backoffice = os.environ.get(BACKOFFICE_URL_ENV, "").rstrip("/")
    if not backoffice:
        return 0
    url = backoffice + reverse("fulfillment:woocommerce-webhook", args=[store.slug])
    known = {(w.get("topic"), w.get("delivery_url")) for w in client.list_webhooks()}
    made = 0
    for topic in WEBHOOK_TOPICS:
        if (topic, url) not in known:
            client.create_webhook(topic=topic, delivery_url=url, secret=store.webhook_secret,
                                  name=f"Back-office {topic}")
            made += 1
    return made


# -- production -----------------------------------------------------------------------------------------------------

def demo_providers(store, index):
    """The store's demo provider: Printful's stand-in for the first shop when it runs, else a file-drop print room."""
    if printful_demo(index):
        provider, _ = Provider.objects.get_or_create(
            store=store, name="Printful (demo provider)",
            defaults={"kind": ProviderKind.PRINTFUL, "webhook_token": f"demo-{store.slug}-printful-hook"})
        provider.kind, provider.skus, provider.base_url = ProviderKind.PRINTFUL, "*", os.environ[PRINTFUL_URL_ENV]
        provider.credentials_env, provider.confirm_orders, provider.active = PRINTFUL_TOKEN_ENV, True, True
        provider.save()
        backoffice = os.environ.get(BACKOFFICE_URL_ENV, "").rstrip("/")
        if backoffice:
            url = backoffice + reverse("fulfillment:provider-webhook", args=[provider.pk, provider.webhook_token])
            try:
                adapter_for(provider).webhook_set(url)
            except ProviderError as exc:
                logger.warning("demo provider: webhook not set: %s", exc)
    else:
        folder = demo_dir() / "print-room" / store.slug
        provider, _ = Provider.objects.update_or_create(
            store=store, name="Print room (demo, file drop)",
            defaults={"kind": ProviderKind.FILE_DROP, "skus": "*", "folder": str(folder), "active": True})
    Provider.objects.filter(store=store).exclude(pk=provider.pk).update(active=False)
    return provider


def demo_production(store, index, *, trouble=None):
    """Send a few paid orders to production now: the one its provider refuses (number `trouble`), then the newest
    whose files are ready (the renders projects made at load are of the newest paid orders; a personalised line
    not rendered yet cannot go); a few completed orders were shipped by staff. Nothing is done twice when the demo
    is loaded again."""
    if not Submission.objects.filter(order__store=store).exists():
        submitted = 0
        paid = Order.objects.filter(store=store, status="processing", trashed=False)
        first = list(paid.filter(number=trouble)) if trouble else []
        for order in first + list(paid.exclude(pk__in=[o.pk for o in first]).order_by("-created_at", "-pk")[:40]):
            try:
                submissions = order_submit(order=order, user=None, source=EventSource.SYSTEM,
                                           reason="Demo: sent to production")
            except SubmissionError:
                continue
            for submission in submissions:
                submission_execute(submission_id=submission.pk)
            submitted += 1
            if submitted > SUBMITTED_AT_ONCE:
                break
    carrier, form = STAFF_CARRIERS.get(store.currency, STAFF_CARRIERS["EUR"])
    shipped = Shipment.objects.filter(order__store=store).values("order_id")
    for order in (Order.objects.filter(store=store, status="completed", trashed=False, refunds__isnull=True)
                  .exclude(pk__in=shipped).order_by("pk")[:SHIPPED_BY_STAFF]
                  if not Shipment.objects.filter(order__store=store, carrier=carrier).exists() else []):
        try:
            shipment_add(order=order, carrier=carrier, tracking_number=form.format(order.woo_id),
                         shipped_on=(order.created_at + timedelta(days=2)).date(), user=None,
                         source=EventSource.STAFF, confirm_complete=True)
        except OrderActionError as exc:
            logger.warning("demo shipment of order %s not made: %s", order.number, exc)
    return Submission.objects.filter(order__store=store).exclude(state=SubmissionState.FAILED).count()

