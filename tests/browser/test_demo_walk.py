"""The demo walked end to end as a newcomer would, in Debian's Chromium driven by Playwright, against the demo's
stand-ins running as real local HTTP servers (the shop, Printful, Moneybird): a status change reaches the shop, an
order sent to production comes back shipped with its tracking, a project is reprocessed, a refund with the shipping
reaches the shop, and the order's invoices reach accounting."""

from decimal import Decimal

import pytest
from django.db import connections
from django.urls import reverse

from accounting.choices import DocumentKind, ExportState
from accounting.models import Invoice
from fulfillment import demo_systems
from fulfillment.choices import DeliveryState, SubmissionState
from fulfillment.demo import PRODUCTS, load_demo
from fulfillment.integrations.woocommerce.client import WooClient
from fulfillment.models import Order, Refund, Shipment, Store, Submission, WebhookDelivery
from projects.choices import RenderPurpose, RenderState
from projects.models import Project, Render
from tests.browser.conftest import log_in
from tests.fakes.moneybird import TOKEN as MONEYBIRD_TOKEN
from tests.fakes.moneybird import FakeMoneybird
from tests.fakes.printful import FakePrintful
from tests.factories import UserFactory
from tests.fakes.woocommerce_demo import DemoShop
from tests.fulfillment.test_demo_systems import PRINTFUL_TOKEN, wait_for

pytestmark = [pytest.mark.browser, pytest.mark.django_db(transaction=True)]
MADE_HERE = {product[2] for product in PRODUCTS}


@pytest.fixture
def demo(live_server, settings, tmp_path, monkeypatch):
    """The demo as scripts/run.sh loads it, small: the first shop (and its Printful and Moneybird) as stand-ins."""
    settings.ACCOUNTING_EXPORT_DIR, settings.DEMO_DIR = tmp_path / "exports", tmp_path / "demo"
    settings.BACKOFFICE_PUBLIC_URL = live_server.url  # Printful fetches the renders from here, as run.sh sets it
    # The live server's request threads close their connections after each answer (on PostgreSQL they would be kept
    # for DB_CONN_MAX_AGE, and the last webhooks' would still be open when the test database is dropped).
    monkeypatch.setitem(connections.settings["default"], "CONN_MAX_AGE", 0)
    shop = DemoShop(consumer_key="ck_demo", consumer_secret="cs_demo", custom_statuses=["awaiting-proof"],
                    webhook_delay=0.1).start()
    printful = FakePrintful(token=PRINTFUL_TOKEN, demo=True, ship_after=600).start()  # the load's: not in the test
    moneybird = FakeMoneybird(token=MONEYBIRD_TOKEN, rate_limit=10_000)
    for country, rate in (("AT", 20), ("IT", 22), ("ES", 21)):  # as scripts/run.sh starts it
        moneybird.add_oss_rate(country, rate)
    moneybird.start()
    for name, value in {"DEMO_SHOP_URL_DEMO_EU": shop.url,
                        "DEMO_PRINTFUL_URL": printful.url, "DEMO_PRINTFUL_TOKEN": PRINTFUL_TOKEN,
                        "DEMO_MONEYBIRD_URL": moneybird.base_url, "DEMO_MONEYBIRD_TOKEN": MONEYBIRD_TOKEN}.items():
        monkeypatch.setenv(name, value)
    try:
        load_demo(orders_per_store=16)
        # The shop's and Printful's webhooks to the live back-office once the load is done: on SQLite the live
        # server's thread shares the test's connection, and a webhook taken in the middle of the load finds its
        # tables locked.
        monkeypatch.setenv("DEMO_BACKOFFICE_URL", live_server.url)
        store = Store.objects.get(slug="demo-eu")
        assert demo_systems.shop_webhooks(store, client=WooClient.for_store(store)) == 4
        demo_systems.demo_providers(store, 0)
        assert printful.webhook["url"].startswith(live_server.url)
        printful.ship_after = 0.5  # what staff submit is shipped a moment later
        yield shop, printful, moneybird
    finally:
        for server in (shop, printful, moneybird):
            server.stop()


def production_versions(project):
    return list(Render.objects.filter(project=project, purpose=RenderPurpose.PRODUCTION)
                .order_by("version").values_list("version", flat=True))


def walked_order():
    """An order of the first shop on hold, all made here, with a personalised line whose print file the demo rendered
    (paid orders the demo sent to production at load)."""
    for order in Order.objects.filter(store__slug="demo-eu", status="on-hold").order_by("pk"):
        lines = list(order.lines.all())
        rendered = set(Render.objects.filter(project__order_line__order=order, purpose=RenderPurpose.PRODUCTION,
                                             state=RenderState.DONE).values_list("project__ref", flat=True))
        if all(line.sku in MADE_HERE for line in lines) and any(line.project_ref for line in lines) and all(
                line.project_ref in rendered for line in lines if line.project_ref):
            return order
    raise AssertionError("the demo has no order to walk")


def test_a_newcomer_walks_the_demo_end_to_end(page, live_server, demo):
    shop, printful, moneybird = demo
    UserFactory(username="demo", is_superuser=True)
    order = walked_order()
    woo_id = order.woo_id
    project = Project.objects.get(ref=next(line.project_ref for line in order.lines.all() if line.project_ref))
    versions = production_versions(project)
    order_page = f"{live_server.url}{reverse('admin:fulfillment_order_change', args=[order.pk])}"
    log_in(page, live_server, "demo")

    # 1. released from hold: the status reaches the shop, whose webhook comes back and is applied; the order is
    # invoiced (the shop invoices its processing orders)
    page.goto(order_page)
    page.select_option("#status-form select[name=status]", "processing")
    page.click("#status-form button[type=submit]")
    page.wait_for_selector(".messagelist .success")
    wait_for(lambda: shop.orders[woo_id]["status"] == "processing"
             and any(t == "order.updated" and o == woo_id for _w, t, o, _s in shop.delivered) and shop.idle())
    assert Order.objects.get(pk=order.pk).status == "processing"
    assert WebhookDelivery.objects.filter(store=order.store, topic="order.updated",
                                          state=DeliveryState.APPLIED).exists()
    assert Invoice.objects.filter(order=order, kind=DocumentKind.INVOICE).count() == 1
    page.goto(order_page)
    assert "Processing" in page.inner_text("h1")

    # 2. sent to production: Printful ships it, says so by its webhook, and the tracking reaches the shop
    page.click("#submit-form button[type=submit]")
    page.wait_for_selector(".messagelist .success")
    (submission,) = Submission.objects.filter(order=order)
    assert submission.state == SubmissionState.SUBMITTED
    wait_for(lambda: ("package_shipped", submission.external_id, 200) in printful.webhook_posts
             and shop.trackings.get(woo_id) and shop.orders[woo_id]["status"] == "completed" and shop.idle())
    printful.ship_after = 600  # nothing else is shipped while the test reads the database
    # Its one print file per personalised line went as a signed link to the back-office, which Printful downloaded
    links = [f["url"] for item in printful.order(submission.external_id)["items"] for f in item["files"]]
    assert len(links) == sum(1 for line in order.lines.all() if line.project_ref)
    assert {(url, 200) for url in links} <= {(url, status) for url, status, _size in printful.downloads}
    assert all(url.startswith(f"{live_server.url}/files/production/") for url in links)
    shipment = Shipment.objects.get(order=order)
    assert shop.trackings[woo_id][0]["tracking_number"] == shipment.tracking_number
    page.goto(order_page)
    assert shipment.tracking_number in page.inner_text("#shipments")
    assert Order.objects.get(pk=order.pk).status == "completed" and "Completed" in page.inner_text("h1")

    # 3. the project reprocessed: a new version of its print file
    page.click("#reprocess-panel summary")
    page.fill("#reprocess-reason", "Customer sent a sharper photo")
    page.click("#reprocess-form button[type=submit]")
    page.wait_for_selector(".messagelist .success")
    (version,) = production_versions(project)[len(versions):]
    assert version > max(versions, default=0)
    assert f"Print file, version {version} (PDF)" in page.inner_text(f".project-box[data-project='{project.ref}']")
    assert "Customer sent a sharper photo" in page.inner_text("#timeline")

    # 4. one item and the shipping refunded: the refund reaches the shop, with its shipping line
    shipping_id = shop.orders[woo_id]["shipping_lines"][0]["id"]
    page.click("#refund-panel summary")
    page.locator("#refund-form input.refund-qty").first.fill("1")
    shipping = page.locator(f"#refund-form input[name=amount_{shipping_id}]")
    shipping_total = shipping.get_attribute("data-max")  # with its VAT
    shipping.fill(shipping_total)
    page.fill("#refund-form input[name=reason]", "Arrived late; shipping refunded")
    page.click("#refund-form button[type=submit]")
    page.wait_for_selector(".messagelist .success")
    wait_for(lambda: shop.refunds.get(woo_id) and shop.idle())
    assert "Arrived late; shipping refunded" in page.inner_text("#timeline")
    refund = Refund.objects.get(order=order, created_by__username="demo")
    (sent,) = shop.refunds[woo_id]
    assert Decimal(sent["amount"]) == refund.amount > Decimal(shipping_total) > 0
    (shipping_refunded,) = sent["shipping_lines"]
    assert shipping_refunded["meta_data"][0]["value"] == str(shipping_id)
    assert -Decimal(shipping_refunded["total"]) - Decimal(shipping_refunded["total_tax"]) == Decimal(
        shipping_total)
    assert len(sent["line_items"]) == 1 and sent["line_items"][0]["quantity"] == -1

    # 5. accounting: the order's invoice and the refund's credit note are booked in Moneybird
    documents = list(Invoice.objects.filter(order=order).order_by("pk"))
    assert [d.kind for d in documents] == [DocumentKind.INVOICE, DocumentKind.CREDIT_NOTE]
    assert all(d.export_state == ExportState.EXPORTED for d in documents)
    booked = {number: moneybird.invoice(number) for number in (d.number for d in documents)}
    assert all(booked.values())
    credit_note = documents[1]
    assert credit_note.gross_total == refund.amount
    assert Decimal(booked[credit_note.number]["total_price_excl_tax"]) == -credit_note.net_total
    page.goto(order_page)
    for document in documents:
        assert "Exported" in page.inner_text(f"#invoice-documents tr[data-number='{document.number}']")
