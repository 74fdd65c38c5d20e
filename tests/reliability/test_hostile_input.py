"""Issue 15, scenario 4 in its short form: hostile webhooks, editor-API and admin posts over real HTTP to gunicorn,
a qcluster applying what was stored (bench/faults/hostile_input.py; the full 10,000 are run by hand, bench/README.md).

The command starts its own gunicorn and qcluster on a database of its own on the tests' PostgreSQL server and on the
tests' Redis db (flushed), so it never touches the test database.
"""

import json
import os
import subprocess
import sys
from pathlib import Path
from urllib.parse import urlsplit

import pytest

ROOT = Path(__file__).resolve().parent.parent.parent

pytestmark = [pytest.mark.postgres, pytest.mark.redis]


def test_hostile_input_is_refused_logged_and_never_applied(tmp_path):
    # Given 900 requests of every hostile kind (and a few legitimate deliveries with their replays)
    database = urlsplit(os.environ["DATABASE_URL"])
    env = {**os.environ, "BENCH_PG_HOST": database.hostname or "127.0.0.1",
           "BENCH_PG_PORT": str(database.port or 5432), "BENCH_PG_USER": database.username or "postgres"}
    figures_file = tmp_path / "figures.json"
    command = [sys.executable, str(ROOT / "bench" / "faults" / "hostile_input.py"), "--requests", "900",
               "--database", "faults_hostile_ci", "--redis", os.environ["REDIS_URL"], "--figures", str(figures_file)]

    # When they are sent, several at once
    run = subprocess.run(command, cwd=ROOT, env=env, capture_output=True, text=True, timeout=300)

    # Then none was answered 5xx or left unanswered, none changed anything, and every refusal has its log record
    assert run.returncode == 0, run.stdout[-4000:] + run.stderr[-2000:]
    report = json.loads(figures_file.read_text())
    figures = report["figures"]
    assert report["problems"] == []
    assert figures["requests"] >= 900
    assert figures["server_errors"] == 0 and figures["unanswered"] == 0
    assert (figures["hostile_applied"], figures["orders_changed"], figures["related_changed"],
            figures["projects_changed"]) == (0, 0, {}, False)
    # the legitimate deliveries are applied once each, their replays acknowledged and counted, not applied again
    assert figures["legit_applied"] == figures["legit_orders"] == figures["legit_sent"] > 0
    assert figures["replay_repeats_counted"] == figures["replays"] > 0
    # each 4xx has its record, an abandoned slow body included; each signed hostile delivery failed with a reason
    assert figures["refusal_records"] >= figures["refusals_4xx"] > 500
    assert figures["cluster_not_applied_records"] >= figures["signed_hostile_failed"] > 0
    assert figures["statuses"].get("413", 0) > 0 and figures["log_errors"] == 0
    assert figures["drained"]
