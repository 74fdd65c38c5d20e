"""Bulk submit goes a hundred orders at a time, and each order still gets exactly what order_submit gives it.

Also: neither submitting nor a worker's claim locks the store's row (they would all wait for one another)."""

import threading

import pytest
from django.db import connection, transaction

from fulfillment.choices import EventSource, EventType, SubmissionState
from fulfillment.models import OrderEvent, Store, Submission
from fulfillment.services import submissions as submissions_module
from fulfillment.services.submissions import order_submit, orders_bulk_submit
from tests.factories import UserFactory
from tests.fulfillment.production import mirrored



@pytest.fixture
def ops(db):
    return UserFactory(username="olga")


@pytest.fixture
def small_chunks(monkeypatch):
    monkeypatch.setattr(submissions_module, "BULK_CHUNK", 2)


def record_tasks(monkeypatch):
    """From now on, the tasks the submit services queue, as (function, argument), instead of queueing them."""
    queued = []
    monkeypatch.setattr(submissions_module, "enqueue", lambda func, arg: queued.append((func, arg)))
    return queued


def submission_ids(*woo_ids):
    return [Submission.objects.get(order__woo_id=woo_id).pk for woo_id in woo_ids]


BATCH = "fulfillment.tasks.execute_submissions"
ONE = "fulfillment.tasks.execute_submission"


def queued_events():
    return list(OrderEvent.objects.filter(type=EventType.SUBMISSION_QUEUED).order_by("pk")
                .values_list("order__woo_id", "source", "user__username", "message"))


def test_a_selection_of_several_chunks_gets_what_order_submit_gives_each_order(shop, pf, ops, small_chunks,
                                                                                monkeypatch):
    # Given four paid orders, one already submitted and one on hold, in three chunks of two
    ready = [mirrored(shop, woo_id) for woo_id in (17, 18, 19, 22)]
    done = mirrored(shop, 20)
    order_submit(order=done, user=ops)
    on_hold = mirrored(shop, 21, status="on-hold")
    tasks = record_tasks(monkeypatch)

    # When they are bulk submitted
    result = orders_bulk_submit(orders=[ready[0], done, ready[1], on_hold, ready[2], ready[3]], user=ops)

    # Then the summary keeps the selection's order, and each eligible order has one submission, one event, and is in
    # one task: a batch per chunk
    assert result.queued == ["17", "18", "19", "22"]
    assert [number for number, _why in result.already] == ["20"]
    assert result.already[0][1].startswith("Printful: queued ")
    assert result.not_eligible == [("21", "status On hold is not a paid status")]
    assert tasks == [(BATCH, submission_ids(17)), (BATCH, submission_ids(18)), (BATCH, submission_ids(19, 22))]
    assert sorted(Submission.objects.values_list("external_id", "state", "requested_by__username")) == [
        (f"dasto-{n}", SubmissionState.QUEUED, "olga") for n in (17, 18, 19, 20, 22)]
    assert queued_events() == [(n, EventSource.STAFF, "olga", f"Queued for Printful (dasto-{n})")
                               for n in (20, 17, 18, 19, 22)]


def test_an_order_selected_twice_is_queued_once(shop, pf, ops, monkeypatch):
    order = mirrored(shop)
    tasks = record_tasks(monkeypatch)

    result = orders_bulk_submit(orders=[order, order], user=ops)

    assert result.queued == ["17"]
    assert [number for number, _why in result.already] == ["17"]
    assert Submission.objects.count() == 1
    assert tasks == [(BATCH, submission_ids(17))]


def test_a_failed_submission_in_a_selection_is_sent_again_as_itself(shop, pf, ops, monkeypatch):
    # Given an order whose submission failed, and a fresh one
    failed_order, fresh = mirrored(shop, 17), mirrored(shop, 18)
    (failed,) = order_submit(order=failed_order, user=ops)
    Submission.objects.filter(pk=failed.pk).update(state=SubmissionState.FAILED, attempts=1,
                                                   failure_reason="Recipient: Address is missing")
    tasks = record_tasks(monkeypatch)

    result = orders_bulk_submit(orders=[failed_order, fresh], user=ops)

    # Then the failed one is queued again under its external id (its own task, as order_submit does it), and the
    # fresh one gets its first submission, in the chunk's batch
    assert result.queued == ["17", "18"]
    assert tasks == [(ONE, failed.pk), (BATCH, submission_ids(18))]
    assert sorted(Submission.objects.values_list("external_id", "state", "attempts", "failure_reason")) == [
        ("dasto-17", SubmissionState.QUEUED, 1, ""), ("dasto-18", SubmissionState.QUEUED, 0, "")]
    assert Submission.objects.get(external_id="dasto-17").pk == failed.pk
    assert [message for _n, _s, _u, message in queued_events()] == [
        "Queued for Printful (dasto-17)", "Queued again for Printful (dasto-17)", "Queued for Printful (dasto-18)"]


def test_the_database_refuses_a_submission_the_bulk_submit_did_not_see(shop, pf, ops, monkeypatch):
    # Given an order queued a moment ago by someone else, which the bulk submit's read does not show
    first, second = mirrored(shop, 17), mirrored(shop, 18)
    order_submit(order=second, user=ops)
    read = submissions_module._submissions_of
    monkeypatch.setattr(submissions_module, "_submissions_of",
                        lambda order_ids: {k: v for k, v in read(order_ids).items() if k != second.pk})

    tasks = record_tasks(monkeypatch)
    result = orders_bulk_submit(orders=[first, second], user=ops)

    # Then the one-live constraint refuses the second submission; the first order is queued all the same
    assert result.queued == ["17"]
    assert result.already == [("18", "already submitted")]
    assert sorted(Submission.objects.values_list("external_id", flat=True)) == ["dasto-17", "dasto-18"]
    assert tasks == [(BATCH, submission_ids(17))]


@pytest.mark.postgres
@pytest.mark.django_db(transaction=True)
def test_submitting_and_the_workers_claim_do_not_lock_the_store_row(shop, pf, printful):
    # Given someone holding the store's row (saving its settings, say)
    orders = [mirrored(shop, 17), mirrored(shop, 18)]
    held, release = threading.Event(), threading.Event()

    def hold():
        try:
            with transaction.atomic():
                Store.objects.select_for_update().get(pk=shop.pk)
                held.set()
                release.wait(30)
        finally:
            connection.close()

    thread = threading.Thread(target=hold)
    thread.start()
    assert held.wait(10)
    try:
        with connection.cursor() as cursor:
            cursor.execute("SET lock_timeout = '2s'")
        # When an order is submitted, another bulk submitted, and their tasks run (inline, after each commit)
        order_submit(order=orders[0], user=None)
        result = orders_bulk_submit(orders=[orders[1]], user=None)
    finally:
        release.set()
        thread.join(10)
        with connection.cursor() as cursor:
            cursor.execute("RESET lock_timeout")

    # Then nothing waited for the store's row
    assert result.queued == ["18"]
    assert sorted(Submission.objects.values_list("external_id", "state")) == [
        ("dasto-17", SubmissionState.SUBMITTED), ("dasto-18", SubmissionState.SUBMITTED)]
    assert printful.created == 2
