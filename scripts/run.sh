#!/usr/bin/env bash
# One command on a fresh machine: virtualenv, install, migrate, demo data, a staff login, web server + worker.
#
#   scripts/run.sh          the demo: local stand-ins of every outside system (two WooCommerce shops, Printful,
#                           a Rewix supplier, Moneybird, VIES) on free ports, logs in var/demo/*.log; nothing
#                           leaves the machine. The shops and Printful keep their state in var/demo/ between runs
#                           (rm -rf var/demo db.sqlite3 to start afresh).
#   scripts/run.sh --real   no stand-ins and no demo data: migrate, the staff login, web server and worker; add
#                           your shop with manage.py add_store (README: Connecting a shop).
set -euo pipefail
cd "$(dirname "$0")/.."
REAL=0
case "${1:-}" in
  --real) REAL=1 ;;
  "") ;;
  *) echo "usage: scripts/run.sh [--real]" >&2; exit 2 ;;
esac
scripts/install.sh
export DEBUG="${DEBUG:-1}"
PORT="${PORT:-8000}"
PY=.venv/bin/python
PIDS=()
stop_all() {
  trap - EXIT INT TERM
  [ ${#PIDS[@]} -eq 0 ] && return
  kill "${PIDS[@]}" 2>/dev/null || true
  for _ in $(seq 1 30); do
    alive=0
    for pid in "${PIDS[@]}"; do kill -0 "$pid" 2>/dev/null && alive=1; done
    [ $alive -eq 0 ] && return
    sleep 0.1
  done
  kill -9 "${PIDS[@]}" 2>/dev/null || true
}
trap stop_all EXIT INT TERM

if [ $REAL -eq 1 ]; then
  $PY manage.py migrate --noinput
  $PY manage.py load_demo --login-only
  $PY manage.py qcluster &
  PIDS+=($!)
  echo "Back-office on http://127.0.0.1:$PORT/admin/ (no demo systems). Connect a shop: manage.py add_store --help"
  $PY manage.py runserver "127.0.0.1:$PORT"
  exit
fi

free_port() { $PY -c 'import socket; s = socket.socket(); s.bind(("127.0.0.1", 0)); print(s.getsockname()[1])'; }
DEMO="${DEMO_DIR:-var/demo}"
mkdir -p "$DEMO"
export DEMO_DIR="$DEMO" DEMO_BACKOFFICE_URL="http://127.0.0.1:$PORT"
# Printful's stand-in downloads the renders it is sent from the back-office's signed links, as Printful would.
export BACKOFFICE_PUBLIC_URL="${BACKOFFICE_PUBLIC_URL:-$DEMO_BACKOFFICE_URL}"
SYSTEMS=()

# start NAME PORT COMMAND...: a stand-in in the background, its output in var/demo/NAME.log
start() {
  local name=$1 port=$2
  shift 2
  "$@" --port "$port" > "$DEMO/$name.log" 2>&1 &
  PIDS+=($!)
  for _ in $(seq 1 100); do
    $PY -c "import socket; socket.create_connection(('127.0.0.1', $port), 1)" 2>/dev/null && return
    kill -0 "${PIDS[-1]}" 2>/dev/null || { echo "$name did not start: see $DEMO/$name.log" >&2; exit 1; }
    sleep 0.1
  done
  echo "$name did not answer on port $port: see $DEMO/$name.log" >&2
  exit 1
}

P=$(free_port); start shop-demo-eu "$P" $PY -m tests.fakes.woocommerce --demo --name "Fotoboek & Co (demo shop)" \
  --utc-offset 1 --custom-status awaiting-proof --state "$DEMO/shop-demo-eu.json" --new-order-every 300
export DEMO_SHOP_URL_DEMO_EU="http://127.0.0.1:$P"; SYSTEMS+=("WooCommerce shop demo-eu=$DEMO_SHOP_URL_DEMO_EU")
P=$(free_port); start shop-demo-uk "$P" $PY -m tests.fakes.woocommerce --demo --name "Mugs of London (demo shop)" \
  --utc-offset 0 --custom-status awaiting-proof --state "$DEMO/shop-demo-uk.json" --new-order-every 420
export DEMO_SHOP_URL_DEMO_UK="http://127.0.0.1:$P"; SYSTEMS+=("WooCommerce shop demo-uk=$DEMO_SHOP_URL_DEMO_UK")
export DEMO_PRINTFUL_TOKEN="pf-demo-token-0123456789abcdefghijklmnopqrs"
P=$(free_port); start printful "$P" $PY -m tests.fakes.printful --demo --ship-after "${SHIP_AFTER:-20}" \
  --token "$DEMO_PRINTFUL_TOKEN"
export DEMO_PRINTFUL_URL="http://127.0.0.1:$P"; SYSTEMS+=("Printful (provider)=$DEMO_PRINTFUL_URL")
P=$(free_port); start rewix "$P" $PY -m tests.fakes.rewix --demo
export DEMO_REWIX_URL="http://127.0.0.1:$P" DEMO_REWIX_PASSWORD="Fornitore-2026!"
SYSTEMS+=("Rewix supplier=$DEMO_REWIX_URL")
export DEMO_MONEYBIRD_TOKEN="mb-test-token-84ec207ad0154a508f798e615a998ac1"
P=$(free_port); start moneybird "$P" $PY -m tests.fakes.moneybird --token "$DEMO_MONEYBIRD_TOKEN" --rate-limit 5000 \
  --oss AT:20 --oss IT:22 --oss ES:21
export DEMO_MONEYBIRD_URL="http://127.0.0.1:$P/api/v2"; SYSTEMS+=("Moneybird=$DEMO_MONEYBIRD_URL")
P=$(free_port); start vies "$P" $PY -m tests.fakes.vies
export VIES_URL="http://127.0.0.1:$P"; SYSTEMS+=("VIES=$VIES_URL")
DEMO_SYSTEMS="$(IFS=';'; echo "${SYSTEMS[*]}")"
export DEMO_SYSTEMS

$PY manage.py migrate --noinput
$PY manage.py load_demo
$PY manage.py qcluster > "$DEMO/worker.log" 2>&1 &
PIDS+=($!)
echo "Demo systems (local stand-ins, logs in $DEMO/):"
for system in "${SYSTEMS[@]}"; do echo "  ${system%%=*}: ${system#*=}"; done
echo "Back-office on http://127.0.0.1:$PORT/admin/ (worker log $DEMO/worker.log). Ctrl-C stops them all."
$PY manage.py runserver "127.0.0.1:$PORT"
