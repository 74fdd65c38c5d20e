"""Running the same work in several threads at once, as several workers would (PostgreSQL tests only)."""

import threading

from django.db import connection


def in_threads(count, work, *, timeout=120):
    """Run work(index) in `count` threads, each with its own database connection, released together."""
    barrier = threading.Barrier(count)
    outcomes, errors = [None] * count, []

    def run(index):
        try:
            barrier.wait(timeout=30)
            outcomes[index] = work(index)
        except Exception as exc:  # noqa: BLE001 - reported by the test
            errors.append(repr(exc))
        finally:
            connection.close()

    threads = [threading.Thread(target=run, args=(i,)) for i in range(count)]
    for thread in threads:
        thread.start()
    for thread in threads:
        thread.join(timeout=timeout)
    assert not any(t.is_alive() for t in threads)
    assert errors == []
    return outcomes
