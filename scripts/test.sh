#!/usr/bin/env bash
# The whole test suite. With DATABASE_URL/REDIS_URL set it runs on PostgreSQL + Redis, else on SQLite.
# TEST_WORKERS (default 2, the machine's cores) runs it in parallel with pytest-xdist; 0 runs it in one process.
set -euo pipefail
cd "$(dirname "$0")/.."
scripts/install.sh
workers="${TEST_WORKERS:-2}"
if [ "$workers" != "0" ]; then
  exec .venv/bin/python -m pytest -n "$workers" "$@"
fi
exec .venv/bin/python -m pytest "$@"
