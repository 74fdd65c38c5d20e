"""Reading pages of orders several at a time, handed out in page order.

A shop answers a page of 100 orders in 0.4-1 s, most of it PHP building the JSON, and serves several requests at
once (PHP-FPM workers): asking for one page after the other leaves the import waiting on the shop. Here a few
threads fetch the next pages at once (HTTP only; nothing here touches the database) while the caller takes them
one by one, in order, as `WooClient.iter_order_pages` yields them, and stops where it would stop.

Throttling (429, and 503, also WordPress's maintenance mode) slows the fetching down instead of failing it: fewer
requests at once (halved, at most once per round of requests), none sent before the answer's Retry-After has
passed, the page asked for again; after a run of good answers one more request at once again, up to the bound.
A page that still fails (other errors after the client's retries, or too many throttled answers) is raised when
the caller reaches it, with `page` set on the error; the pages after it are dropped.
"""

import itertools
import logging
import threading
import time

from django.conf import settings

from fulfillment.integrations.woocommerce.client import RETRY_AFTER_STATUSES, WooRetryableError, is_last_page

logger = logging.getLogger("fulfillment.woocommerce")

# A store whose setting is missing or wrong gets this many requests at once: what a small host's PHP-FPM pool serves
# beside its visitors.
DEFAULT_CONCURRENCY = 4
MAX_CONCURRENCY = 16
MAX_PAUSE_SECONDS = 60  # the longest pause after a throttled answer, whatever its Retry-After asks

_PAST_THE_END = object()


class _Failed:
    __slots__ = ("error",)

    def __init__(self, error):
        self.error = error


class _Pacer:
    """How many requests may be in flight now (additive increase, halving on throttling) and from when."""

    def __init__(self, bound, clock):
        self.bound = self.limit = bound
        self.clock = clock
        self.in_flight = 0
        self.paused_until = 0.0
        self.round = 0  # moves on at each halving: a throttled answer to a request sent before it halves no more
        self.good = 0

    def wait_time(self):
        return max(self.paused_until - self.clock(), 0.0)

    def may_send(self):
        return self.in_flight < self.limit and self.wait_time() == 0.0

    def answered(self):
        self.in_flight -= 1
        self.good += 1
        if self.limit < self.bound and self.good >= self.limit:
            self.limit += 1
            self.good = 0

    def throttled(self, sent_in_round, pause):
        self.in_flight -= 1
        self.good = 0
        if sent_in_round == self.round:
            self.limit = max(1, self.limit // 2)
            self.round += 1
        self.paused_until = max(self.paused_until, self.clock() + pause)

    def failed(self):
        self.in_flight -= 1
        self.good = 0


class OrderPages:
    """Pages `start`, `start + 1`, ... of the orders `params` select, fetched up to `concurrency` at a time.

    Iterate it once; `close()` (or leaving a `with` block) stops its threads after the requests in flight.
    """

    def __init__(self, client, params, *, concurrency=DEFAULT_CONCURRENCY, start=1, throttle_retries=None,
                 clock=time.monotonic):
        self.client, self.params = client, dict(params)
        self.bound = max(1, min(int(concurrency or DEFAULT_CONCURRENCY), MAX_CONCURRENCY))
        self.start = start
        self.throttle_retries = settings.WOO_MAX_THROTTLE_RETRIES if throttle_retries is None else throttle_retries
        # Pages fetched ahead of the caller: enough to keep every request slot busy while it writes one.
        self.window = 2 * self.bound
        self.pacer = _Pacer(self.bound, clock)
        self.changed = threading.Condition()
        self.results = {}  # page number → Page, _PAST_THE_END or _Failed
        self.next_number = start  # the next page a thread takes
        self.wanted = start  # the page the caller waits for
        self.last = None  # the last page as far as the answers tell; None until one tells
        self.first_answered = False
        self.stopped = False
        self.threads = []
        self.max_in_flight = 0  # the most requests seen in flight at once (for the benchmark and tests)
        self.ticks = itertools.count(1)

    # -- the caller's side ---------------------------------------------------------------------------------------

    def __iter__(self):
        self._start_threads()
        try:
            while True:
                with self.changed:
                    while self.wanted not in self.results:
                        self.changed.wait()
                    result = self.results.pop(self.wanted)
                    self.wanted += 1
                    self.changed.notify_all()  # the window moved on
                if result is _PAST_THE_END:
                    return
                if isinstance(result, _Failed):
                    raise result.error
                last = is_last_page(result)  # before the caller sees it: it may renumber the page
                yield result
                if last:
                    return
        finally:
            self.close()

    def close(self):
        with self.changed:
            self.stopped = True
            self.changed.notify_all()
        for thread in self.threads:
            thread.join()
        self.threads = []

    def __enter__(self):
        return self

    def __exit__(self, *exc):
        self.close()

    # -- the fetching threads ------------------------------------------------------------------------------------

    def _start_threads(self):
        for index in range(self.bound):
            thread = threading.Thread(target=self._fetch_pages, name=f"woo-pages-{index}", daemon=True)
            self.threads.append(thread)
            thread.start()

    def _take(self):
        """(the next page number to fetch, the pacer's round) with a request slot taken; None when there is none."""
        with self.changed:
            while True:
                if self.stopped:
                    return None
                number = self.next_number
                if self.last is not None and number > self.last and self.first_answered:
                    return None
                # The first page alone until it answers: its X-WP-TotalPages says how many more to ask for.
                ready = number < self.wanted + self.window and (number == self.start or self.first_answered)
                if ready and self.pacer.may_send():
                    self.next_number += 1
                    return number, self._send()
                self.changed.wait((self.pacer.wait_time() if ready else 0.0) or None)

    def _send(self):
        """Take a request slot (the lock held); returns the pacer's round."""
        self.pacer.in_flight += 1
        self.max_in_flight = max(self.max_in_flight, self.pacer.in_flight)
        return self.pacer.round

    def _slot(self):
        """Wait for a request slot to ask for a page again; None when stopped meanwhile."""
        with self.changed:
            while not self.pacer.may_send():
                if self.stopped:
                    return None
                self.changed.wait(self.pacer.wait_time() or None)
            return self._send()

    def _fetch_pages(self):
        while (taken := self._take()) is not None:
            number, sent_in_round = taken
            result = self._fetch(number, sent_in_round)
            with self.changed:
                self.results[number] = result
                if number == self.start:
                    self.first_answered = True
                if result is _PAST_THE_END:
                    self._ends_at(number - 1)
                elif isinstance(result, _Failed) or is_last_page(result):
                    self._ends_at(number)
                elif result.total_pages is not None:
                    # Orders created meanwhile land on later pages (ordered by id): follow the latest count.
                    self.last = max(result.total_pages, self.last or 0)
                self.changed.notify_all()

    def _ends_at(self, number):
        # No page after one that ends the listing (or fails) is asked for; those already asked for are dropped by
        # the caller, who stops there.
        if self.last is None or number < self.last:
            self.last = number

    def _done(self, outcome, *args):
        with self.changed:
            outcome(*args)
            self.changed.notify_all()
            return self.pacer.limit

    def _fetch(self, number, sent_in_round):
        """Page `number` after its retries: a Page, _PAST_THE_END, or _Failed. Called with a request slot taken."""
        failures = throttled = 0
        while True:
            with self.changed:
                asked = next(self.ticks)
            try:
                page = self.client.order_page(self.params, number, retries=0)
            except WooRetryableError as exc:
                exc.page = number
                if exc.status in RETRY_AFTER_STATUSES:
                    retry_after = getattr(exc, "retry_after", None)
                    pause = min(retry_after if retry_after is not None else self.client.retry_delay(throttled, exc),
                                MAX_PAUSE_SECONDS)
                    limit = self._done(self.pacer.throttled, sent_in_round, pause)
                    throttled += 1
                    if throttled > self.throttle_retries:
                        return _Failed(exc)
                    logger.warning("WooCommerce %s: page %d: %s; %d request(s) at once from now, asked again in "
                                   "%.1f s (%d/%d)", self.client.host, number, exc.message, limit, pause, throttled,
                                   self.throttle_retries)
                else:
                    self._done(self.pacer.failed)
                    if failures >= self.client.max_retries:
                        return _Failed(exc)
                    delay = self.client.retry_delay(failures, exc)
                    failures += 1
                    logger.warning("WooCommerce %s: page %d: %s; retry %d/%d in %.1f s", self.client.host, number,
                                   exc.message, failures, self.client.max_retries, delay)
                    if self._sleep(delay):
                        return _Failed(exc)
                sent_in_round = self._slot()
                if sent_in_round is None:
                    return _Failed(exc)
                continue
            except Exception as exc:  # a refusal (4xx), or a bug: the caller raises it when it reaches this page
                exc.page = number
                self._done(self.pacer.failed)
                return _Failed(exc)
            with self.changed:
                if page is not None:
                    page.asked, page.answered = asked, next(self.ticks)
                self.pacer.answered()
                self.changed.notify_all()
            return _PAST_THE_END if page is None else page

    def _sleep(self, seconds):
        """Wait `seconds` unless stopped meanwhile; True when stopped."""
        deadline = time.monotonic() + seconds
        with self.changed:
            while not self.stopped:
                left = deadline - time.monotonic()
                if left <= 0:
                    return False
                self.changed.wait(left)
            return True


def fetch_order_pages(client, params, *, concurrency=DEFAULT_CONCURRENCY, start=1):
    """Pages of orders from page `start` on, in order, fetched up to `concurrency` at a time (see OrderPages)."""
    return iter(OrderPages(client, params, concurrency=concurrency, start=start))
