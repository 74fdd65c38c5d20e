"""The real thing: a webhook delivery goes through the Redis broker to a `manage.py qcluster` worker."""

import json
import os
import subprocess
import sys
import time
from pathlib import Path

import pytest
from django.db import connection
from django_q.brokers import get_broker
from django_q.conf import Conf

from fulfillment.choices import DeliveryState
from fulfillment.models import Order, WebhookDelivery
from fulfillment.services.webhooks import signature_for
from tests.factories import StoreFactory
from tests.woo_payloads import order_payload

ROOT = Path(__file__).resolve().parents[2]


@pytest.fixture
def real_broker():
    previous = Conf.SYNC
    Conf.SYNC = False
    broker = get_broker()
    broker.purge_queue()
    yield broker
    broker.purge_queue()
    Conf.SYNC = previous


@pytest.fixture
def worker(real_broker):
    settings = connection.settings_dict
    env = {
        **os.environ,
        "DATABASE_URL": f"postgres://{settings['USER'] or 'postgres'}@{settings['HOST'] or '127.0.0.1'}:"
                        f"{settings['PORT'] or 5432}/{settings['NAME']}",
        "Q_WORKERS": "2",
    }
    process = subprocess.Popen([sys.executable, "manage.py", "qcluster"], cwd=ROOT, env=env,
                               stdout=subprocess.DEVNULL, stderr=subprocess.PIPE)
    yield process
    process.terminate()
    try:
        process.wait(timeout=20)
    except subprocess.TimeoutExpired:
        process.kill()


@pytest.mark.postgres
@pytest.mark.redis
@pytest.mark.django_db(transaction=True, serialized_rollback=True)
def test_webhook_delivery_is_applied_by_a_qcluster_worker_through_redis(client, real_broker, worker):
    store = StoreFactory(slug="redis-shop")
    bodies = [json.dumps(order_payload(woo_id, status="processing")).encode() for woo_id in (501, 502, 503)]

    for body in bodies:
        response = client.post(
            f"/webhooks/woocommerce/{store.slug}/", data=body, content_type="application/json",
            headers={"X-WC-Webhook-Topic": "order.updated", "X-WC-Webhook-Signature": signature_for(body, store.webhook_secret)},
        )
        assert response.status_code == 200

    deadline = time.monotonic() + 60
    while time.monotonic() < deadline:
        if WebhookDelivery.objects.filter(state=DeliveryState.APPLIED).count() == 3:
            break
        assert worker.poll() is None, worker.stderr.read().decode()[-2000:]
        time.sleep(0.3)

    assert WebhookDelivery.objects.filter(state=DeliveryState.APPLIED).count() == 3
    assert sorted(Order.objects.filter(store=store).values_list("woo_id", flat=True)) == [501, 502, 503]
