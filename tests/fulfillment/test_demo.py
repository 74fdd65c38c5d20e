"""The demo data that `scripts/run.sh` loads: written through the real services, loadable twice."""

from accounting.choices import ExportState
from accounting.models import AccountingExport, ExportRule
from fulfillment.demo import load_demo
from fulfillment.models import Order, Store


def test_demo_loads_two_shops_and_the_first_books_its_completed_orders(db, settings, tmp_path,
                                                                      django_capture_on_commit_callbacks):
    settings.ACCOUNTING_EXPORT_DIR = tmp_path

    with django_capture_on_commit_callbacks(execute=True):
        counts = load_demo(orders_per_store=30)
        again = load_demo(orders_per_store=30)

    assert counts == again == {"demo-eu": 30, "demo-uk": 30}
    assert Store.objects.count() == 2 and Order.objects.count() == 60
    rule = ExportRule.objects.get()
    assert (rule.store.slug, rule.statuses) == ("demo-eu", ["completed"])
    exports = AccountingExport.objects.filter(store=rule.store)
    assert exports.count() == Order.objects.filter(store=rule.store, trashed=False).count()
    completed = Order.objects.filter(store=rule.store, status="completed", trashed=False).count()
    assert completed > 0
    assert exports.filter(state=ExportState.EXPORTED).count() == completed
    assert len(list(tmp_path.rglob("*.json"))) == completed
    # Both shops invoice their processing and completed orders, and a few refunded ones carry a credit note
    from accounting.documents import check
    from accounting.documents.serial import document_from_json
    from accounting.models import Invoice

    invoiced = Order.objects.filter(status__in=["processing", "completed"], trashed=False)
    assert Invoice.objects.filter(kind="invoice", cause="order").count() == invoiced.count() > 0
    credit_notes = Invoice.objects.filter(kind="credit_note")
    assert credit_notes.exists() and all(note.corrects.order_id == note.order_id for note in credit_notes)
    assert all(check(document_from_json(d.document)) == [] for d in Invoice.objects.all())
    # Loaded again, nothing is issued twice
    assert Invoice.objects.values("order", "kind", "woo_refund_id").distinct().count() == Invoice.objects.count()


def test_with_its_stand_in_running_the_demo_shows_reservations_in_every_status(db, settings, tmp_path, monkeypatch,
                                                                               django_capture_on_commit_callbacks):
    # Given the local Rewix stand-in in demo mode, as scripts/run.sh starts it
    from fulfillment.choices import ReservationStatus, ReservationSync
    from fulfillment.models import Reservation, Supplier
    from tests.fakes.rewix import PASSWORD, FakeRewix

    settings.ACCOUNTING_EXPORT_DIR = tmp_path
    fake = FakeRewix(demo=True).start()
    monkeypatch.setenv("DEMO_REWIX_URL", fake.url)
    monkeypatch.setenv("DEMO_REWIX_PASSWORD", PASSWORD)
    try:
        with django_capture_on_commit_callbacks(execute=True):
            load_demo(orders_per_store=200)
    finally:
        fake.stop()

    # Then the first shop has a supplier with its catalogue, and its dropship lines are in every status
    supplier = Supplier.objects.get()
    assert supplier.store.slug == "demo-eu" and supplier.products.count() == 6
    statuses = set(Reservation.objects.values_list("status", flat=True))
    assert {ReservationStatus.BOOKED, ReservationStatus.CONFIRMED, ReservationStatus.WORKING_ON,
            ReservationStatus.READY, ReservationStatus.DISPATCHED, ReservationStatus.RELEASED} <= statuses
    # Every reservation but the demo's one on purpose went through: the sneakers in size 42, out of stock there
    (failed,) = Reservation.objects.filter(sync=ReservationSync.FAILED)
    assert failed.sku == "GF-SN1830-WHITE-42" and failed.sync_error
    assert Reservation.objects.filter(sync=ReservationSync.FAILED).count() == 1 < Reservation.objects.count()
