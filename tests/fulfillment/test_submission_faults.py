"""Submitting exactly once when things go wrong, on PostgreSQL: committed transactions, row locks, several
connections, several threads and processes, a provider that fails, times out after making the order, or a worker
killed in the middle of a call."""

import os
import signal
import subprocess
import sys
import time
from datetime import timedelta
from pathlib import Path

import pytest
from django.db import connection
from django.utils import timezone

from fulfillment.choices import SubmissionState, SubmitStatus
from fulfillment.models import Order, Submission
from fulfillment.providers import printful as printful_module
from fulfillment.services.submissions import (
    CLAIM_TIMEOUT,
    SubmissionError,
    order_submit,
    orders_bulk_submit,
    submission_execute,
    submissions_due,
)
from tests.concurrency import in_threads
from tests.fulfillment.production import mirrored

pytestmark = [pytest.mark.postgres, pytest.mark.django_db(transaction=True)]

ROOT = Path(__file__).resolve().parents[2]
WORKERS = 4



def remote_orders(printful):
    """(orders Printful made, order creations it was asked for)."""
    return printful.created, printful.count("POST", "/orders")


def calls(printful):
    return [(method, path) for method, path, _ in printful.requests]


def database_url():
    settings = connection.settings_dict
    password = f":{settings['PASSWORD']}" if settings["PASSWORD"] else ""
    return (f"postgres://{settings['USER'] or 'postgres'}{password}@{settings['HOST'] or '127.0.0.1'}:"
            f"{settings['PORT'] or 5432}/{settings['NAME']}")


def worker_process(script, *args):
    """A separate Python process with Django set up against the test database."""
    env = {**os.environ, "DATABASE_URL": database_url(), "DJANGO_SETTINGS_MODULE": "backoffice.settings"}
    env.pop("REDIS_URL", None)
    prelude = ("import sys, time, pathlib, django; django.setup(); "
               "from django_q.conf import Conf; Conf.SYNC = True\n")
    return subprocess.Popen([sys.executable, "-c", prelude + script, *map(str, args)], cwd=ROOT, env=env,
                            stdout=subprocess.PIPE, stderr=subprocess.PIPE, text=True)


def wait_for(condition, seconds=60, what="", process=None):
    deadline = time.monotonic() + seconds
    while time.monotonic() < deadline:
        if condition():
            return
        if process is not None and process.poll() is not None:
            raise AssertionError(f"the worker ended: {process.stderr.read()[-3000:]}")
        time.sleep(0.05)
    raise AssertionError(f"timed out waiting for {what}")


# -- a provider that fails -----------------------------------------------------------------------------------


def test_provider_answers_500_then_200(shop, pf, printful):
    # Given Printful failing once
    order = mirrored(shop)
    printful.fail_next(status=500)

    # When the order is submitted (its task runs at once after the commit) and retried when due
    (submission,) = order_submit(order=order)
    submission.refresh_from_db()
    assert (submission.state, submission.attempts, submission.outcome_unknown) == (SubmissionState.QUEUED, 1, True)
    assert remote_orders(printful) == (0, 0)
    submission_execute(submission_id=submission.pk, now=submission.next_attempt_at)

    # Then the retry looked first, then sent, and Printful has one order
    submission.refresh_from_db()
    assert (submission.state, submission.attempts, submission.remote_id) == (SubmissionState.SUBMITTED, 2,
                                                                              "90000001")
    assert calls(printful) == [("GET", "/orders/@dasto-17"), ("POST", "/orders")]
    assert remote_orders(printful) == (1, 1)
    assert Order.objects.get(pk=order.pk).submit_status == SubmitStatus.SUBMITTED


def test_provider_answers_an_html_error_page(shop, pf, printful):
    order = mirrored(shop)
    printful.fail_next_with_html(status=502)

    (submission,) = order_submit(order=order)
    submission.refresh_from_db()
    assert (submission.state, submission.provider_response["status"]) == (SubmissionState.QUEUED, 502)
    assert submission.failure_reason.startswith("POST /orders: HTTP 502, not JSON (an error page?)")
    submission_execute(submission_id=submission.pk, now=submission.next_attempt_at)

    submission.refresh_from_db()
    assert (submission.state, submission.remote_id) == (SubmissionState.SUBMITTED, "90000001")
    assert remote_orders(printful) == (1, 1)


def test_provider_times_out_after_creating_the_order(shop, pf, printful, monkeypatch):
    # Given Printful that makes the order and answers after our read timeout
    monkeypatch.setattr(printful_module, "TIMEOUT", (2, 0.5))
    printful.hold_after_create = 5
    order = mirrored(shop)

    # When the order is submitted
    (submission,) = order_submit(order=order)

    # Then we do not know whether it worked, though Printful has it
    submission.refresh_from_db()
    assert (submission.state, submission.outcome_unknown, submission.failure_reason) == (
        SubmissionState.QUEUED, True, "POST /orders: the provider did not answer in time")
    assert remote_orders(printful) == (1, 1)

    # When the next attempt comes
    submission_execute(submission_id=submission.pk, now=submission.next_attempt_at)

    # Then it finds the order by our external id and sends nothing: still one order at Printful
    submission.refresh_from_db()
    assert (submission.state, submission.attempts, submission.remote_id, submission.outcome_unknown) == (
        SubmissionState.SUBMITTED, 2, "90000001", False)
    assert calls(printful) == [("POST", "/orders"), ("GET", "/orders/@dasto-17")]
    assert remote_orders(printful) == (1, 1)


# -- several workers at once ---------------------------------------------------------------------------------


def test_four_workers_submitting_the_same_order_make_one_remote_order(shop, pf, printful):
    # Given a paid order, and Printful taking its time to answer an order creation
    order = mirrored(shop)
    printful.hold_after_create = 0.5

    # When four workers submit it and run its submission at the same moment
    def submit_and_run(_index):
        try:
            outcome = "queued" if order_submit(order=order) else "nothing"
        except SubmissionError as exc:
            outcome = f"refused: {type(exc).__name__}"
        for submission_id in Submission.objects.filter(order=order).values_list("pk", flat=True):
            submission_execute(submission_id=submission_id)
        return outcome

    outcomes = in_threads(WORKERS, submit_and_run)

    # Then one queued it, three were told it is already submitted, and Printful has exactly one order
    assert sorted(outcomes) == ["queued"] + ["refused: AlreadySubmitted"] * 3
    submission = Submission.objects.get()
    assert (submission.state, submission.attempts, submission.remote_id) == (SubmissionState.SUBMITTED, 1,
                                                                              "90000001")
    assert remote_orders(printful) == (1, 1)
    assert Order.objects.get(pk=order.pk).submit_status == SubmitStatus.SUBMITTED


def test_four_workers_running_the_same_submission_send_it_once(shop, pf, printful):
    # Given a queued submission (its own task not run) and Printful slow to answer
    order = mirrored(shop)
    printful.hold_after_create = 0.5
    submission = Submission.objects.create(order=order, provider=pf, external_id="dasto-17")

    # When four workers run it at once
    in_threads(WORKERS, lambda _index: submission_execute(submission_id=submission.pk).state)

    # Then one worker claimed and sent it; the others left it alone
    submission.refresh_from_db()
    assert (submission.state, submission.attempts) == (SubmissionState.SUBMITTED, 1)
    assert remote_orders(printful) == (1, 1)


def test_four_worker_processes_submitting_the_same_order_make_one_remote_order(shop, pf, printful, tmp_path):
    # Given a paid order, and four separate worker processes ready to submit it
    order = mirrored(shop)
    printful.hold_after_create = 0.5
    script = (
        "from fulfillment.models import Order, Submission\n"
        "from fulfillment.services.submissions import SubmissionError, order_submit, submission_execute\n"
        "order = Order.objects.get(pk=int(sys.argv[1]))\n"
        "go = pathlib.Path(sys.argv[2])\n"
        "pathlib.Path(sys.argv[3]).touch()\n"
        "while not go.exists():\n"
        "    time.sleep(0.002)\n"
        "try:\n"
        "    print('queued' if order_submit(order=order) else 'nothing')\n"
        "except SubmissionError as exc:\n"
        "    print('refused:', type(exc).__name__)\n"
        "for pk in Submission.objects.filter(order=order).values_list('pk', flat=True):\n"
        "    submission_execute(submission_id=pk)\n"
    )
    go = tmp_path / "go"
    ready = [tmp_path / f"ready-{i}" for i in range(WORKERS)]
    processes = [worker_process(script, order.pk, go, ready[i]) for i in range(WORKERS)]
    try:
        for process, flag in zip(processes, ready, strict=True):
            wait_for(flag.exists, what="the worker processes to start", process=process)

        # When they are all let go at once
        go.touch()
        results = [process.communicate(timeout=120) for process in processes]
    finally:
        for process in processes:
            if process.poll() is None:
                process.kill()

    # Then one queued it, the others were refused, and Printful has exactly one order
    assert [process.returncode for process in processes] == [0] * WORKERS, [err[-2000:] for _, err in results]
    assert sorted(out.strip() for out, _ in results) == ["queued"] + ["refused: AlreadySubmitted"] * 3
    submission = Submission.objects.get()
    assert (submission.state, submission.remote_id) == (SubmissionState.SUBMITTED, "90000001")
    assert remote_orders(printful) == (1, 1)


# -- a worker killed in the middle of a submit ---------------------------------------------------------------


def test_a_worker_killed_mid_submit_is_followed_by_a_look_up_not_a_second_order(shop, pf, printful):
    # Given a queued submission, and Printful that makes the order but holds its answer
    order = mirrored(shop)
    submission = Submission.objects.create(order=order, provider=pf, external_id="dasto-17")
    printful.hold_after_create = 60

    # When a worker process claims it and is killed while Printful has made the order
    worker = worker_process(
        "from fulfillment.services.submissions import submission_execute\n"
        "submission_execute(submission_id=int(sys.argv[1]))\n", submission.pk)
    try:
        wait_for(lambda: printful.created == 1, what="Printful to make the order", process=worker)
        os.kill(worker.pid, signal.SIGKILL)
        worker.wait(timeout=30)
    finally:
        if worker.poll() is None:
            worker.kill()
    assert worker.returncode == -signal.SIGKILL

    # Then the submission is left claimed, without a remote id
    submission.refresh_from_db()
    assert (submission.state, submission.attempts, submission.remote_id) == (SubmissionState.SUBMITTING, 1, "")
    claimed_at = submission.claimed_at

    # When another worker comes within the claim's time, it leaves the submission to its (dead) owner
    soon = claimed_at + timedelta(minutes=1)
    assert submissions_due(now=soon) == []
    submission_execute(submission_id=submission.pk, now=soon)
    submission.refresh_from_db()
    assert (submission.state, submission.attempts) == (SubmissionState.SUBMITTING, 1)

    # When the claim has expired, the production tick picks it up; the worker looks the order up
    later = claimed_at + CLAIM_TIMEOUT + timedelta(seconds=1)
    assert submissions_due(now=later) == [submission.pk]
    submission_execute(submission_id=submission.pk, now=later)

    # Then it finds Printful's order by our external id and marks it submitted, without a second order
    submission.refresh_from_db()
    assert (submission.state, submission.attempts, submission.remote_id, submission.outcome_unknown) == (
        SubmissionState.SUBMITTED, 2, "90000001", False)
    assert calls(printful) == [("POST", "/orders"), ("GET", "/orders/@dasto-17")]
    assert remote_orders(printful) == (1, 1)
    assert Order.objects.get(pk=order.pk).submit_status == SubmitStatus.SUBMITTED


# -- bulk submit ---------------------------------------------------------------------------------------------


def test_bulk_submit_of_orders_some_not_eligible(shop, pf, printful):
    # Given six orders: four paid and ready, one on hold, one whose mug file is not rendered
    ready = [mirrored(shop, woo_id) for woo_id in (17, 18, 19, 20)]
    on_hold = mirrored(shop, 21, status="on-hold")
    no_file = mirrored(shop, 22, with_file=False)

    # When they are bulk submitted (each task runs after its commit)
    result = orders_bulk_submit(orders=[*ready, on_hold, no_file], user=None)

    # Then the eligible ones are at Printful, each once, and the others are named with why
    assert result.queued == ["17", "18", "19", "20"]
    assert result.already == []
    assert result.not_eligible == [("21", "status On hold is not a paid status"),
                                   ("22", "no production file yet for Photo mug")]
    assert sorted(Submission.objects.values_list("external_id", "state")) == [
        (f"dasto-{n}", SubmissionState.SUBMITTED) for n in (17, 18, 19, 20)]
    assert remote_orders(printful) == (4, 4)
    assert list(Order.objects.filter(pk__in=[on_hold.pk, no_file.pk]).values_list("submit_status", flat=True)) == [
        SubmitStatus.NONE, SubmitStatus.NONE]


def test_two_staff_bulk_submitting_overlapping_selections_at_once(shop, pf, printful):
    # Given orders, two of them (one not eligible) in both staff members' selections
    orders = {woo_id: mirrored(shop, woo_id) for woo_id in (17, 18, 19)}
    orders[20] = mirrored(shop, 20, with_file=False)
    selections = [[orders[17], orders[18], orders[20]], [orders[18], orders[19], orders[20]]]
    printful.hold_after_create = 0.2

    # When both bulk submit at the same moment
    results = in_threads(2, lambda index: orders_bulk_submit(orders=selections[index], user=None))

    # Then every eligible order went once: #18 is queued by one and reported as already submitted to the other
    assert sorted(n for r in results for n in r.queued) == ["17", "18", "19"]
    assert [n for r in results for n, _why in r.already] == ["18"]
    assert [r.not_eligible for r in results] == [[("20", "no production file yet for Photo mug")]] * 2
    assert sorted(Submission.objects.values_list("external_id", "state")) == [
        ("dasto-17", SubmissionState.SUBMITTED), ("dasto-18", SubmissionState.SUBMITTED),
        ("dasto-19", SubmissionState.SUBMITTED)]
    assert remote_orders(printful) == (3, 3)


# -- a backlog: the task is late, not lost -------------------------------------------------------------------------


def test_a_submission_waiting_behind_a_backlog_is_not_queued_again_every_minute(shop, pf, monkeypatch):
    # Given a queued submission whose task still waits in a long queue, 11 minutes after the bulk submit
    from fulfillment import tasks
    from fulfillment.services.submissions import LOST_TASK_AFTER, submissions_requeued

    submission = Submission.objects.create(order=mirrored(shop), provider=pf, external_id="dasto-backlog")
    now = timezone.now()
    Submission.objects.filter(pk=submission.pk).update(created_at=now - LOST_TASK_AFTER - timedelta(minutes=1))
    queued = []
    monkeypatch.setattr(tasks, "enqueue", lambda func, *args: queued.append((func, *args)))

    # When the production tick runs now, then every minute for an hour, the submission never taken by a worker
    assert tasks.production_tick() == "0 submitted by countdown, 0 refused, 1 submissions run"
    ticked = timezone.now()  # the tick's own clock: its "next copy in 10 minutes" counts from its run, not from `now`
    runs = []
    for minute in range(1, 61):
        runs.append(submissions_due(now=ticked + timedelta(minutes=minute)))
        submissions_requeued(submission_ids=runs[-1], now=ticked + timedelta(minutes=minute))

    # Then it was queued at once, again 10 minutes later and 20 after that (the next in 40): 3 copies, not 60
    assert queued == [("fulfillment.tasks.execute_submission", submission.pk)]
    assert [minute for minute, due in enumerate(runs, 1) if due] == [10, 30]
    # And once a worker takes it, the count starts again: a retry is due at its own time
    submission_execute(submission_id=submission.pk, now=now + timedelta(minutes=31))
    submission.refresh_from_db()
    assert (submission.state, submission.requeues, submission.requeue_after) == (SubmissionState.SUBMITTED, 0, None)
