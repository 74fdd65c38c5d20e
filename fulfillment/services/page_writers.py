"""The import's pipeline: pages prepared by a thread ahead of the writers, written side by side, committed in order.

Not a business action: imports.import_run_execute runs its pages through these two helpers.
"""

import queue
import threading
from collections import deque

from django.db import connection, connections, transaction

# Pages written at once on PostgreSQL, each by its own thread and connection: while one waits for PostgreSQL, the
# next is prepared. Two, for the two cores this runs on (bench/README.md: bench_import.py).
PAGE_WRITERS = 2
# How long a written page waits for the page before it to commit before it rolls back to let that one through.
COMMIT_TURN_WAIT_SECONDS = 5


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


class _Turn:
    """Whether a page's transaction committed: the page after it waits for this before committing its own."""

    def __init__(self, committed=None):
        self.event = threading.Event()
        self.committed = committed
        if committed is not None:
            self.event.set()

    def wait(self, timeout=None):
        return self.event.wait(timeout)

    def finish(self, committed):
        self.committed = committed
        self.event.set()


class _OutOfTurn(Exception):
    """The page before this one did not commit (it failed): this one is rolled back, as if never written."""


class _Writer(threading.Thread):
    """A thread with its own database connection that writes the pages handed to it, one at a time.

    A page is written in its own transaction, which commits only after the page before it committed: pages are
    prepared side by side but committed in page order, so a resumed import can start after the last page counted.
    """

    def __init__(self, write, index):
        super().__init__(name=f"import-writer-{index}", daemon=True)
        self.write, self.jobs = write, queue.Queue()

    def run(self):
        try:
            while (job := self.jobs.get()) is not None:
                page, done, before, mine = job
                try:
                    result = self._write_in_turn(page, before)
                except BaseException as exc:  # handed to the caller, raised there
                    mine.finish(False)
                    done.put((False, exc))
                else:
                    mine.finish(True)
                    done.put((True, result))
        finally:
            connections.close_all()  # this thread's connections only

    def _write_in_turn(self, page, before):
        with transaction.atomic():
            result = self.write(page)
            if before.wait(COMMIT_TURN_WAIT_SECONDS):
                if not before.committed:
                    raise _OutOfTurn()
                return result
            # The page before may be waiting for a row this transaction holds (an order that moved onto it from
            # this page while we paged): roll back, let it commit, and write this page again after it.
            transaction.set_rollback(True)
        before.wait()
        if not before.committed:
            raise _OutOfTurn()
        with transaction.atomic():
            return self.write(page)


def written(pages, write, *, writers=PAGE_WRITERS):
    """Yield (page, write(page)) for each page, in order, with up to `writers` pages being written at once.

    Each page is its own transaction, so pages can be written side by side on PostgreSQL, each by a thread on its
    own connection, and committed in page order. Inside a transaction of the caller's (a test), or on a database
    that lets one writer at a time (SQLite), pages are written one after the other on the caller's connection.
    When a page fails (or the next page cannot be fetched), the pages before it are finished and yielded first,
    then the error is raised; the pages after a failed one are rolled back: nothing after it is written, and a page
    is never written without being counted.
    """
    if writers <= 1 or connection.vendor != "postgresql" or connection.in_atomic_block:
        for page in pages:
            yield page, write(page)
        return
    pool = [_Writer(write, i) for i in range(writers)]
    for thread in pool:
        thread.start()
    in_flight, error, last_turn = deque(), None, _Turn(committed=True)
    try:
        turn = 0
        try:
            for page in pages:
                done, mine = queue.Queue(maxsize=1), _Turn()
                pool[turn % writers].jobs.put((page, done, last_turn, mine))
                last_turn = mine
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
            if ok:  # committed, so every page before it did
                yield page, value
            elif error is None:
                error = value  # the pages after it are rolled back (_OutOfTurn)
        if error is not None:
            raise error
    finally:
        for thread in pool:
            thread.jobs.put(None)
        for thread in pool:
            thread.join()
