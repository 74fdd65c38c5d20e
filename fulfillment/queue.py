"""The one way business code schedules background work: after the transaction commits."""

from django.db import transaction
from django_q.tasks import async_task


def enqueue(func, *args, **kwargs):
    """Queue `func` (a dotted path) for a django-q2 worker once the current transaction commits.

    A task queued inside a transaction that rolls back would act on rows that never existed.
    """
    transaction.on_commit(lambda: async_task(func, *args, **kwargs))
