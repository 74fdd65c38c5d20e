"""Several workers given the same export at once (a task queued twice, the nightly job beside a webhook)."""

import threading

import pytest
from django.db import connection

from accounting.choices import ExportState
from accounting.models import AccountingExport
from accounting.services.exports import export_order, exports_run_open
from fulfillment.choices import EventType
from fulfillment.models import OrderEvent
from tests.factories import OrderFactory

pytestmark = [pytest.mark.postgres, pytest.mark.django_db(transaction=True)]
WORKERS = 4


def in_threads(count, work):
    """Run work(index) in `count` threads, each with its own database connection, released together."""
    barrier = threading.Barrier(count)
    outcomes, errors = [None] * count, []

    def run(index):
        try:
            barrier.wait(timeout=30)
            outcomes[index] = work(index)
        except Exception as exc:  # noqa: BLE001 - reported by the test
            errors.append(repr(exc))
        finally:
            connection.close()

    threads = [threading.Thread(target=run, args=(i,)) for i in range(count)]
    for thread in threads:
        thread.start()
    for thread in threads:
        thread.join(timeout=60)
    assert errors == []
    return outcomes


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
