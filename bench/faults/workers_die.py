#!/usr/bin/env python
"""Issue 15, scenario 2: workers die while orders are submitted, reserved and invoiced; nothing is done twice.

    .venv/bin/python bench/faults/workers_die.py [--orders 1000] [--clusters 2] [--workers 2] [--kill-every 4]
        [--kills 12] [--catch-up 300] [--sweep-every 10] [--lost-after 60] [--database faults_workers]
        [--redis redis://127.0.0.1:6379/8] [--keep] [--figures FILE]

What runs, what is killed and what is checked: bench/faults/_workers_support.py's docstring. Prints the jobs, the
kills, the doubles and gaps, the time to catch up after the last kill, CPU and the load average; exit status 1 when
a check fails or a job is not finished. Only the database named and the Redis db named are touched (the database is
dropped at the end unless --keep). See bench/README.md, "Faults: workers die".
"""

import argparse
import json
import sys
from pathlib import Path

sys.path.insert(0, str(Path(__file__).resolve().parent))

import _workers_support as scenario  # noqa: E402


def main():
    parser = argparse.ArgumentParser(description=__doc__.split("\n\n")[0])
    parser.add_argument("--orders", type=int, default=1000, help="in-app orders bulk-submitted (default 1,000); "
                                                                  "half as many dropship orders come with them")
    parser.add_argument("--clusters", type=int, default=2)
    parser.add_argument("--workers", type=int, default=2, help="Q_WORKERS of each qcluster (default 2: 4 in all)")
    parser.add_argument("--kill-every", type=float, default=4.0, help="seconds between two kills (default 4)")
    parser.add_argument("--kills", type=int, default=12, help="at least this many kills (default 12)")
    parser.add_argument("--catch-up", type=float, default=300.0,
                        help="give up this many seconds after the last kill (default 300)")
    parser.add_argument("--sweep-every", type=float, default=10.0,
                        help="the sweeps' schedules are made due this often (compressed time; default 10 s)")
    parser.add_argument("--lost-after", type=float, default=60.0,
                        help="seconds after which a dead worker's work counts as lost (compressed time; production: "
                             "5-10 minutes; default 60)")
    parser.add_argument("--database", default="faults_workers")
    parser.add_argument("--redis", default="redis://127.0.0.1:6379/8")
    parser.add_argument("--seed", type=int, default=15)
    parser.add_argument("--keep", action="store_true", help="keep the database at the end")
    parser.add_argument("--figures", metavar="FILE", help="also write the figures and problems to FILE (JSON)")
    args = parser.parse_args()
    result = scenario.run(orders=args.orders, database=args.database, redis_url=args.redis, clusters=args.clusters,
                          workers=args.workers, kill_every=args.kill_every, min_kills=args.kills,
                          catch_up=args.catch_up, sweep_every=args.sweep_every, lost_seconds=args.lost_after, seed=args.seed, keep=args.keep,
                          say=lambda text: print(text, flush=True))
    if args.figures:
        Path(args.figures).write_text(json.dumps({"figures": result.figures, "problems": result.problems}, indent=1))
    return 0 if result.ok else 1


if __name__ == "__main__":
    sys.exit(main())
