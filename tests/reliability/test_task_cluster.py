"""A real `manage.py qcluster` whose processes are killed with kill -9 goes on taking tasks (fulfillment/task_cluster.py).

django-q2's own sentinel spawns a new worker on the old queue, whose reading lock the killed idle worker held: the
cluster then takes no task again. With two idle workers one of them always waits inside that lock, so killing both
kills the lock's holder for certain.
"""

import os
import signal
import subprocess
import sys
import time
import uuid
from pathlib import Path
from types import SimpleNamespace

import pytest
from django.conf import settings
import redis
from django_q.brokers.redis_broker import Redis
from django_q.signing import SignedPackage

from fulfillment.task_cluster import GuardedSentinel

ROOT = Path(__file__).resolve().parent.parent.parent
# The cluster's own Redis db (flushed), so that no task another test left queued runs against this test's database.
REDIS_URL = os.environ.get("TEST_CLUSTER_REDIS_URL", "redis://127.0.0.1:6379/9")


def children(pid):
    found = []
    for entry in Path("/proc").iterdir():
        if entry.name.isdigit():
            try:
                fields = (entry / "stat").read_text().rsplit(")", 1)[1].split()
            except OSError:
                continue
            if int(fields[1]) == pid:
                found.append(int(entry.name))
    return found


def wait_for(check, seconds, what):
    deadline = time.monotonic() + seconds
    while time.monotonic() < deadline:
        if check():
            return
        time.sleep(0.2)
    raise AssertionError(f"not within {seconds} s: {what}")


def queue_touch(broker, path):
    task = {"id": uuid.uuid4().hex, "name": f"touch-{path.name}", "func": "tests.reliability._cluster_tasks.touch",
            "args": (str(path),), "kwargs": {}, "started": None}
    from django.utils import timezone
    task["started"] = timezone.now()
    broker.enqueue(SignedPackage.dumps(task))


@pytest.mark.postgres
@pytest.mark.redis
@pytest.mark.django_db(transaction=True)
def test_a_cluster_whose_workers_were_killed_takes_tasks_again(tmp_path):
    # Given a qcluster with two idle workers on a Redis db of its own, taking tasks
    redis_url = REDIS_URL
    redis.Redis.from_url(redis_url).flushdb()
    db = settings.DATABASES["default"]
    env = {**os.environ, "Q_WORKERS": "2", "Q_LOG_LEVEL": "WARNING", "REDIS_URL": redis_url,
           "DATABASE_URL": f"postgres://{db['USER']}@{db['HOST']}:{db['PORT']}/{db['NAME']}"}
    log = (tmp_path / "cluster.log").open("w+")
    cluster = subprocess.Popen([sys.executable, "manage.py", "qcluster"], cwd=ROOT, env=env, stdout=log,
                               stderr=subprocess.STDOUT, start_new_session=True)
    broker = Redis(list_key=settings.Q_CLUSTER["name"])
    broker.connection = redis.Redis.from_url(redis_url)
    try:
        queue_touch(broker, tmp_path / "before")
        wait_for((tmp_path / "before").exists, 60, "the first task ran")
        wait_for(lambda: children(cluster.pid) and len(children(children(cluster.pid)[0])) == 4, 10,
                 "the sentinel's two workers, monitor and pusher")
        sentinel = children(cluster.pid)[0]
        time.sleep(1)  # both workers idle again, one of them waiting inside the queue's reading lock

        # When every process under the sentinel is killed with kill -9 (the lock's holder with them)
        killed = children(sentinel)
        for pid in killed:
            os.kill(pid, signal.SIGKILL)

        # Then the cluster starts them again on new queues and takes every task queued after (one queued while the
        # killed pusher was still inside Redis' BLPOP would be popped and lost with it: Redis keeps no receipt, the
        # sweeps find such work — docs/architecture.md, "When a worker dies")
        wait_for(lambda: len(set(children(sentinel)) - set(killed)) == 4, 30, "four new processes")
        for i in range(6):
            queue_touch(broker, tmp_path / f"after-{i}")
        wait_for(lambda: all((tmp_path / f"after-{i}").exists() for i in range(6)), 60, "the tasks after the kills")
        assert cluster.poll() is None
        assert not set(children(sentinel)) & set(killed)
        log.seek(0)
        assert "restarting the cluster's processes on new queues" in log.read()
    finally:
        os.killpg(cluster.pid, signal.SIGTERM)
        try:
            cluster.wait(timeout=20)
        except subprocess.TimeoutExpired:
            os.killpg(cluster.pid, signal.SIGKILL)
            cluster.wait()
        broker.delete_queue()
        log.seek(0)
        print(log.read()[-3000:])  # shown when the test fails
        log.close()


@pytest.mark.parametrize("timer, sudden", [(0, False), (-2, False), (-1, True), (597, True)])
def test_a_worker_the_sentinel_stopped_or_recycled_is_no_sudden_death(timer, sudden):
    # Given a worker whose timer says it timed out (0), was recycled (-2), died idle (-1) or busy (seconds left)
    sentinel = GuardedSentinel.__new__(GuardedSentinel)
    sentinel.pusher = sentinel.monitor = object()
    worker = SimpleNamespace(timer=SimpleNamespace(value=timer))

    # Then only the last two restart the cluster's processes
    assert sentinel.died_suddenly(worker) is sudden
    assert sentinel.died_suddenly(sentinel.pusher) is True
