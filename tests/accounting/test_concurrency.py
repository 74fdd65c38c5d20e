"""Several workers given the same export at once (a task queued twice, the nightly job beside a webhook)."""

import pytest

from accounting.choices import ExportState
from accounting.models import AccountingExport
from accounting.services.exports import export_order, exports_run_open
from fulfillment.choices import EventType
from fulfillment.models import OrderEvent
from tests.concurrency import in_threads
from tests.factories import OrderFactory

pytestmark = [pytest.mark.postgres, pytest.mark.django_db(transaction=True)]
WORKERS = 4


def test_workers_racing_for_one_export_write_it_once(shop, export_dir):
    order = OrderFactory(store=shop, woo_id=501, status="completed")
    export = AccountingExport.objects.create(order=order, store=shop)

    def work(index):
        if index % 2:
            return exports_run_open().exported
        return int(export_order(export_id=export.pk).state == ExportState.EXPORTED)

    in_threads(WORKERS, work)

    export.refresh_from_db()
    assert (export.state, export.attempts) == (ExportState.EXPORTED, 1)
    assert OrderEvent.objects.filter(order=order, type=EventType.ACCOUNTING_EXPORTED).count() == 1
    assert [p.name for p in (export_dir / "nl").iterdir()] == ["nl-501.json"]
