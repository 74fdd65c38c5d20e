"""Housekeeping of the task queue's own records."""

from datetime import timedelta

from django.conf import settings
from django.utils import timezone
from django_q.models import Task


def task_results_prune(*, now=None, keep_days=None, chunk=5000):
    """Delete the results of tasks that succeeded more than `keep_days` ago; failures stay for staff to read.

    django-q2 would otherwise prune by itself (`save_limit`), but it does so on every finished task by locking
    every kept success: with two clusters their monitors wait on each other and the workers stall (see
    bench/README.md, bench_submit). Returns the number of results deleted.
    """
    now = now or timezone.now()
    keep_days = settings.TASK_RESULTS_KEEP_DAYS if keep_days is None else keep_days
    cutoff = now - timedelta(days=keep_days)
    deleted = 0
    while True:
        ids = list(Task.objects.filter(success=True, stopped__lt=cutoff).values_list("id", flat=True)[:chunk])
        if not ids:
            return deleted
        deleted += Task.objects.filter(pk__in=ids).delete()[0]
