"""The one way business code schedules background work: after the transaction commits."""

import logging
import threading

from django.db import DatabaseError, transaction
from django_q.brokers import get_broker
from django_q.conf import Conf
from django_q.tasks import async_task
from redis.exceptions import RedisError

logger = logging.getLogger("fulfillment.task_queue")

# What a broker raises when it cannot take a task: Redis down or timing out, the ORM broker's database busy or
# gone (SQLite: "database is locked"), a socket error.
BROKER_ERRORS = (RedisError, DatabaseError, OSError)

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


def _with_broker(kwargs):
    if "broker" not in kwargs and "cluster" not in kwargs:
        kwargs["broker"] = shared_broker()
    return kwargs


def enqueue(func, *args, **kwargs):
    """Queue `func` (a dotted path) for a django-q2 worker once the current transaction commits.

    A task queued inside a transaction that rolls back would act on rows that never existed.
    """
    kwargs = _with_broker(kwargs)
    transaction.on_commit(lambda: async_task(func, *args, **kwargs))


def enqueue_or_log(func, *args, **kwargs):
    """Queue like `enqueue`, but a broker that cannot take the task is logged instead of raised.

    For work whose rows are already stored and that a watchdog schedule queues again when its task never ran:
    failing the caller (a webhook answered 500) would lose more than the task.
    """
    kwargs = _with_broker(kwargs)

    def send():
        # When the task runs right here (Conf.SYNC: tests), a database or OS error is the task's own, not the
        # broker's: it must be seen, not logged away.
        try:
            async_task(func, *args, **kwargs)
        except RedisError if Conf.SYNC else BROKER_ERRORS as exc:
            logger.warning("could not queue %s%r, left to its watchdog: %s: %s", func, args, type(exc).__name__, exc)

    transaction.on_commit(send)
