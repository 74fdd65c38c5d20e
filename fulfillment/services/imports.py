"""Importing orders from WooCommerce: all of them, a creation-date range, or a list of ids."""

import logging
import queue
import threading
import time
from collections import deque
from datetime import UTC, timedelta

from django.conf import settings
from django.db import connection, connections, transaction
from django.db.models import Q
from django.utils import timezone
from django.utils.translation import gettext as _

from fulfillment.choices import EventSource, ImportMode, RunState
from fulfillment.integrations.woocommerce.client import PER_PAGE, WooClient, WooError
from fulfillment.models import ImportRun
from fulfillment.task_queue import enqueue_or_log
from fulfillment.services.mirror import orders_map, orders_upsert

logger = logging.getLogger("fulfillment.imports")

MAX_FAILURES_KEPT = 500
# Pages written at once on PostgreSQL, each by its own thread and connection: while one waits for PostgreSQL, the
# next is prepared. Two, for the two cores this runs on (bench/README.md: bench_import.py).
PAGE_WRITERS = 2


class ImportRequestError(ValueError):
    """The import asked for cannot run (bad dates, no ids); the message is for staff."""


class ImportRunTaken(Exception):
    """The run is no longer queued: another copy of its task runs it, or ran it."""

    def __init__(self, run):
        super().__init__(f"import {run.pk} already {run.state}")
        self.run = run


def parse_ids(text):
    """"1, 2,3 4" → [1, 2, 3, 4]; raise ImportRequestError on anything else."""
    ids = []
    for token in str(text).replace(",", " ").split():
        if not token.isdigit() or int(token) <= 0:
            raise ImportRequestError(_("%(token)s is not an order id.") % {"token": token})
        ids.append(int(token))
    if not ids:
        raise ImportRequestError(_("Give at least one order id."))
    return list(dict.fromkeys(ids))


def import_run_create(*, store, mode, since=None, until=None, ids=None, user=None):
    """Check an import request and record it as an ImportRun (not started)."""
    if mode == ImportMode.RANGE:
        if since is None:
            raise ImportRequestError(_("A date range needs a start date."))
        if until is not None and until <= since:
            raise ImportRequestError(_("The end of the range must come after its start."))
    elif mode == ImportMode.IDS:
        if not ids:
            raise ImportRequestError(_("Give at least one order id."))
    elif mode != ImportMode.ALL:
        raise ImportRequestError(_("Unknown import mode %(mode)s.") % {"mode": mode})
    return ImportRun.objects.create(store=store, mode=mode, since=since, until=until, ids=list(ids or []),
                                    requested_by=user)


def import_request(*, store, mode, since=None, until=None, ids=None, user=None):
    """Record an import and hand it to a worker; staff follow its progress in the admin."""
    with transaction.atomic():
        run = import_run_create(store=store, mode=mode, since=since, until=until, ids=ids, user=user)
        _queue(run.pk)
    return run


def _queue(run_id):
    # Its own time limit: the cluster's (600 s) would kill an import of a large shop half way. The run is stored
    # first, so a broker that cannot take the task is left to import_runs_watch.
    enqueue_or_log("fulfillment.tasks.run_import", run_id, timeout=settings.IMPORT_TIMEOUT_SECONDS)


def import_runs_watch(*, now=None, stalled_after_minutes=None):
    """Mark failed the running imports whose progress stood still (their worker stopped); queue lost queued ones.

    A worker killed (the cluster's time limit, a deploy, the machine) leaves its run "running" for ever, and the
    task refuses to run a running import again: staff are told to start it again. A run still queued that long
    lost its task (broker down, Redis flushed) and is queued again; a second copy of a task that is only late
    finds the run taken and does nothing. Returns (ids failed, ids queued).
    """
    now = now or timezone.now()
    minutes = settings.IMPORT_STALL_MINUTES if stalled_after_minutes is None else stalled_after_minutes
    cutoff = now - timedelta(minutes=minutes)
    stalled = list(
        ImportRun.objects.filter(state=RunState.RUNNING)
        .filter(Q(progress_at__lt=cutoff) | Q(progress_at__isnull=True, started_at__lt=cutoff))
        .values_list("pk", "progress_at", "started_at")
    )
    failed = []
    for run_id, progress_at, started_at in stalled:
        last = timezone.localtime(progress_at or started_at).strftime("%Y-%m-%d %H:%M")
        error = _("No progress since %(time)s: the worker stopped; run it again.") % {"time": last}
        # Only if it is still running and still stuck: it may have finished or moved since it was read.
        if ImportRun.objects.filter(pk=run_id, state=RunState.RUNNING).filter(
            Q(progress_at__lt=cutoff) | Q(progress_at__isnull=True, started_at__lt=cutoff)
        ).update(state=RunState.FAILED, error=error, finished_at=now):
            failed.append(run_id)
            logger.warning("import %s: no progress for %d minutes, marked failed", run_id, minutes)
    lost = list(ImportRun.objects.filter(state=RunState.QUEUED, queued_at__lt=cutoff).values_list("pk", flat=True))
    for run_id in lost:
        _queue(run_id)
    if lost:
        logger.warning("imports %s still queued after %d minutes: queued again", lost, minutes)
    return failed, lost


def _gmt(value):
    return value.astimezone(UTC).strftime("%Y-%m-%dT%H:%M:%S")


def _pages(client, run):
    # Ordered by id so that orders created while we page land on the last page instead of shifting others.
    base = {"orderby": "id", "order": "asc"}
    if run.mode == ImportMode.ALL:
        yield from client.iter_order_pages(base)
    elif run.mode == ImportMode.RANGE:
        # WooCommerce's after/before are exclusive and to the second: asking from one second earlier makes the
        # start inclusive, so ranges that follow each other ([a, b), [b, c)) miss no order created at b.
        params = {**base, "after": _gmt(run.since - timedelta(seconds=1)), "dates_are_gmt": "true"}
        if run.until:
            params["before"] = _gmt(run.until)
        yield from client.iter_order_pages(params)
    else:
        chunks = [run.ids[i:i + PER_PAGE] for i in range(0, len(run.ids), PER_PAGE)]
        for index, chunk in enumerate(chunks):
            for page in client.iter_order_pages({**base, "include": ",".join(map(str, chunk))}):
                page.number, page.total_pages = index + 1, len(chunks)
                yield page


_END = object()


def prefetched(pages, prepare, *, ahead=2):
    """Yield (page, prepare(page)) for each page while a thread already fetches and prepares the next ones.

    The shop's answer time and the mapping of page n+1 then overlap the database writes of page n (the thread
    waits on the network with the GIL released). At most `ahead` pages wait here. An error raised while fetching
    page n+1 is raised by this generator after page n has been yielded, as a plain loop would; when the caller
    stops early (its own error), the thread stops after the page it is fetching.
    """
    waiting = queue.Queue(maxsize=ahead)
    stop = threading.Event()

    def put(item):
        while not stop.is_set():
            try:
                waiting.put(item, timeout=0.1)
                return True
            except queue.Full:
                continue
        return False

    def produce():
        try:
            for page in pages:
                if not put((page, prepare(page))):
                    return
            put(_END)
        except BaseException as exc:  # handed to the caller, raised there
            put(exc)
        finally:
            if hasattr(pages, "close"):
                pages.close()

    thread = threading.Thread(target=produce, name="import-prefetch", daemon=True)
    thread.start()
    try:
        while True:
            item = waiting.get()
            if item is _END:
                return
            if isinstance(item, BaseException):
                raise item
            yield item
    finally:
        stop.set()
        thread.join(timeout=5)


class _Writer(threading.Thread):
    """A thread with its own database connection that writes the pages handed to it, one at a time."""

    def __init__(self, write, index):
        super().__init__(name=f"import-writer-{index}", daemon=True)
        self.write, self.jobs = write, queue.Queue()

    def run(self):
        try:
            while (job := self.jobs.get()) is not None:
                page, done = job
                try:
                    done.put((True, self.write(page)))
                except BaseException as exc:  # handed to the caller, raised there
                    done.put((False, exc))
        finally:
            connections.close_all()  # this thread's connections only


def written(pages, write, *, writers=PAGE_WRITERS):
    """Yield (page, write(page)) for each page, in order, with up to `writers` pages being written at once.

    Each page is its own transaction, so pages can be written side by side on PostgreSQL, each by a thread on its
    own connection. Inside a transaction of the caller's (a test), or on a database that lets one writer at a
    time (SQLite), pages are written one after the other on the caller's connection. When a page fails (or the
    next page cannot be fetched), the pages already being written are finished and yielded first, then the error
    is raised: a page is never written without being counted.
    """
    if writers <= 1 or connection.vendor != "postgresql" or connection.in_atomic_block:
        for page in pages:
            yield page, write(page)
        return
    pool = [_Writer(write, i) for i in range(writers)]
    for thread in pool:
        thread.start()
    in_flight, error = deque(), None
    try:
        turn = 0
        try:
            for page in pages:
                done = queue.Queue(maxsize=1)
                pool[turn % writers].jobs.put((page, done))
                turn += 1
                in_flight.append((page, done))
                if len(in_flight) >= writers:
                    page, done = in_flight.popleft()
                    ok, value = done.get()
                    if not ok:
                        error = value
                        break
                    yield page, value
        except Exception as exc:  # fetching the next page failed
            error = exc
        while in_flight:
            page, done = in_flight.popleft()
            ok, value = done.get()
            if ok:
                yield page, value
            elif error is None:
                error = value
        if error is not None:
            raise error
    finally:
        for thread in pool:
            thread.jobs.put(None)
        for thread in pool:
            thread.join()


def import_run_execute(*, run, client=None, progress=None):
    """Run a queued import page by page, keeping its counters current; returns the finished run.

    Raises ImportRunTaken, touching nothing, when the run is no longer queued.
    """
    started_at = timezone.now()
    # Taken in one statement: a second delivery of the task (the ORM broker hands a task that runs longer than
    # Q_CLUSTER's retry to another worker) or a second worker finds it taken and leaves it alone.
    if not ImportRun.objects.filter(pk=run.pk, state=RunState.QUEUED).update(
        state=RunState.RUNNING, started_at=started_at, progress_at=started_at
    ):
        run.refresh_from_db()
        logger.info("import %s is already %s: not run again", run.pk, run.state)
        raise ImportRunTaken(run)
    run.state, run.started_at, run.progress_at = RunState.RUNNING, started_at, started_at
    client = client or WooClient.for_store(run.store)
    seen_ids = set()
    started = time.monotonic()
    try:
        slug = run.store.slug
        mapped_pages = prefetched(_pages(client, run), lambda page: orders_map(page.items, store_slug=slug),
                                  ahead=PAGE_WRITERS + 1)

        def write(item):
            page, batch = item
            # Every page is asked for after the run started (see mirror._restored_after_trash).
            return orders_upsert(store=run.store, payloads=page.items, source=EventSource.IMPORT, batch=batch,
                                 read_at=started_at)

        for (page, _batch), result in written(mapped_pages, write):
            seen_ids.update(p.get("id") for p in page.items if isinstance(p, dict))
            run.pages_done += 1
            run.pages_total = page.total_pages
            run.orders_seen += len(page.items)
            run.created += len(result.created)
            run.updated += len(result.updated)
            run.unchanged += len(result.unchanged) + len(result.stale)
            run.failed += len(result.failed)
            run.failures.extend({"woo_id": woo_id, "reason": reason} for woo_id, reason in result.failed)
            run.failures = run.failures[:MAX_FAILURES_KEPT]
            run.progress_at = timezone.now()
            run.save(update_fields=["pages_done", "pages_total", "orders_seen", "created", "updated", "unchanged",
                                    "failed", "failures", "progress_at"])
            if progress:
                progress(run, time.monotonic() - started)
    except WooError as exc:
        run.state, run.error = RunState.FAILED, str(exc)
        logger.warning("import %s of store %s stopped: %s", run.pk, run.store.slug, exc)
    except Exception as exc:
        # Anything else (a row the database refuses, a bug) must not leave the run "running" for ever:
        # the task would then refuse to run it again and staff would wait for nothing.
        run.state, run.finished_at = RunState.FAILED, timezone.now()
        run.error = _("Stopped by an unexpected error: %(error)s") % {"error": f"{type(exc).__name__}: {exc}"}
        run.save(update_fields=["state", "error", "finished_at"])
        raise
    except (SystemExit, KeyboardInterrupt) as exc:
        # django-q2 stops a task at its time limit by raising a SystemExit in it (TimeoutException), and a worker
        # being shut down stops its task the same way: say so now rather than when import_runs_watch notices.
        run.state, run.finished_at = RunState.FAILED, timezone.now()
        run.error = _("The worker stopped it (%(reason)s); run it again.") % {
            "reason": str(exc) or type(exc).__name__}
        run.save(update_fields=["state", "error", "finished_at"])
        raise
    else:
        run.state = RunState.DONE
        if run.mode == ImportMode.IDS:
            missing = [i for i in run.ids if i not in seen_ids]
            run.failed += len(missing)
            run.failures.extend(
                {"woo_id": i, "reason": _("not found in WooCommerce (deleted, trashed or never existed)")}
                for i in missing
            )
            run.failures = run.failures[:MAX_FAILURES_KEPT]
    run.finished_at = timezone.now()
    run.save(update_fields=["state", "error", "failed", "failures", "finished_at"])
    return run
