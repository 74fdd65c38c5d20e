"""Issue 15, scenario 2 in its short form: workers killed with kill -9 while orders are submitted, reserved and
invoiced, on the real parts (bench/faults/workers_die.py; the full size is run by hand, bench/README.md)."""

import json
import os
import subprocess
import sys
from pathlib import Path

import pytest

ROOT = Path(__file__).resolve().parent.parent.parent

pytestmark = [pytest.mark.postgres, pytest.mark.redis]


def test_killed_workers_lose_nothing_and_do_nothing_twice(tmp_path):
    # Given 100 in-app and 50 dropship orders arriving through gunicorn, bulk-submitted, reserved and invoiced by
    # two qclusters of two workers, a worker or a whole cluster killed every 3 s (at least 5 times) and gunicorn once
    figures_file = tmp_path / "figures.json"
    command = [sys.executable, str(ROOT / "bench" / "faults" / "workers_die.py"), "--orders", "100",
               "--kill-every", "3", "--kills", "5", "--catch-up", "60", "--sweep-every", "4", "--lost-after", "20",
               "--database", "faults_workers_ci", "--redis", os.environ["REDIS_URL"], "--figures", str(figures_file)]

    # When the scenario runs to the end
    run = subprocess.run(command, cwd=ROOT, capture_output=True, text=True, timeout=240)

    # Then it passed, and what it reports is what must hold: every job done once, no number twice or missing
    assert run.returncode == 0, run.stdout[-4000:] + run.stderr[-2000:]
    report = json.loads(figures_file.read_text())
    figures = report["figures"]
    assert report["problems"] == []
    assert figures["kills_total"] >= 5 and figures["kills"]["web server"] == 1
    assert figures["catch_up_s"] is not None
    for name in ("provider_doubles", "orders_with_two_submissions", "supplier_doubles", "over_reserved",
                 "under_reserved", "placed_items_differ", "gaps", "duplicates", "invoices_not_one",
                 "moneybird_doubles", "shop_numbers_missing"):
        assert figures[name] == 0, name
    assert figures["invoice_max"] > 100  # the in-app orders and the paid dropship ones
