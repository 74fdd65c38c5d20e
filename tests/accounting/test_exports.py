import json
import os
from datetime import UTC, datetime, timedelta
from io import StringIO

import pytest
from django.core.management import CommandError, call_command
from django.utils import timezone

from accounting import tasks
from accounting.choices import ExportState
from accounting.models import AccountingExport, ExportRule
from accounting.services.exports import (
    MAX_AUTOMATIC_ATTEMPTS,
    export_order,
    exports_export_now,
    exports_follow_orders,
    exports_run_open,
)
from fulfillment.choices import EventSource, EventType
from fulfillment.models import Order, OrderEvent
from fulfillment.services.mirror import order_mark_trashed, orders_upsert
from fulfillment.services.orders import order_change_status
from tests.factories import OrderFactory, StoreFactory, UserFactory
from tests.woo_payloads import line_item, order_payload

START = datetime(2026, 11, 1, 10, 0, tzinfo=UTC)


def mirror(store, *payloads, source=EventSource.WEBHOOK):
    return orders_upsert(store=store, payloads=list(payloads), source=source)


def record(store, woo_id):
    return AccountingExport.objects.select_related("order").get(order__store=store, order__woo_id=woo_id)


def exported_file(export_dir, store, number):
    return export_dir / store.slug / f"{store.slug}-{number}.json"


def accounting_events(order_id):
    return list(OrderEvent.objects.filter(order_id=order_id, type__in=[
        EventType.ACCOUNTING_EXPORTED, EventType.ACCOUNTING_EXPORT_FAILED]).order_by("id").values_list(
        "type", "message"))


# -- records follow the orders -----------------------------------------------------------------------------------

def test_stores_with_an_enabled_rule_get_open_records_and_matching_orders_are_exported(
        shop, export_dir, django_capture_on_commit_callbacks):
    # Given a store without a rule and one whose rule is switched off, beside the exporting shop
    bare = StoreFactory(slug="bare")
    off = StoreFactory(slug="off")
    ExportRule.objects.create(store=off, statuses=["completed"], enabled=False)

    # When orders arrive in each
    with django_capture_on_commit_callbacks(execute=True):
        mirror(shop, order_payload(101, status="processing"), order_payload(102, status="completed"))
        mirror(bare, order_payload(201, status="completed"))
        mirror(off, order_payload(301, status="completed"))

    # Then only the shop's orders have records: the processing one open, the completed one exported
    assert record(shop, 101).state == ExportState.OPEN
    done = record(shop, 102)
    assert (done.state, done.reference, done.attempts, done.error) == (ExportState.EXPORTED, "nl-102.json", 1, "")
    assert done.exported_at is not None and done.store_id == shop.pk
    assert AccountingExport.objects.count() == 2
    assert sorted(p.name for p in (export_dir / "nl").iterdir()) == ["nl-102.json"]
    assert not (export_dir / "bare").exists() and not (export_dir / "off").exists()
    assert accounting_events(done.order_id) == [
        (EventType.ACCOUNTING_EXPORTED, "Exported to accounting as nl-102.json (attempt 1)")]
    assert accounting_events(record(shop, 101).order_id) == []


def test_the_file_holds_the_order_with_money_as_strings(shop, export_dir, django_capture_on_commit_callbacks):
    # Given a completed order with two lines, a refund and VAT
    payload = order_payload(
        4711, status="completed", country="NL", city="Utrecht", first_name="Anna", last_name="de Vries",
        line_items=[line_item(47111, name="Photo book A4", sku="BOOK-A4", quantity=2, total="59.80",
                              total_tax="12.56"),
                    line_item(47112, name="Mug", sku="MUG-11", quantity=1, total="9.50", total_tax="2.00")],
        refunds=[{"id": 901, "reason": "mug arrived broken", "total": "-11.50"}],
    )

    # When it is mirrored
    with django_capture_on_commit_callbacks(execute=True):
        mirror(shop, payload)

    # Then the document has its number, customer, billing address, totals, taxes, lines and refunds
    document = json.loads(exported_file(export_dir, shop, "4711").read_text(encoding="utf-8"))
    assert {k: document[k] for k in ("version", "store", "number", "woo_id", "status", "currency")} == {
        "version": 1, "store": "nl", "number": "4711", "woo_id": 4711, "status": "completed", "currency": "EUR"}
    assert document["created_at"] == (START + timedelta(minutes=4711)).isoformat()
    assert document["customer"] == {"woo_id": 0, "name": "Anna de Vries", "email": "customer4711@example.com"}
    assert document["billing"] == {
        "first_name": "Anna", "last_name": "de Vries", "company": "", "address_1": "Hauptstraße 2", "address_2": "",
        "postcode": "1010", "city": "Utrecht", "state": "", "country": "NL", "email": "customer4711@example.com",
        "phone": "+49 30 100001"}
    assert document["totals"] == {"total": "40.08", "total_tax": "6.68", "shipping": "4.90", "shipping_tax": "0.98",
                                  "discount": "0.00", "discount_tax": "0.00", "refunded": "11.50"}
    assert document["taxes"] == [{"rate_code": "AT-VAT AT-1", "label": "VAT AT", "rate_percent": "20",
                                  "compound": False, "tax_total": "5.70", "shipping_tax_total": "0.98"}]
    assert [(line["sku"], line["quantity"], line["total"], line["total_tax"], line["subtotal"])
            for line in document["lines"]] == [("BOOK-A4", 2, "59.80", "12.56", "59.80"),
                                               ("MUG-11", 1, "9.50", "2.00", "9.50")]
    assert document["lines"][0]["price"] == "29.90"
    assert document["shipping_lines"] == [{"method": "Flat rate", "total": "4.90", "total_tax": "0.98"}]
    assert [{k: r[k] for k in ("woo_refund_id", "amount", "reason")} for r in document["refunds"]] == [
        {"woo_refund_id": 901, "amount": "11.50", "reason": "mug arrived broken"}]
    # No float anywhere: every amount is a string with the currency's decimals
    floats = []

    def walk(value):
        if isinstance(value, float):
            floats.append(value)
        elif isinstance(value, dict):
            for item in value.values():
                walk(item)
        elif isinstance(value, list):
            for item in value:
                walk(item)

    walk(document)
    assert floats == []
    # The temporary file was renamed, not left beside
    assert [p.name for p in (export_dir / "nl").iterdir()] == ["nl-4711.json"]


def test_amounts_have_the_decimals_of_their_currency(shop, export_dir, django_capture_on_commit_callbacks):
    payload = order_payload(88, status="completed", currency="JPY", total="1500", total_tax="136",
                            shipping_total="500", shipping_tax="45",
                            line_items=[line_item(881, total="1000", total_tax="91", sku="MUG-JP")])

    with django_capture_on_commit_callbacks(execute=True):
        mirror(shop, payload)

    document = json.loads(exported_file(export_dir, shop, "88").read_text())
    assert (document["currency"], document["totals"]["total"], document["totals"]["shipping"]) == ("JPY", "1500", "500")
    assert (document["lines"][0]["total"], document["lines"][0]["total_tax"]) == ("1000", "91")


def test_an_open_order_is_exported_when_a_webhook_brings_a_chosen_status(
        shop, export_dir, django_capture_on_commit_callbacks):
    # Given an order mirrored while processing: open, nothing written
    with django_capture_on_commit_callbacks(execute=True):
        mirror(shop, order_payload(7, status="processing", modified=START))
    assert record(shop, 7).state == ExportState.OPEN
    assert not exported_file(export_dir, shop, "7").exists()

    # When a later webhook says it is completed
    with django_capture_on_commit_callbacks(execute=True):
        mirror(shop, order_payload(7, status="completed", modified=START + timedelta(days=2)))

    # Then it is exported at once
    export = record(shop, 7)
    assert (export.state, export.attempts) == (ExportState.EXPORTED, 1)
    assert json.loads(exported_file(export_dir, shop, "7").read_text())["status"] == "completed"


def test_a_custom_status_chosen_by_the_shop_exports(shop, export_dir, django_capture_on_commit_callbacks):
    ExportRule.objects.filter(store=shop).update(statuses=["completed", "invoiced"])

    with django_capture_on_commit_callbacks(execute=True):
        mirror(shop, order_payload(8, status="invoiced"), order_payload(9, status="shipped"))

    assert (record(shop, 8).state, record(shop, 9).state) == (ExportState.EXPORTED, ExportState.OPEN)


def test_a_staff_status_change_to_a_chosen_status_exports(shop, export_dir, django_capture_on_commit_callbacks):
    with django_capture_on_commit_callbacks(execute=True):
        mirror(shop, order_payload(12, status="processing"))
    order = Order.objects.get(store=shop, woo_id=12)

    with django_capture_on_commit_callbacks(execute=True):
        order_change_status(order=order, status="completed", user=UserFactory(username="ops"))

    export = record(shop, 12)
    assert export.state == ExportState.EXPORTED
    assert exported_file(export_dir, shop, "12").exists()


def test_an_order_is_never_exported_twice(shop, export_dir, django_capture_on_commit_callbacks, monkeypatch):
    # Given an exported order
    with django_capture_on_commit_callbacks(execute=True):
        mirror(shop, order_payload(5, status="completed", modified=START))
    export = record(shop, 5)
    written = exported_file(export_dir, shop, "5")
    os.utime(written, (1_000_000, 1_000_000))
    queued = []
    monkeypatch.setattr("accounting.services.exports.enqueue", lambda *args: queued.append(args))

    # When its task runs twice more, it is mirrored again with a change, and the follow-up runs again
    assert tasks.export_order(export.pk) == "exported nl-5.json"
    assert tasks.export_order(export.pk) == "exported nl-5.json"
    with django_capture_on_commit_callbacks(execute=True):
        result = mirror(shop, order_payload(5, status="completed", modified=START + timedelta(hours=1),
                                            customer_note="call before delivery"))
        assert exports_follow_orders(order_ids=[export.order_id]) == []
    assert result.updated == [5] and queued == []

    # Then it was written once: one attempt, one event, the file untouched
    export.refresh_from_db()
    assert (export.state, export.attempts) == (ExportState.EXPORTED, 1)
    assert len(accounting_events(export.order_id)) == 1
    assert written.stat().st_mtime == 1_000_000


def test_a_failure_keeps_its_reason_and_a_retry_exports(shop, tmp_path, django_capture_on_commit_callbacks):
    # Given a rule writing to a directory that does not exist
    target = tmp_path / "share" / "boekhouding"
    ExportRule.objects.filter(store=shop).update(directory=str(target))

    # When a completed order arrives
    with django_capture_on_commit_callbacks(execute=True):
        mirror(shop, order_payload(33, status="completed"))

    # Then it failed with the reason, and nothing was written
    export = record(shop, 33)
    assert (export.state, export.attempts, export.reference, export.exported_at) == (ExportState.FAILED, 1, "", None)
    assert export.error == f"The export directory {target} does not exist or is not a directory."
    assert accounting_events(export.order_id) == [(
        EventType.ACCOUNTING_EXPORT_FAILED, f"Export to accounting failed (attempt 1): {export.error}")]
    assert not target.exists()

    # When the directory is a file instead, it fails again with that reason
    target.parent.mkdir()
    target.write_text("not a folder")
    assert export_order(export_id=export.pk).state == ExportState.FAILED

    # When the share is there and staff retry
    target.unlink()
    target.mkdir()
    user = UserFactory(username="finance")
    outcome = exports_export_now(exports=AccountingExport.objects.filter(pk=export.pk), user=user)

    # Then it is exported, by them
    export.refresh_from_db()
    assert [e.pk for e in outcome.exported] == [export.pk] and outcome.failed == outcome.not_due == []
    assert (export.state, export.attempts, export.error, export.reference) == (ExportState.EXPORTED, 3, "",
                                                                               "nl-33.json")
    assert (target / "nl-33.json").exists()
    last = OrderEvent.objects.filter(order_id=export.order_id).latest("id")
    assert (last.type, last.user, last.source) == (EventType.ACCOUNTING_EXPORTED, user, EventSource.STAFF)


def test_automatic_retries_stop_after_the_last_attempt_but_staff_can_retry(shop, tmp_path):
    order = OrderFactory(store=shop, woo_id=44, status="completed")
    export = AccountingExport.objects.create(order=order, store=shop, state=ExportState.FAILED, error="disk full",
                                             attempts=MAX_AUTOMATIC_ATTEMPTS)

    assert exports_run_open().as_dict() == {"opened": 0, "exported": 0, "failed": 0}
    assert exports_follow_orders(order_ids=[order.pk]) == []
    assert export_order(export_id=export.pk).state == ExportState.FAILED

    export = export_order(export_id=export.pk, retry=True)
    assert (export.state, export.attempts) == (ExportState.EXPORTED, MAX_AUTOMATIC_ATTEMPTS + 1)


def test_staff_are_told_why_an_order_is_not_exported(shop):
    order = OrderFactory(store=shop, woo_id=45, status="processing", number="45")
    export = AccountingExport.objects.create(order=order, store=shop)

    outcome = exports_export_now(exports=AccountingExport.objects.filter(pk=export.pk), user=None)

    assert [(e.pk, reason) for e, reason in outcome.not_due] == [
        (export.pk, "status Processing is not one that exports")]
    export.refresh_from_db()
    assert (export.state, export.attempts) == (ExportState.OPEN, 0)


# -- the nightly job -----------------------------------------------------------------------------------------------

def test_the_nightly_job_exports_open_records_whose_status_now_matches(shop, export_dir):
    # Given open records, two of which reached completed without news reaching us (no webhook)
    orders = [OrderFactory(store=shop, woo_id=n, status="processing") for n in (61, 62, 63)]
    exports_follow_orders(order_ids=[o.pk for o in orders])
    Order.objects.filter(woo_id__in=[61, 62]).update(status="completed")
    # and an exporting store created later whose recent orders have no record yet; an old one is not looked at
    late = StoreFactory(slug="late")
    recent = OrderFactory(store=late, woo_id=71, status="completed", modified_at=timezone.now() - timedelta(days=3))
    old = OrderFactory(store=late, woo_id=72, status="completed", modified_at=timezone.now() - timedelta(days=200))
    ExportRule.objects.create(store=late, statuses=["completed"])

    # When the nightly job runs
    result = tasks.run_open_exports()

    # Then the matching ones are exported, the other stays open
    assert result == "opened: 1, exported: 3, failed: 0, invoices queued: 0, invoices checked: 0, differ: 0"
    assert [record(shop, n).state for n in (61, 62, 63)] == [ExportState.EXPORTED, ExportState.EXPORTED,
                                                               ExportState.OPEN]
    assert AccountingExport.objects.get(order=recent).state == ExportState.EXPORTED
    assert not AccountingExport.objects.filter(order=old).exists()
    assert sorted(p.name for p in (export_dir / "nl").iterdir()) == ["nl-61.json", "nl-62.json"]
    assert (export_dir / "late" / "late-71.json").exists()

    # And a second night changes nothing
    assert exports_run_open().as_dict() == {"opened": 0, "exported": 0, "failed": 0}


def test_the_nightly_job_retries_failed_exports(shop, export_dir):
    order = OrderFactory(store=shop, woo_id=81, status="completed")
    export = AccountingExport.objects.create(order=order, store=shop, state=ExportState.FAILED,
                                             error="was not writable", attempts=2)

    counts = exports_run_open(store=shop)

    export.refresh_from_db()
    assert counts.as_dict() == {"opened": 0, "exported": 1, "failed": 0}
    assert (export.state, export.attempts, export.error) == (ExportState.EXPORTED, 3, "")


# -- the trash -----------------------------------------------------------------------------------------------------

def test_trashed_orders_are_never_exported(shop, export_dir, django_capture_on_commit_callbacks):
    # Given an open order that is then trashed in WooCommerce, and one that arrives trashed
    with django_capture_on_commit_callbacks(execute=True):
        mirror(shop, order_payload(91, status="processing"))
    order_mark_trashed(store=shop, woo_id=91, source=EventSource.WEBHOOK)
    trashed = OrderFactory(store=shop, woo_id=92, status="completed", trashed=True)

    # When its status matches anyway, the follow-up, the nightly job and the task run
    Order.objects.filter(woo_id=91).update(status="completed")
    export = record(shop, 91)
    with django_capture_on_commit_callbacks(execute=True):
        assert exports_follow_orders(order_ids=[export.order_id, trashed.pk]) == []
    counts = exports_run_open()
    export_order(export_id=export.pk)

    # Then nothing is exported, and the order that arrived trashed got no record
    export.refresh_from_db()
    assert (export.state, export.attempts) == (ExportState.OPEN, 0)
    assert counts.as_dict() == {"opened": 0, "exported": 0, "failed": 0}
    assert not AccountingExport.objects.filter(order=trashed).exists()
    assert not (export_dir / "nl").exists() or list((export_dir / "nl").iterdir()) == []


# -- cost ----------------------------------------------------------------------------------------------------------

def test_following_a_batch_costs_two_queries_whatever_its_size(shop, django_assert_num_queries,
                                                                django_capture_on_commit_callbacks):
    orders = [OrderFactory(store=shop, woo_id=n, status="completed" if n % 2 else "processing")
              for n in range(1, 101)]
    ids = [o.pk for o in orders]

    with django_capture_on_commit_callbacks() as callbacks:
        with django_assert_num_queries(2):
            queued = exports_follow_orders(order_ids=ids)
    assert len(queued) == 50 and len(callbacks) == 50
    assert AccountingExport.objects.filter(state=ExportState.OPEN).count() == 100

    with django_assert_num_queries(1):  # all known now: one read
        exports_follow_orders(order_ids=ids)


def test_a_store_without_a_rule_costs_the_mirror_one_query(db, django_assert_num_queries):
    orders = [OrderFactory(store=StoreFactory(slug="bare"), woo_id=n, status="completed") for n in range(1, 21)]

    with django_assert_num_queries(1):
        assert exports_follow_orders(order_ids=[o.pk for o in orders]) == []
    assert not AccountingExport.objects.exists()


# -- the command ---------------------------------------------------------------------------------------------------

def test_the_command_prints_what_it_did(shop, export_dir):
    OrderFactory(store=shop, woo_id=1, status="completed", modified_at=timezone.now())
    OrderFactory(store=shop, woo_id=2, status="processing", modified_at=timezone.now())
    out, err = StringIO(), StringIO()

    call_command("export_accounting", "--store", "nl", stdout=out, stderr=err)

    assert out.getvalue() == "stores: nl\nopened: 2, exported: 1, failed: 0\ninvoices queued: 0, invoices checked: 0, differ: 0\n"
    assert err.getvalue() == ""
    assert exported_file(export_dir, shop, "1").exists()


def test_the_command_reports_failures_and_unknown_stores(shop, tmp_path):
    ExportRule.objects.filter(store=shop).update(directory=str(tmp_path / "missing"))
    OrderFactory(store=shop, woo_id=1, status="completed", modified_at=timezone.now())
    out, err = StringIO(), StringIO()

    call_command("export_accounting", stdout=out, stderr=err)

    assert out.getvalue() == "stores: nl\nopened: 1, exported: 0, failed: 1\ninvoices queued: 0, invoices checked: 0, differ: 0\n"
    assert "1 exports failed" in err.getvalue()
    with pytest.raises(CommandError, match="No store with the slug 'nope'"):
        call_command("export_accounting", "--store", "nope")


def test_the_command_without_rules(db):
    out = StringIO()
    call_command("export_accounting", stdout=out)
    assert out.getvalue() == "no store with an enabled export rule\ninvoices queued: 0, invoices checked: 0, differ: 0\n"
