"""django-q2's cluster, except that a process killed in the middle of its queues does not hang the cluster for ever.

A cluster's sentinel hands tasks to its workers through a `multiprocessing.Queue`, whose reading end is guarded by a
lock that an idle worker holds *while it waits* for the next task (`Queue.get` blocks inside the lock), and whose
writing end by another that the pusher's and every worker's feeder thread hold while they write. A process killed
with one of those held (`kill -9`, the kernel's OOM killer) takes the lock with it: django-q2's sentinel spawns a new
worker on the same queue, and every worker then waits for a lock that nobody will release. The cluster looks alive
and takes no task again; `bench/faults/workers_die.py` found it (a queue of 1,142 tasks standing still for 300 s
after 37 kills of single processes).

`GuardedSentinel` reincarnates a process as django-q2 does when the death is one it caused itself (a worker stopped
at its task's time limit, or recycled after `recycle` tasks: it holds no lock then). Any other death — a worker, the
pusher or the monitor gone without being asked — restarts every process of the cluster on new queues: the busy
workers are first given `TASK_CLUSTER_RESTART_GRACE_SECONDS` (30) to finish their task (and, when the queue can still
be read, the tasks the pusher had already taken from the broker), and what is lost with the old queues (the dead
worker's task, the few tasks the pusher had taken ahead, at most Q_CLUSTER's `queue_limit`) is what the project's
sweeps exist for (docs/architecture.md, "When a worker dies"), as with any kill: every task here is safe to run
twice.

`manage.py qcluster` (fulfillment/management/commands/qcluster.py) starts its clusters with this sentinel.
"""

import logging
import time

from django import db
from django.conf import settings
from django_q import cluster as q_cluster
from django_q.conf import Conf

logger = logging.getLogger("fulfillment.task_cluster")

TIMED_OUT, RECYCLED, IDLE = 0, -2, -1  # django-q2's worker timer values (django_q/worker.py)


class GuardedSentinel(q_cluster.Sentinel):
    def reincarnate(self, process):
        if process not in self.pool and process is not self.monitor and process is not self.pusher:
            return  # a process of the cluster this sentinel has already started again (the guard loop's old list)
        if not self.died_suddenly(process):
            return super().reincarnate(process)
        role = "pusher" if process == self.pusher else "monitor" if process == self.monitor else "worker"
        logger.error("task cluster: the %s %s (pid %s) died without being asked (exit code %s); restarting the "
                     "cluster's processes on new queues, as a process killed holding a queue's lock would stop "
                     "every other one", role, process.name, process.pid, process.exitcode)
        self.restart_processes(dead=process)

    def died_suddenly(self, process):
        if process == self.pusher or process == self.monitor:
            return True
        # A worker's timer is 0 when the sentinel stopped it at its time limit (django-q2 terminates it itself, when
        # it is processing, not waiting on the queue) and -2 when it left after `recycle` tasks, between two tasks.
        # Any other death (busy or idle) may have left one of the queues' locks held.
        return process.timer.value not in (TIMED_OUT, RECYCLED)

    def restart_processes(self, *, dead):
        grace = getattr(settings, "TASK_CLUSTER_RESTART_GRACE_SECONDS", 30)
        self.pusher_stopped()
        self.busy_workers_finished(grace, dead)
        for process in [*self.pool, self.monitor, self.pusher]:
            if process is not None and process.is_alive():
                process.kill()
        for process in [*self.pool, self.monitor, self.pusher]:
            if process is not None:
                process.join(timeout=5)
        for old in (self.task_queue, self.result_queue):
            old.cancel_join_thread()  # never wait for a feeder thread that may be blocked on a dead lock
            old.close()
        # as Sentinel.__init__ makes them (django_q.queues.Queue: its size counter has a lock of its own too)
        self.task_queue = q_cluster.Queue(maxsize=Conf.QUEUE_LIMIT) if Conf.QUEUE_LIMIT else q_cluster.Queue()
        self.result_queue = q_cluster.Queue()
        self.event_out = q_cluster.Event()
        db.connections.close_all()
        self.spawn_cluster()
        self.reincarnations += 1
        logger.warning("task cluster: %d processes started again on new queues", len(self.pool) + 2)

    def pusher_stopped(self):
        """Ask the pusher to stop taking tasks; it stops after its current wait on the broker (Redis: 1 s)."""
        self.event_out.set()
        deadline = time.monotonic() + 5
        while self.pusher is not None and self.pusher.is_alive() and time.monotonic() < deadline:
            time.sleep(0.1)

    def busy_workers_finished(self, grace, dead):
        deadline = time.monotonic() + grace
        while time.monotonic() < deadline:
            busy = [w for w in self.pool if w is not dead and w.is_alive() and w.timer.value > 0]
            if not busy:
                return
            time.sleep(0.2)
        logger.warning("task cluster: %d workers still busy after %s s; stopped with their task", len(busy), grace)


def start_cluster():
    """What `manage.py qcluster` runs: django-q2's Cluster with the guarded sentinel."""
    q_cluster.Sentinel = GuardedSentinel  # Cluster.start() looks the sentinel up in its module
    return q_cluster.Cluster()
