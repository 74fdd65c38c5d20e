"""Fault scenario 1 in its short form: bench/faults/shop_away.py run as it is by hand, smaller, same checks.

The command starts the real parts itself (gunicorn, two qclusters, the WooCommerce stand-in with its fault switch and
webhook sender) on a database of its own on the same PostgreSQL server as the tests and a Redis db of its own
(FAULTS_REDIS_URL, default db 13 of the tests' Redis: flushed), so it never touches the test database.
"""

import os
import subprocess
import sys
from pathlib import Path
from urllib.parse import urlsplit

import pytest

ROOT = Path(__file__).resolve().parents[2]


def _bench_env():
    database, redis = urlsplit(os.environ["DATABASE_URL"]), urlsplit(os.environ["REDIS_URL"])
    env = {**os.environ, "BENCH_PG_HOST": database.hostname or "127.0.0.1", "BENCH_PG_PORT": str(database.port or 5432),
           "BENCH_PG_USER": database.username or "postgres"}
    env.setdefault("FAULTS_REDIS_URL", f"redis://{redis.hostname or '127.0.0.1'}:{redis.port or 6379}/13")
    return env


@pytest.mark.postgres
@pytest.mark.redis
def test_the_shop_goes_away_and_nothing_is_lost_or_sent_twice():
    # 200 orders, the shop failing for 5 s: 30 % of webhooks lost, the rest twice and shuffled; staff at work.
    run = subprocess.run([sys.executable, "bench/faults/shop_away.py", "--orders", "200", "--outage", "5",
                          "--database", "faults_shop_ci", "--deadline", "120"],
                         cwd=ROOT, env=_bench_env(), capture_output=True, text=True, timeout=300)
    report = run.stdout + run.stderr
    assert run.returncode == 0, report
    figures = {name.strip(): value.strip() for name, _, value in (
        line.partition(": ") for line in run.stdout.splitlines() if line.startswith("  ") and ": " in line)}
    assert figures["orders differing"].startswith("0 of 200"), report
    assert figures["doubles found"].startswith("notes 0, refunds 0, tracking items 0"), report
    assert figures["missing in shop"] == "notes 0, refunds 0, tracking items 0", report
    assert "dropped" in figures["webhooks"] and "unreachable 0" in figures["webhooks"], report
    assert "every check passed" in figures["verdict"], report
