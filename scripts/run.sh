#!/usr/bin/env bash
# One command on a fresh machine: virtualenv, install, migrate, demo data, a staff login, web server + worker.
set -euo pipefail
cd "$(dirname "$0")/.."
scripts/install.sh
export DEBUG="${DEBUG:-1}"
PORT="${PORT:-8000}"
.venv/bin/python manage.py migrate --noinput
.venv/bin/python manage.py load_demo
.venv/bin/python manage.py qcluster &
WORKER=$!
trap 'kill $WORKER 2>/dev/null || true' EXIT INT TERM
echo "Back-office on http://127.0.0.1:$PORT/admin/ (worker pid $WORKER). Ctrl-C stops both."
.venv/bin/python manage.py runserver "127.0.0.1:$PORT"
