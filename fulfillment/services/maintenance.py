"""Housekeeping of the task queue's own records."""

from datetime import timedelta

from django.conf import settings
from django.db.models import Q
from django.utils import timezone
from django_q.models import Task


def task_results_prune(*, now=None, keep_days=None, keep_failures_days=None, chunk=5000):
    """Delete the results of tasks that succeeded more than `keep_days` ago, and of failures more than
    `keep_failures_days` ago (staff read a failure for weeks, not for ever: the table must not grow without end).

    django-q2 would otherwise prune by itself (`save_limit`), but it does so on every finished task by locking
    every kept success: with two clusters their monitors wait on each other and the workers stall (see
    bench/README.md, bench_submit). Returns the number of results deleted.
    """
    now = now or timezone.now()
    keep_days = settings.TASK_RESULTS_KEEP_DAYS if keep_days is None else keep_days
    keep_failures_days = settings.TASK_FAILURES_KEEP_DAYS if keep_failures_days is None else keep_failures_days
    old = (Q(success=True, stopped__lt=now - timedelta(days=keep_days))
           | Q(success=False, stopped__lt=now - timedelta(days=keep_failures_days)))
    deleted = 0
    while True:
        ids = list(Task.objects.filter(old).values_list("id", flat=True)[:chunk])
        if not ids:
            return deleted
        deleted += Task.objects.filter(pk__in=ids).delete()[0]
