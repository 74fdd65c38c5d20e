"""Housekeeping of django-q2's task results: successes are pruned by a daily task, not by django-q2 itself."""

from datetime import UTC, datetime, timedelta

from django.conf import settings
from django_q.models import Schedule, Task

from fulfillment.services.maintenance import task_results_prune
from fulfillment.tasks import prune_task_results

NOW = datetime(2026, 11, 22, 12, 0, tzinfo=UTC)


def task(name, *, success, days_ago):
    stopped = NOW - timedelta(days=days_ago)
    return Task.objects.create(id=name, name=name, func="fulfillment.tasks.refresh_status_counts", success=success,
                               started=stopped - timedelta(seconds=1), stopped=stopped)


def test_old_successes_go_failures_and_recent_ones_stay(db):
    # given successes and failures of various ages
    task("old-success", success=True, days_ago=30)
    task("older-success", success=True, days_ago=400)
    task("recent-success", success=True, days_ago=3)
    task("old-failure", success=False, days_ago=30)

    # when the prune runs, keeping 14 days, in chunks smaller than what it deletes
    deleted = task_results_prune(now=NOW, keep_days=14, chunk=1)

    # then only the old successes are gone
    assert deleted == 2
    assert sorted(Task.objects.values_list("id", flat=True)) == ["old-failure", "recent-success"]


def test_failures_go_after_their_own_longer_time(db):
    # given failures of a month and of a year ago
    task("month-old-failure", success=False, days_ago=30)
    task("year-old-failure", success=False, days_ago=365)

    # when the prune runs, keeping failures 90 days
    deleted = task_results_prune(now=NOW, keep_days=14, keep_failures_days=90)

    # then only the year-old failure is gone: the task table cannot grow without end
    assert deleted == 1
    assert list(Task.objects.values_list("id", flat=True)) == ["month-old-failure"]


def test_the_task_uses_the_setting_and_says_what_it_did(db, settings):
    settings.TASK_RESULTS_KEEP_DAYS = 1
    Task.objects.create(id="t1", name="t1", func="x", success=True, started=datetime(2020, 1, 1, tzinfo=UTC),
                        stopped=datetime(2020, 1, 1, tzinfo=UTC))

    assert prune_task_results() == "1 task results deleted"
    assert not Task.objects.exists()


def test_django_q2_does_not_prune_by_itself_and_the_daily_schedule_exists(db):
    # a positive save_limit makes every finished task lock all kept successes (workers stall; bench/README.md)
    assert settings.Q_CLUSTER["save_limit"] == 0
    # a worker recycles (its memory given back) without waiting on a monitor's prune
    assert settings.Q_CLUSTER["recycle"] == 500
    # a failed task is acknowledged and not handed out again; a task runs once, and the broker's redelivery of an
    # unacknowledged one comes only after the longest task may have run
    assert (settings.Q_CLUSTER["ack_failures"], settings.Q_CLUSTER["max_attempts"]) == (True, 1)
    assert settings.Q_CLUSTER["retry"] > settings.Q_CLUSTER["timeout"]
    schedule = Schedule.objects.get(name="Prune old results of successful tasks")
    assert (schedule.func, schedule.schedule_type, schedule.repeats) == (
        "fulfillment.tasks.prune_task_results", Schedule.DAILY, -1)
