#!/usr/bin/env bash
# One command on a fresh machine: virtualenv, install, migrate, demo data, a staff login, web server + worker.
set -euo pipefail
cd "$(dirname "$0")/.."
scripts/install.sh
export DEBUG="${DEBUG:-1}"
PORT="${PORT:-8000}"
free_port() { .venv/bin/python -c 'import socket; s = socket.socket(); s.bind(("127.0.0.1", 0)); print(s.getsockname()[1])'; }

# Local stand-ins for the outside systems the demo needs (built from the fakes the tests use), on free ports.
REWIX_PORT="$(free_port)"
.venv/bin/python -m tests.fakes.rewix --demo --port "$REWIX_PORT" > /tmp/backoffice-demo-rewix.log 2>&1 &
REWIX=$!
trap 'kill $REWIX ${WORKER:-} 2>/dev/null || true' EXIT INT TERM
export DEMO_REWIX_URL="http://127.0.0.1:$REWIX_PORT" DEMO_REWIX_PASSWORD="Fornitore-2026!"
for _ in $(seq 1 50); do
  .venv/bin/python -c "import socket, sys; socket.create_connection(('127.0.0.1', $REWIX_PORT), 1)" 2>/dev/null && break
  sleep 0.1
done

.venv/bin/python manage.py migrate --noinput
.venv/bin/python manage.py load_demo
.venv/bin/python manage.py qcluster &
WORKER=$!
echo "Demo supplier (local Rewix stand-in) on $DEMO_REWIX_URL"
echo "Back-office on http://127.0.0.1:$PORT/admin/ (worker pid $WORKER). Ctrl-C stops them all."
.venv/bin/python manage.py runserver "127.0.0.1:$PORT"
