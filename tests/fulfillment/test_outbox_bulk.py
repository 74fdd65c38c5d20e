"""outbox.pushes_create: the pushes of a batch of orders written in one insert, one dispatch per store."""

import pytest

from fulfillment.choices import PushKind, PushState
from fulfillment.models import StorePush
from fulfillment.services import outbox
from tests.factories import OrderFactory, StoreFactory, UserFactory


@pytest.fixture
def dispatches(monkeypatch):
    queued = []
    monkeypatch.setattr(outbox, "enqueue", lambda func, *args, **kwargs: queued.append((func, *args)))
    return queued


def test_a_batch_of_pushes_is_one_insert_and_one_dispatch_per_store(db, dispatches, django_assert_num_queries):
    shop, other = StoreFactory(slug="a"), StoreFactory(slug="b")
    orders = [OrderFactory(store=shop), OrderFactory(store=other), OrderFactory(store=shop)]
    finance = UserFactory()

    with django_assert_num_queries(1):
        ids = outbox.pushes_create(pushes=[(order, PushKind.META, {"meta": {"_invoice_number": f"2026-{i}"}})
                                           for i, order in enumerate(orders)], user=finance)

    pushes = list(StorePush.objects.filter(pk__in=ids).order_by("pk"))
    assert [(p.order_id, p.store_id, p.payload["meta"]["_invoice_number"]) for p in pushes] == [
        (orders[0].pk, shop.pk, "2026-0"), (orders[1].pk, other.pk, "2026-1"), (orders[2].pk, shop.pk, "2026-2")]
    assert all(p.state == PushState.PENDING and p.created_by == finance and p.next_attempt_at for p in pushes)
    assert dispatches == [("fulfillment.tasks.dispatch_pushes", store.pk) for store in sorted(
        (shop, other), key=lambda store: store.pk)]


def test_a_batch_queues_no_dispatch_when_asked_not_to_and_refuses_state_pushes(db, dispatches):
    order = OrderFactory()
    outbox.pushes_create(pushes=[(order, PushKind.NOTE, {"note": "a", "customer_note": False})], dispatch=False)
    assert dispatches == []
    with pytest.raises(ValueError, match="push_create"):
        outbox.pushes_create(pushes=[(order, PushKind.STATUS, {"status": "completed"})])
    assert StorePush.objects.count() == 1
