from fulfillment.choices import ImportMode, RunState
from fulfillment.models import Order
from fulfillment.services.imports import import_run_create, import_run_execute
from tests.woo_payloads import order_payload


def test_import_all_pages_through_signed_requests(woo, woo_store):
    woo.add_orders([order_payload(i) for i in range(1, 251)])
    run = import_run_execute(run=import_run_create(store=woo_store, mode=ImportMode.ALL))
    assert run.state == RunState.DONE, run.error
    assert (run.created, run.pages_done, run.pages_total) == (250, 3, 3)
    assert Order.objects.count() == 250
