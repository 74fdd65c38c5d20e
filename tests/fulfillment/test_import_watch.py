"""Long imports: their own time limit in the worker, never run twice, and never left "running" by a dead worker."""

from datetime import timedelta

import pytest
from django.urls import reverse
from django.utils import timezone
from django_q.models import Schedule

from fulfillment.choices import ImportMode, RunState
from fulfillment.models import ImportRun, Order
from fulfillment.services.imports import ImportRunTaken, import_request, import_run_create, import_run_execute, \
    import_runs_watch
from fulfillment.tasks import run_import, watch_imports
from tests.woo_payloads import order_payload

NOW = timezone.now().replace(microsecond=0)


@pytest.fixture
def queued(monkeypatch):
    """The tasks handed to the broker (func, args, options), not run."""
    tasks = []

    def take(func, *args, **kwargs):
        kwargs.pop("broker", None)
        tasks.append((func, args, kwargs))

    monkeypatch.setattr("fulfillment.task_queue.async_task", take)
    return tasks


def a_run(store, state, **fields):
    run = import_run_create(store=store, mode=ImportMode.ALL)
    ImportRun.objects.filter(pk=run.pk).update(state=state, **fields)
    run.refresh_from_db()
    return run


# -- its own time limit ------------------------------------------------------------------------------------------


def test_an_import_is_queued_with_its_own_time_limit(woo_store, queued, settings, django_capture_on_commit_callbacks):
    # When staff ask for an import
    with django_capture_on_commit_callbacks(execute=True):
        run = import_request(store=woo_store, mode=ImportMode.ALL)

    # Then its task carries the import's time limit, not the cluster's 600 s
    assert settings.IMPORT_TIMEOUT_SECONDS == 12 * 3600 > settings.Q_CLUSTER["timeout"]
    assert queued == [("fulfillment.tasks.run_import", (run.pk,), {"timeout": 12 * 3600})]


# In autocommit, as in a worker: the time limit's signal may land inside a query or a savepoint's release, which
# inside a test's transaction would leave nothing writable (it did, on a loaded machine).
@pytest.mark.django_db(transaction=True)
def test_the_worker_applies_the_import_s_time_limit_and_the_run_says_it_was_stopped(
        woo, woo_store, settings, django_capture_on_commit_callbacks):
    # Given a slow shop with five pages and an import time limit of one second
    woo.add_orders([order_payload(i) for i in range(1, 501)])
    woo.delay = 0.4
    settings.IMPORT_TIMEOUT_SECONDS = 1

    # When the import runs in django-q2's worker (inline here) and reaches its limit
    with pytest.raises(SystemExit):
        with django_capture_on_commit_callbacks(execute=True):
            run = import_request(store=woo_store, mode=ImportMode.ALL)

    # Then the run is failed at once with the reason, not left running
    run = ImportRun.objects.get()
    assert run.state == RunState.FAILED
    assert run.error == "The worker stopped it (Task exceeded maximum timeout value (1 seconds)); run it again."
    assert run.finished_at is not None
    assert run.pages_done < 5


# -- never twice ---------------------------------------------------------------------------------------------------


def test_the_task_refuses_an_import_that_is_already_running(woo, woo_store):
    # Given an import running in another worker (a second delivery of its task: the ORM broker hands a task that
    # runs longer than Q_CLUSTER's retry to a worker again)
    woo.add_orders([order_payload(1)])
    run = a_run(woo_store, RunState.RUNNING, started_at=NOW, progress_at=NOW, pages_done=3)

    # When the second copy of its task runs
    result = run_import(run.pk)

    # Then it does nothing
    assert result == f"import {run.pk} already running"
    assert woo.requests == []
    run.refresh_from_db()
    assert (run.state, run.pages_done, run.started_at) == (RunState.RUNNING, 3, NOW)
    assert Order.objects.count() == 0


def test_two_copies_of_the_task_run_the_import_once(woo, woo_store):
    # Given a queued import
    woo.add_orders([order_payload(i) for i in range(1, 4)])
    run = import_run_create(store=woo_store, mode=ImportMode.ALL)

    # When its task runs twice
    first, second = run_import(run.pk), run_import(run.pk)

    # Then the second finds it done
    assert first == "done: 3 created, 0 updated, 0 unchanged, 0 failed"
    assert second == f"import {run.pk} already done"
    assert woo.count("GET", "orders") == 1


def test_a_run_taken_by_another_worker_in_the_meantime_is_left_alone(woo, woo_store):
    # Given a run read as queued, then taken by another worker before this one starts it
    woo.add_orders([order_payload(1)])
    run = import_run_create(store=woo_store, mode=ImportMode.ALL)
    ImportRun.objects.filter(pk=run.pk).update(state=RunState.RUNNING, started_at=NOW)

    # When this worker executes it
    with pytest.raises(ImportRunTaken) as taken:
        import_run_execute(run=run)

    # Then nothing is asked of the shop and the run is as the other worker left it
    assert str(taken.value) == f"import {run.pk} already running"
    assert woo.requests == []
    run.refresh_from_db()
    assert (run.state, run.started_at, run.pages_done) == (RunState.RUNNING, NOW, 0)


def test_progress_moves_with_every_page(woo, woo_store):
    woo.add_orders([order_payload(i) for i in range(1, 151)])
    run = import_run_create(store=woo_store, mode=ImportMode.ALL)

    run = import_run_execute(run=run)

    run.refresh_from_db()
    assert (run.state, run.pages_done) == (RunState.DONE, 2)
    assert run.started_at <= run.progress_at <= run.finished_at


# -- the watchdog ----------------------------------------------------------------------------------------------------


def test_running_imports_whose_progress_stood_still_are_failed(woo_store, queued):
    # Given imports running with progress 31 minutes ago, 5 minutes ago, none since they started 40 minutes ago
    stuck = a_run(woo_store, RunState.RUNNING, started_at=NOW - timedelta(hours=2),
                  progress_at=NOW - timedelta(minutes=31), pages_done=40)
    moving = a_run(woo_store, RunState.RUNNING, started_at=NOW - timedelta(hours=2),
                   progress_at=NOW - timedelta(minutes=5))
    never = a_run(woo_store, RunState.RUNNING, started_at=NOW - timedelta(minutes=40))
    done = a_run(woo_store, RunState.DONE, started_at=NOW - timedelta(days=1), progress_at=NOW - timedelta(days=1))

    # When the watchdog runs
    failed, requeued = import_runs_watch(now=NOW)

    # Then the stuck ones are failed with the reason; the others are left alone
    assert sorted(failed) == sorted([stuck.pk, never.pk])
    assert requeued == []
    stuck.refresh_from_db()
    since = timezone.localtime(NOW - timedelta(minutes=31)).strftime("%Y-%m-%d %H:%M")
    assert (stuck.state, stuck.finished_at, stuck.pages_done) == (RunState.FAILED, NOW, 40)
    assert stuck.error == f"No progress since {since}: the worker stopped; run it again."
    never.refresh_from_db()
    assert never.state == RunState.FAILED
    assert never.error.startswith("No progress since ")
    for run, state in ((moving, RunState.RUNNING), (done, RunState.DONE)):
        run.refresh_from_db()
        assert (run.state, run.error) == (state, "")
    assert queued == []


def test_queued_imports_whose_task_was_lost_are_queued_again(woo_store, queued, django_capture_on_commit_callbacks):
    # Given an import queued 40 minutes ago (its task lost with a flushed Redis) and one queued 2 minutes ago
    lost = a_run(woo_store, RunState.QUEUED)
    recent = a_run(woo_store, RunState.QUEUED)
    ImportRun.objects.filter(pk=lost.pk).update(queued_at=NOW - timedelta(minutes=40))
    ImportRun.objects.filter(pk=recent.pk).update(queued_at=NOW - timedelta(minutes=2))

    # When the watchdog runs
    with django_capture_on_commit_callbacks(execute=True):
        failed, requeued = import_runs_watch(now=NOW)

    # Then the lost one is queued again, with the import's time limit
    assert (failed, requeued) == ([], [lost.pk])
    assert queued == [("fulfillment.tasks.run_import", (lost.pk,), {"timeout": 12 * 3600})]


def test_the_watchdog_task_says_what_it_did_and_runs_every_five_minutes(woo_store, queued):
    a_run(woo_store, RunState.RUNNING, started_at=NOW - timedelta(hours=1), progress_at=NOW - timedelta(hours=1))

    assert watch_imports() == "1 stalled imports failed, 0 queued again"
    schedule = Schedule.objects.get(name="Fail stalled imports, queue lost ones")
    assert (schedule.func, schedule.schedule_type, schedule.minutes, schedule.repeats) == (
        "fulfillment.tasks.watch_imports", Schedule.MINUTES, 5, -1)


def test_a_stalled_import_shows_why_on_its_admin_page(woo_store, admin_client):
    # Given an import whose worker stopped
    run = a_run(woo_store, RunState.RUNNING, started_at=NOW - timedelta(hours=1), progress_at=NOW - timedelta(hours=1))
    import_runs_watch(now=NOW)
    run.refresh_from_db()

    # When staff open it, and the list
    detail = admin_client.get(reverse("admin:fulfillment_importrun_change", args=[run.pk])).content.decode()
    listing = admin_client.get(reverse("admin:fulfillment_importrun_changelist")).content.decode()

    # Then they read that it failed, and why
    assert '<div class="readonly">Failed</div>' in detail
    assert run.error in detail
    assert "the worker stopped; run it again." in run.error
    assert run.error in listing


@pytest.mark.django_db(transaction=True)
def test_a_stop_that_broke_the_connection_is_still_recorded_on_a_new_one(woo_store, monkeypatch):
    # Given a running import whose connection the stop left unusable (the signal landed inside the driver)
    from django.db import InterfaceError, connection
    from django.db.models.query import QuerySet

    from fulfillment.services.imports import _record_stopped

    run = a_run(woo_store, RunState.RUNNING, started_at=NOW, progress_at=NOW)
    run.state, run.finished_at, run.error = RunState.FAILED, NOW, "The worker stopped it (test); run it again."
    real_update, real_close, calls, closed = QuerySet.update, connection.close, [], []

    def update_once_broken(self, **fields):
        calls.append(fields)
        if len(calls) == 1:
            raise InterfaceError("cursor already closed")
        return real_update(self, **fields)

    def close():
        closed.append(True)
        real_close()

    monkeypatch.setattr(QuerySet, "update", update_once_broken)
    monkeypatch.setattr(connection, "close", close)

    # When its failure is recorded
    _record_stopped(run)

    # Then it is written on a new connection
    monkeypatch.undo()
    run.refresh_from_db()
    assert (run.state, run.error, run.finished_at, len(calls), closed) == (
        RunState.FAILED, "The worker stopped it (test); run it again.", NOW, 2, [True])
