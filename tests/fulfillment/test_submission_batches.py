"""A bulk submit's task runs a batch of submissions, each exactly as submission_execute runs one.

Each is claimed and recorded in its own transactions under its own row lock: a failure of one leaves the others
alone, a batch run twice sends nothing twice, a call that timed out is looked up before anything is sent again, and
a worker killed in the middle of a batch leaves every submission where the production tick's sweep takes it up.
The batch shares one HTTP session (kept alive) per provider and reads each store's providers once.
"""

import os
import signal
from datetime import timedelta

import pytest
from django.utils import timezone

from fulfillment import tasks
from fulfillment.choices import EventType, SubmissionState, SubmitStatus
from fulfillment.models import Order, OrderEvent, Submission
from fulfillment.providers import printful as printful_module
from fulfillment.services import submissions as submissions_module
from fulfillment.services.submissions import (
    CLAIM_TIMEOUT,
    LOST_TASK_AFTER,
    batches,
    orders_bulk_submit,
    submissions_due,
    submissions_execute,
)
from tests.fulfillment.production import mirrored

# Statements of one submission run in a batch: claim (lock, update), its lines, its dropship reservations, the
# render of its personalised line (projects); record (lock the order, update, event, the order's submissions, its
# submit status): 10, and the savepoints of its two transactions (in a test, inside the test's transaction; BEGIN and
# COMMIT, not counted, in a worker). The store's providers are read once a batch.
QUERIES_PER_SUBMISSION = 10 + 4



def queued_submissions(shop, pf, woo_ids):
    """Queued submissions of paid orders, their tasks not run (the test runs them)."""
    return [Submission.objects.create(order=mirrored(shop, woo_id), provider=pf, external_id=f"dasto-{woo_id}").pk
            for woo_id in woo_ids]


def calls(printful):
    return [(method, path) for method, path, _ in printful.requests]


def states(ids):
    by_pk = dict(Submission.objects.filter(pk__in=ids).values_list("pk", "state"))
    return [by_pk[pk] for pk in ids]


def test_the_ids_are_split_into_batches_in_their_order():
    assert batches(list(range(1, 46))) == [list(range(1, 21)), list(range(21, 41)), list(range(41, 46))]
    assert batches([7, 8, 9], size=2) == [[7, 8], [9]]
    assert batches([]) == []


def test_a_bulk_submit_queues_one_task_per_batch_and_each_submission_is_in_one(shop, pf, monkeypatch):
    # Given seven paid orders, bulk submitted in chunks of five, batches of three
    orders = [mirrored(shop, woo_id) for woo_id in range(17, 24)]
    monkeypatch.setattr(submissions_module, "BULK_CHUNK", 5)
    monkeypatch.setattr(submissions_module, "EXECUTE_BATCH", 3)
    queued = []
    monkeypatch.setattr(submissions_module, "enqueue", lambda func, arg: queued.append((func, arg)))

    # When they are bulk submitted
    result = orders_bulk_submit(orders=orders, user=None)

    # Then each chunk's submissions go in batches, in the selection's order, each submission in exactly one task
    assert len(result.queued) == 7
    ids = list(Submission.objects.order_by("order__woo_id").values_list("pk", flat=True))
    assert queued == [("fulfillment.tasks.execute_submissions", ids[0:3]),
                      ("fulfillment.tasks.execute_submissions", ids[3:5]),
                      ("fulfillment.tasks.execute_submissions", ids[5:7])]


def test_a_batch_sends_each_submission_once_through_one_session(shop, pf, printful, monkeypatch,
                                                               django_assert_max_num_queries):
    # Given three queued submissions
    ids = queued_submissions(shop, pf, (17, 18, 19))
    adapters = []
    make = submissions_module.adapter_for
    monkeypatch.setattr(submissions_module, "adapter_for", lambda provider: adapters.append(make(provider)) or
                        adapters[-1])

    # When their batch runs
    with django_assert_max_num_queries(1 + QUERIES_PER_SUBMISSION * len(ids)):
        result = tasks.execute_submissions(ids)

    # Then each is at Printful once, recorded with its event and the order's status; one adapter (one HTTP session,
    # its connections kept alive where the provider keeps them) served all, and was closed at the end
    assert result == "3 submitted"
    assert states(ids) == [SubmissionState.SUBMITTED] * 3
    assert printful.created == 3 and calls(printful) == [("POST", "/orders")] * 3
    assert len(adapters) == 1
    assert list(adapters[0].session.adapters["http://"].poolmanager.pools.keys()) == []  # closed: no pool left
    assert OrderEvent.objects.filter(type=EventType.SUBMITTED).count() == 3
    assert set(Order.objects.values_list("submit_status", flat=True)) == {SubmitStatus.SUBMITTED}


def test_a_batch_run_twice_sends_nothing_the_second_time(shop, pf, printful, django_assert_max_num_queries):
    # Given a batch already run (its task delivered twice, or queued again by the sweep)
    ids = queued_submissions(shop, pf, (17, 18, 19))
    tasks.execute_submissions(ids)
    events = OrderEvent.objects.count()

    # When it runs again
    with django_assert_max_num_queries(3 * len(ids)):  # each submission's row looked at (in a savepoint), no more
        result = tasks.execute_submissions(ids)

    # Then nothing is sent and nothing written
    assert result == "3 submitted"
    assert printful.created == 3 and len(printful.requests) == 3
    assert OrderEvent.objects.count() == events
    assert Submission.objects.filter(attempts=1).count() == 3


def test_one_submission_refused_or_broken_leaves_the_others_alone(shop, pf, printful, monkeypatch):
    # Given four queued submissions: Printful refuses the second's order; building the third's order breaks (a bug)
    ids = queued_submissions(shop, pf, (17, 18, 19, 20))
    build = submissions_module.production_order

    def production_order(order, lines, external_id):
        if external_id == "dasto-19":
            raise RuntimeError("a bug in building this order")
        if external_id == "dasto-18":
            printful.fail_next(status=400, message="Recipient: Address is missing")
        return build(order, lines, external_id)

    monkeypatch.setattr(submissions_module, "production_order", production_order)

    # When their batch runs
    with pytest.raises(RuntimeError, match="a bug in building this order"):
        tasks.execute_submissions(ids)

    # Then the first and the last went, the refused one failed for a person to look at, the broken one is left
    # claimed (the sweep looks it up at the provider once the claim expires), and the task is recorded as failed
    assert states(ids) == [SubmissionState.SUBMITTED, SubmissionState.FAILED, SubmissionState.SUBMITTING,
                           SubmissionState.SUBMITTED]
    assert printful.created == 2
    broken = Submission.objects.get(pk=ids[2])
    assert submissions_due(now=broken.claimed_at + CLAIM_TIMEOUT + timedelta(seconds=1)) == [broken.pk]


def test_a_call_that_timed_out_is_looked_up_before_anything_is_sent_again(shop, pf, printful, monkeypatch):
    # Given a batch whose first order Printful makes but answers after our read timeout
    monkeypatch.setattr(printful_module, "TIMEOUT", (2, 0.5))
    ids = queued_submissions(shop, pf, (17, 18))
    build = submissions_module.production_order

    def production_order(order, lines, external_id):
        printful.hold_after_create = 3 if external_id == "dasto-17" else 0
        return build(order, lines, external_id)

    monkeypatch.setattr(submissions_module, "production_order", production_order)

    # When the batch runs
    tasks.execute_submissions(ids)

    # Then the first waits for its next attempt, not knowing whether it went; the second went all the same
    first = Submission.objects.get(pk=ids[0])
    assert (first.state, first.outcome_unknown) == (SubmissionState.QUEUED, True)
    assert states(ids[1:]) == [SubmissionState.SUBMITTED]

    # When its next attempt comes (the sweep queues it in a batch of its own)
    due = submissions_due(now=first.next_attempt_at)
    assert due == [first.pk]
    submissions_execute(submission_ids=due, now=first.next_attempt_at)

    # Then it was found at Printful by its external id: no second order
    first.refresh_from_db()
    assert (first.state, first.attempts, first.remote_id) == (SubmissionState.SUBMITTED, 2, "90000001")
    assert calls(printful) == [("POST", "/orders"), ("POST", "/orders"), ("GET", "/orders/@dasto-17")]
    assert printful.created == 2


def test_a_slow_batch_hands_the_rest_to_a_task_of_its_own(shop, pf, printful, monkeypatch):
    # Given a batch of three, and no time left after the first
    ids = queued_submissions(shop, pf, (17, 18, 19))
    queued = []
    monkeypatch.setattr(submissions_module, "enqueue", lambda func, arg: queued.append((func, arg)))

    # When it runs
    done = submissions_execute(submission_ids=ids, budget_seconds=0)

    # Then the first went (every task makes progress) and the other two are in a new task, untouched
    assert [s.pk for s in done] == ids[:1]
    assert states(ids) == [SubmissionState.SUBMITTED, SubmissionState.QUEUED, SubmissionState.QUEUED]
    assert queued == [("fulfillment.tasks.execute_submissions", ids[1:])]


@pytest.mark.postgres
@pytest.mark.django_db(transaction=True)
def test_a_worker_killed_in_the_middle_of_a_batch_leaves_nothing_to_send_twice(shop, pf, printful, tmp_path):
    from tests.fulfillment.test_submission_faults import wait_for, worker_process

    # Given a batch of three run by a worker process; Printful makes the second's order but holds its answer
    ids = queued_submissions(shop, pf, (17, 18, 19))
    ready, go = tmp_path / "ready", tmp_path / "go"
    worker = worker_process(
        "from fulfillment.services import submissions\n"
        "from fulfillment.tasks import execute_submissions\n"
        "build = submissions.production_order\n"
        "def production_order(order, lines, external_id):\n"
        "    if external_id == 'dasto-18':\n"
        "        pathlib.Path(sys.argv[1]).touch()\n"
        "        while not pathlib.Path(sys.argv[2]).exists():\n"
        "            time.sleep(0.01)\n"
        "    return build(order, lines, external_id)\n"
        "submissions.production_order = production_order\n"
        "execute_submissions([int(pk) for pk in sys.argv[3:]])\n", ready, go, *ids)
    try:
        wait_for(ready.exists, what="the worker to reach the second submission", process=worker)
        printful.hold_after_create = 60
        go.touch()
        wait_for(lambda: printful.created == 2, what="Printful to make the second order", process=worker)

        # When the worker is killed there
        os.kill(worker.pid, signal.SIGKILL)
        worker.wait(timeout=30)
    finally:
        if worker.poll() is None:
            worker.kill()
    printful.hold_after_create = 0

    # Then the first is submitted, the second claimed without a remote id, the third still queued
    assert states(ids) == [SubmissionState.SUBMITTED, SubmissionState.SUBMITTING, SubmissionState.QUEUED]

    # When the sweep finds them (the claim expired, the third's task lost) and runs them
    later = timezone.now() + max(CLAIM_TIMEOUT, LOST_TASK_AFTER) + timedelta(seconds=1)
    due = submissions_due(now=later)
    assert sorted(due) == ids[1:]
    for submission_id in due:
        submissions_module.submission_execute(submission_id=submission_id, now=later)

    # Then the second was looked up, not sent again, the third sent: three orders at Printful, one each
    assert states(ids) == [SubmissionState.SUBMITTED] * 3
    assert calls(printful)[:2] == [("POST", "/orders"), ("POST", "/orders")]
    assert sorted(calls(printful)[2:]) == [("GET", "/orders/@dasto-18"), ("POST", "/orders")]
    assert sorted(o["external_id"] for o in printful.orders.values()) == ["dasto-17", "dasto-18", "dasto-19"]
    assert Submission.objects.get(pk=ids[1]).remote_id == "90000002"
