"""The demo's stand-ins as scripts/run.sh starts them, real local HTTP servers talking to a running back-office:
the shop takes our pushes and sends its signed webhooks back, the provider ships what we submit and says so."""

import random
import time
from datetime import UTC, datetime

import pytest
import requests

from fulfillment import demo_systems
from fulfillment.carriers import carrier_named
from fulfillment.choices import DeliveryState, EventSource, SubmissionState
from fulfillment.demo import DEMO_STORES, demo_order
from fulfillment.integrations.woocommerce.client import WooClient
from fulfillment.models import Order, OrderLine, Shipment, Submission, WebhookDelivery
from fulfillment.services.mirror import orders_upsert
from fulfillment.services.orders import order_change_status
from fulfillment.services.submissions import order_submit
from tests.browser.conftest import one_request_at_a_time_on_sqlite  # noqa: F401 (the live server, one request at a time)
from tests.factories import StoreFactory
from tests.fakes.printful import FakePrintful
from tests.fakes.woocommerce_demo import DemoShop
from tests.projects.factories import ProductTemplateFactory, ProjectFactory

PRINTFUL_TOKEN = "pf-demo-token-0123456789abcdefghijklmnopqrs"


def wait_for(condition, timeout=20.0):
    """Poll a condition that reads no database (the live server's thread shares the test's connection on SQLite)."""
    deadline = time.monotonic() + timeout
    while time.monotonic() < deadline:
        if condition():
            return True
        time.sleep(0.05)
    raise AssertionError("timed out waiting")


@pytest.fixture
def shop():
    server = DemoShop(webhook_delay=0.1).start()
    yield server
    server.stop()


@pytest.fixture
def demo_store(shop, live_server, monkeypatch):
    monkeypatch.setenv("DEMO_BACKOFFICE_URL", live_server.url)
    return StoreFactory(slug="demo-shop", base_url=shop.url, consumer_key=shop.consumer_key,
                        consumer_secret=shop.consumer_secret, webhook_secret="demoSecret42", has_shipment_tracking=True)


def order_in_shop_and_mirror(store, *, spec=DEMO_STORES[1], status="processing"):
    """An order placed in the shop through its REST API, and mirrored from it; its personalised lines' projects
    exist, and are rendered for print as the order arrives."""
    payload = demo_order(random.Random(7), 1000, spec, datetime.now(UTC))
    payload["status"] = status
    template = ProductTemplateFactory(store=store)
    for line in payload["line_items"]:
        for meta in line["meta_data"]:
            if meta["key"] == "_project_id":
                ProjectFactory(template=template, ref=meta["value"], pages=[{"slots": {"caption": {"text": "Hi"}}}])
    client = WooClient.for_store(store)
    (made,) = client.create_orders([demo_systems._for_shop(payload)])
    orders_upsert(store=store, payloads=[client.get_order(made["id"])], source=EventSource.IMPORT)
    return Order.objects.get(store=store, woo_id=made["id"])


def test_a_status_pushed_to_the_demo_shop_comes_back_as_its_signed_webhook_and_is_applied(shop, demo_store):
    client = WooClient.for_store(demo_store)
    assert demo_systems.shop_webhooks(demo_store, client=client) == 4
    assert demo_systems.shop_webhooks(demo_store, client=client) == 0  # registered once
    order = order_in_shop_and_mirror(demo_store)
    wait_for(shop.idle)  # the order.created delivery of the order placed above
    assert ("order.created" in {topic for _w, topic, _o, _s in shop.delivered})

    order_change_status(order=order, status="on-hold", user=None)  # the push is sent after commit

    wait_for(lambda: shop.orders[order.woo_id]["status"] == "on-hold")
    wait_for(lambda: any(t == "order.updated" and s == 200 for _w, t, _o, s in shop.delivered) and shop.idle())
    delivery = WebhookDelivery.objects.get(store=demo_store, topic="order.updated")
    assert delivery.state == DeliveryState.APPLIED  # its signature was accepted, and it was applied
    order.refresh_from_db()
    assert order.status == "on-hold"
    demo_store.refresh_from_db()
    assert demo_store.last_webhook_at is not None
    assert not [w for w in demo_store.health_warnings() if "webhook" in w.lower()]


def test_a_submission_to_the_demo_provider_comes_back_shipped_and_its_tracking_reaches_the_shop(
        shop, demo_store, live_server, monkeypatch, settings):
    printful = FakePrintful(token=PRINTFUL_TOKEN, demo=True, ship_after=0.3).start()
    try:
        monkeypatch.setenv("DEMO_PRINTFUL_URL", printful.url)
        monkeypatch.setenv("DEMO_PRINTFUL_TOKEN", PRINTFUL_TOKEN)
        settings.BACKOFFICE_PUBLIC_URL = live_server.url  # as scripts/run.sh sets it
        provider = demo_systems.demo_providers(demo_store, 0)
        assert printful.webhook["url"] == (f"{live_server.url}/webhooks/providers/{provider.pk}/"
                                           f"{provider.webhook_token}/")
        order = order_in_shop_and_mirror(demo_store)

        (submission,) = order_submit(order=order, user=None)  # sent to the provider after commit

        external_id = submission.external_id
        wait_for(lambda: (("package_shipped", external_id, 200) in printful.webhook_posts)
                 and shop.trackings.get(order.woo_id) and shop.idle())
    finally:
        printful.stop()
    assert Submission.objects.get(pk=submission.pk).state == SubmissionState.SUBMITTED
    shipment = Shipment.objects.get(order=order)
    assert shipment.carrier == "DHL Express" and carrier_named("DHL Express").matches(shipment.tracking_number)
    (tracking,) = shop.trackings[order.woo_id]
    assert tracking["tracking_number"] == shipment.tracking_number
    assert shop.orders[order.woo_id]["status"] == "completed"  # everything shipped
    order.refresh_from_db()
    assert order.status == "completed"
    assert any(m["key"] == "_wc_shipment_tracking_items" for m in shop.orders[order.woo_id]["meta_data"])
    # Each personalised line went with one file, its render, as a signed link to the back-office that the provider
    # downloaded before it shipped
    files = [[f["url"] for f in item["files"]] for item in printful.order(external_id)["items"]]
    personalised = OrderLine.objects.filter(order=order).exclude(project_ref="").count()
    assert personalised and sorted(len(f) for f in files) == sorted([1] * personalised + [0] * (
        len(files) - personalised))
    links = [url for item in files for url in item]
    assert all(url.startswith(f"{live_server.url}/files/production/") for url in links)
    assert {(url, status) for url, status, _size in printful.downloads} == {(url, 200) for url in links}
    assert requests.get(links[0], timeout=5).content.startswith(b"%PDF-")


def test_with_every_stand_in_the_shops_and_the_mirror_agree(db, settings, tmp_path, monkeypatch,
                                                          django_capture_on_commit_callbacks):
    from accounting.choices import Connector
    from accounting.models import ExportRule
    from fulfillment.demo import load_demo
    from fulfillment.models import Refund
    from tests.fakes.moneybird import TOKEN, FakeMoneybird

    settings.ACCOUNTING_EXPORT_DIR, settings.DEMO_DIR = tmp_path / "exports", tmp_path / "demo"
    shops = {slug: DemoShop(consumer_key="ck_demo", consumer_secret="cs_demo",
                            custom_statuses=["awaiting-proof"]).start() for slug in ("DEMO_EU", "DEMO_UK")}
    printful = FakePrintful(token=PRINTFUL_TOKEN, demo=True, ship_after=60).start()
    moneybird = FakeMoneybird(token=TOKEN, rate_limit=10_000).start()
    for slug, server in shops.items():
        monkeypatch.setenv(f"DEMO_SHOP_URL_{slug}", server.url)
    monkeypatch.setenv("DEMO_PRINTFUL_URL", printful.url)
    monkeypatch.setenv("DEMO_PRINTFUL_TOKEN", PRINTFUL_TOKEN)
    monkeypatch.setenv("DEMO_MONEYBIRD_URL", moneybird.base_url)
    monkeypatch.setenv("DEMO_MONEYBIRD_TOKEN", TOKEN)
    settings.BACKOFFICE_PUBLIC_URL = "http://127.0.0.1:9"  # as scripts/run.sh sets it (nothing listens: not fetched)
    try:
        with django_capture_on_commit_callbacks(execute=True):
            counts = load_demo(orders_per_store=40)
            again = load_demo(orders_per_store=40)
    finally:
        for server in (*shops.values(), printful, moneybird):
            server.stop()

    # The orders were written into the shops once, and the mirror has each as its shop has it
    assert counts == again == {"demo-eu": 40, "demo-uk": 40}
    for slug, server in shops.items():
        assert len(server.orders) == 40
        mirrored = dict(Order.objects.filter(store__slug=slug.lower().replace("_", "-"))
                        .values_list("woo_id", "status"))
        assert mirrored == {woo_id: o["status"] for woo_id, o in server.orders.items()}
    assert {"refunded", "completed", "processing", "on-hold", "pending", "cancelled"} <= {
        o["status"] for s in shops.values() for o in s.orders.values()}
    # Refunds were made in the shop (whole ones, and one item with the shipping), mirrored with their lines
    assert Refund.objects.count() == sum(len(r) for s in shops.values() for r in s.refunds.values()) > 0
    assert not Refund.objects.filter(lines_pending=True).exists()
    assert Refund.objects.filter(reason__contains="shipping refunded").exists()
    # Production: Printful makes the first shop's products, a print room the second's; one submission each failed
    submissions = Submission.objects.select_related("provider")
    failed = submissions.filter(state=SubmissionState.FAILED)
    assert {s.provider.name for s in failed} == {"Printful (demo provider)", "Print room (demo, file drop)"}
    assert any("State code is missing for country US" in s.failure_reason for s in failed)
    assert printful.created == submissions.filter(provider__kind="printful", state=SubmissionState.SUBMITTED).count() > 1
    assert not submissions.filter(failure_reason__contains="File URL").exists()
    # Each line went with at most one file, a personalised line with exactly one: its render, as a signed link
    personalised = set(OrderLine.objects.filter(order__store__slug="demo-eu").exclude(project_ref="")
                       .values_list("woo_line_id", flat=True))
    sent = [(int(item["external_id"]), [f["url"] for f in item["files"]])
            for order in printful.orders.values() for item in order["items"]]
    assert any(line in personalised for line, _files in sent)
    for line, files in sent:
        assert len(files) == (1 if line in personalised else 0)
        assert all(url.startswith("http://127.0.0.1:9/files/production/") for url in files)
    assert list((tmp_path / "demo" / "print-room" / "demo-uk").glob("*.zip"))
    # Staff's parcels reached the shops, as tracking items
    assert Shipment.objects.filter(carrier__in=["PostNL", "Royal Mail"]).count() == 2 * demo_systems.SHIPPED_BY_STAFF
    assert sum(len(t) for s in shops.values() for t in s.trackings.values()) >= Shipment.objects.count()
    # The first shop books its invoices in Moneybird
    rule = ExportRule.objects.get(store__slug="demo-eu")
    assert rule.connector == Connector.MONEYBIRD and moneybird.invoices
