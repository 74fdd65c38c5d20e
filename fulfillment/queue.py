"""The one way business code schedules background work: after the transaction commits."""

import threading

from django.db import transaction
from django_q.brokers import get_broker
from django_q.tasks import async_task

_broker = None
_broker_lock = threading.Lock()


def shared_broker():
    """The process's django-q2 broker, made once.

    async_task() without a broker builds a new one for every task: with Redis that is a new connection pool, so a
    TCP connect and a handshake on every webhook delivery. redis-py's pool is thread-safe and starts afresh in a
    forked child, so one per process is enough.
    """
    global _broker
    if _broker is None:
        with _broker_lock:
            if _broker is None:
                _broker = get_broker()
    return _broker


def enqueue(func, *args, **kwargs):
    """Queue `func` (a dotted path) for a django-q2 worker once the current transaction commits.

    A task queued inside a transaction that rolls back would act on rows that never existed.
    """
    if "broker" not in kwargs and "cluster" not in kwargs:
        kwargs["broker"] = shared_broker()
    transaction.on_commit(lambda: async_task(func, *args, **kwargs))
