#!/usr/bin/env bash
# The whole test suite. With DATABASE_URL/REDIS_URL set it runs on PostgreSQL + Redis, else on SQLite.
set -euo pipefail
cd "$(dirname "$0")/.."
scripts/install.sh
exec .venv/bin/python -m pytest "$@"
