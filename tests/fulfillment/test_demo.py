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
