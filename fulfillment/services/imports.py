"""Importing orders from WooCommerce: all of them, a creation-date range, or a list of ids."""

import logging
import time
from datetime import UTC, timedelta

from django.conf import settings
from django.db import Error as DatabaseDriverError, connection, transaction
from django.db.models import DateTimeField, F, Q, Value
from django.db.models.functions import Coalesce
from django.utils import timezone
from django.utils.translation import gettext as _

from backoffice.numbers import whole_number
from fulfillment.choices import EventSource, ImportMode, RunState
from fulfillment.integrations.woocommerce.client import PER_PAGE, WooClient, WooError
from fulfillment.integrations.woocommerce.paging import OrderPages
from fulfillment.models import ImportRun
from fulfillment.task_queue import enqueue_or_log
from fulfillment.services.mirror import orders_map, orders_upsert
from fulfillment.services.page_writers import PAGE_WRITERS, prefetched, written

logger = logging.getLogger("fulfillment.imports")

MAX_FAILURES_KEPT = 500


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
        if not whole_number(token):
            raise ImportRequestError(_("%(token)s is not an order id.") % {"token": token[:40]})
        ids.append(whole_number(token))
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


def import_run_resume(*, run, queue=True):
    """Queue a failed import again: it starts after the last page it wrote (pages are committed in order).

    With queue=False it is only made ready to run, for a caller that runs it at once (the import_orders command).
    Raises ImportRequestError when the run has not failed.
    """
    with transaction.atomic():
        locked = ImportRun.objects.select_for_update().get(pk=run.pk)
        if locked.state != RunState.FAILED:
            raise ImportRequestError(_("Only a failed import can be resumed; import %(id)s is %(state)s.") % {
                "id": locked.pk, "state": locked.get_state_display()})
        # A fresh queued_at: import_runs_watch takes a run queued for long as one whose task was lost.
        ImportRun.objects.filter(pk=locked.pk).update(state=RunState.QUEUED, error="", finished_at=None,
                                                      queued_at=timezone.now())
        logger.info("import %s of store %s resumed after page %d", locked.pk, locked.store.slug, locked.pages_done)
        if queue:
            _queue(locked.pk)
    locked.refresh_from_db()
    return locked


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


def _listing(run):
    """The query of an import of all orders or of a range (None for ids), ordered by id so that orders created while
    we page land on the last page instead of shifting others."""
    base = {"orderby": "id", "order": "asc"}
    if run.mode == ImportMode.ALL:
        return base
    if run.mode == ImportMode.RANGE:
        # WooCommerce's after/before are exclusive and to the second: asking from one second earlier makes the
        # start inclusive, so ranges that follow each other ([a, b), [b, c)) miss no order created at b.
        params = {**base, "after": _gmt(run.since - timedelta(seconds=1)), "dates_are_gmt": "true"}
        if run.until:
            params["before"] = _gmt(run.until)
        return params
    return None


def _last_id(items):
    """The highest order id of a page (ids no column can hold left out: they failed alone)."""
    ids = [item.get("id") for item in items if isinstance(item, dict)]
    return max((i for i in ids if isinstance(i, int) and 0 < i < 2**63), default=None)


def _resume_page(client, params, run):
    """The page a resumed import starts at: the one after the last page written, unless the shop's pages shifted.

    Orders deleted in the shop since move later orders onto earlier pages, and starting after page `pages_done`
    would skip them: the last page written is read again, and while it ends beyond the last order id written (or
    is gone) the import starts a page earlier. A page read again is only counted again (unchanged).
    """
    start = run.pages_done + 1
    if run.last_woo_id is None:
        return 1
    while start > 1:
        page = client.order_page(params, start - 1)
        last = _last_id(page.items) if page else None
        if last is not None and last <= run.last_woo_id:
            break
        start -= 1
    return start


def _pages(client, run, *, start):
    params = _listing(run)
    if params is not None:
        return OrderPages(client, params, concurrency=run.store.fetch_concurrency, start=start)
    return _id_pages(client, run, start=start)


def _id_pages(client, run, *, start):
    base = {"orderby": "id", "order": "asc"}
    chunks = _id_chunks(run)
    for index in range(start - 1, len(chunks)):
        for page in client.iter_order_pages({**base, "include": ",".join(map(str, chunks[index]))}):
            page.number, page.total_pages = index + 1, len(chunks)
            yield page


def _id_chunks(run):
    return [run.ids[i:i + PER_PAGE] for i in range(0, len(run.ids), PER_PAGE)]


def _record_stopped(run):
    """Write a stopped run's failure even when the stop landed inside the database driver or an atomic block's exit.

    django-q2's time limit is a signal: its exception may interrupt a query or a savepoint's release, leaving this
    connection unusable ("You can't execute queries until the end of the 'atomic' block", a broken cursor). A
    worker runs in autocommit, so a fresh connection can always say why the run stopped; import_runs_watch is the
    last resort when even that fails.
    """
    fields = {"state": run.state, "error": run.error, "finished_at": run.finished_at}
    try:
        ImportRun.objects.filter(pk=run.pk).update(**fields)
        return
    except DatabaseDriverError as exc:  # TransactionManagementError, InterfaceError, OperationalError...
        if connection.in_atomic_block:  # a caller's transaction (not a worker's): nothing can be written now
            logger.error("import %s stopped, its failure not recorded (%s): import_runs_watch will", run.pk, exc)
            return
        logger.warning("import %s stopped inside a query (%s): recording its failure on a new connection",
                       run.pk, exc)
    connection.close()
    try:
        ImportRun.objects.filter(pk=run.pk).update(**fields)
    except DatabaseDriverError as exc:
        logger.error("import %s stopped, its failure not recorded (%s): import_runs_watch will", run.pk, exc)


def import_run_execute(*, run, client=None, progress=None):
    """Run a queued import page by page, keeping its counters current; returns the finished run.

    A resumed run (import_run_resume) starts after the last page it wrote. Raises ImportRunTaken, touching nothing,
    when the run is no longer queued.
    """
    started_at = timezone.now()
    # Taken in one statement: a second delivery of the task (the ORM broker hands a task that runs longer than
    # Q_CLUSTER's retry to another worker) or a second worker finds it taken and leaves it alone. A resumed run
    # keeps its first start.
    if not ImportRun.objects.filter(pk=run.pk, state=RunState.QUEUED).update(
        state=RunState.RUNNING, progress_at=started_at,
        started_at=Coalesce(F("started_at"), Value(started_at, output_field=DateTimeField())),
    ):
        run.refresh_from_db()
        logger.info("import %s is already %s: not run again", run.pk, run.state)
        raise ImportRunTaken(run)
    run.refresh_from_db()
    client = client or WooClient.for_store(run.store)
    seen_ids, asked_ids = set(), set()
    started = time.monotonic()
    page_number = run.pages_done + 1
    try:
        slug = run.store.slug
        params = _listing(run)
        start = _resume_page(client, params, run) if params is not None and run.pages_done else run.pages_done + 1
        if run.pages_done:
            logger.info("import %s of store %s resumed at page %d (%d pages written before)", run.pk, slug, start,
                        run.pages_done)
        page_number = start
        if params is None:
            asked_ids.update(i for chunk in _id_chunks(run)[start - 1:] for i in chunk)
        mapped_pages = prefetched(_pages(client, run, start=start),
                                  lambda page: orders_map(page.items, store_slug=slug), ahead=PAGE_WRITERS + 1)

        def write(item):
            page, batch = item
            # Every page is asked for after this run (or leg of a resumed run) started: see
            # mirror._restored_after_trash.
            return orders_upsert(store=run.store, payloads=page.items, source=EventSource.IMPORT, batch=batch,
                                 read_at=started_at)

        for (page, _batch), result in written(mapped_pages, write):
            seen_ids.update(p.get("id") for p in page.items if isinstance(p, dict))
            run.pages_done = page.number
            page_number = page.number + 1
            run.pages_total = page.total_pages
            run.last_woo_id = max(filter(None, (run.last_woo_id, _last_id(page.items))), default=None)
            run.orders_seen += len(page.items)
            run.created += len(result.created)
            run.updated += len(result.updated)
            run.unchanged += len(result.unchanged) + len(result.stale)
            run.failed += len(result.failed)
            run.failures.extend({"woo_id": woo_id, "reason": reason} for woo_id, reason in result.failed)
            run.failures = run.failures[:MAX_FAILURES_KEPT]
            run.progress_at = timezone.now()
            run.save(update_fields=["pages_done", "pages_total", "last_woo_id", "orders_seen", "created", "updated",
                                    "unchanged", "failed", "failures", "progress_at"])
            if progress:
                progress(run, time.monotonic() - started)
    except WooError as exc:
        # Nothing after this page was written (pages commit in order): resuming the run starts here.
        page_number = getattr(exc, "page", None) or page_number
        run.state = RunState.FAILED
        run.error = _("Stopped at page %(page)d: %(error)s") % {"page": page_number, "error": exc}
        logger.warning("import %s of store %s stopped at page %d (%d pages written): %s", run.pk, run.store.slug,
                       page_number, run.pages_done, exc)
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
        _record_stopped(run)
        raise
    else:
        run.state = RunState.DONE
        if run.mode == ImportMode.IDS:
            missing = [i for i in run.ids if i in asked_ids and i not in seen_ids]
            run.failed += len(missing)
            run.failures.extend(
                {"woo_id": i, "reason": _("not found in WooCommerce (deleted, trashed or never existed)")}
                for i in missing
            )
            run.failures = run.failures[:MAX_FAILURES_KEPT]
    run.finished_at = timezone.now()
    run.save(update_fields=["state", "error", "failed", "failures", "finished_at"])
    return run
