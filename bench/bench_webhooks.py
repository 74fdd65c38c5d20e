#!/usr/bin/env python
"""Benchmark: signed WooCommerce order.updated deliveries against a web server + PostgreSQL + Redis.

    .venv/bin/python bench/bench_webhooks.py [--deliveries 5000] [--concurrency 16] [--close]
        [--configs sync:3,gthread:2:8,uvicorn:2,granian-wsgi:2,granian-asgi:2] [--port N]
        [--database bench_backoffice] [--redis-db 13]

For each server configuration it starts the server on 127.0.0.1 (DEBUG off, SECRET_KEY set, REDIS_URL =
redis://127.0.0.1:6379/<--redis-db> so that django-q2's broker is Redis): gunicorn sync or gthread workers
(backoffice.wsgi), uvicorn workers (backoffice.asgi), granian workers on either interface. It warms the workers up
with WooCommerce pings, then a client in another process (threads on plain sockets, keep-alive when the server
allows it, unless --close) fires N distinct signed deliveries plus 5 % exact repeats at a fixed concurrency. It
prints deliveries/s, p50/p99 latency, the CPU per delivery of the server, PostgreSQL and Redis, the load average,
and proves every distinct delivery was stored and queued exactly once (repeats acknowledged, not stored or queued
again). No qcluster runs: deliveries are applied later. Only the database --database (recreated at start: its name
must start with bench_ or bo_) and the Redis db --redis-db (flushed before each round and at the end) are used. See
bench/README.md.
"""

import argparse
import base64
import hashlib
import hmac
import http.client
import json
import multiprocessing
import os
import random
import signal
import socket
import subprocess
import sys
import threading
import time
from pathlib import Path

sys.path.insert(0, str(Path(__file__).resolve().parent))

import _support  # noqa: E402  (puts the project root on sys.path)

REDIS_DB = 13  # the default; --redis-db another
SECRET = "bench_webhook_secret_0123456789"
SLUG = "bench"
TARGET_PER_SECOND = 500
TARGET_P99_MS = 50
QUEUE_KEY = "django_q:backoffice:q"  # django-q2's Redis list for the cluster named in settings.Q_CLUSTER


# -- deliveries ---------------------------------------------------------------------------------------------------

def sign(body):
    return base64.b64encode(hmac.new(SECRET.encode(), body, hashlib.sha256).digest()).decode()


def build_deliveries(count, repeat_share, seed, first_id):
    """(headers, body) for `count` distinct order.updated deliveries, then exact repeats spliced in later on."""
    rng = random.Random(seed)
    distinct = []
    for payload in _support.realistic_orders(count, seed=seed, first_id=first_id):
        body = json.dumps(payload, separators=(",", ":")).encode()
        headers = {
            "User-Agent": "WooCommerce/9.9.5 Hookshot (WordPress/6.9)",
            "Accept": "*/*",
            "Content-Type": "application/json",
            "X-WC-Webhook-Source": "http://shop.example.com/",
            "X-WC-Webhook-Topic": "order.updated",
            "X-WC-Webhook-Resource": "order",
            "X-WC-Webhook-Event": "updated",
            "X-WC-Webhook-Signature": sign(body),
            "X-WC-Webhook-ID": "7",
            "X-WC-Webhook-Delivery-ID": hashlib.md5(body).hexdigest(),
        }
        distinct.append((headers, body))
    sequence = list(range(count))
    # A repeat goes some way after its original (WooCommerce retries later), so most are answered "duplicate"
    # after the original was stored; a few may still race it, which must also store it only once.
    for original in sorted(rng.sample(range(count), round(count * repeat_share)), reverse=True):
        position = min(len(sequence), sequence.index(original) + 1 + rng.randrange(20, 400))
        sequence.insert(position, original)
    return distinct, sequence


# -- the client, in its own process ---------------------------------------------------------------------------------

def fire(port, distinct, sequence, concurrency, timeout, deadline, conn, close=False):
    """Child process: `concurrency` threads send the deliveries in order; report (latency, status, answer) each.

    Requests are prepared as bytes beforehand and answers parsed minimally (plain sockets, HTTP/1.1, keep-alive
    unless the server answers `Connection: close`, or `close` asks for a new connection per delivery as WooCommerce
    does): the client shares the machine's CPUs with the server, PostgreSQL and Redis, so it should take as little
    of them as it can.
    """
    path = f"/webhooks/woocommerce/{SLUG}/"
    prepared = []
    for headers, body in distinct:
        head = [f"POST {path} HTTP/1.1", f"Host: 127.0.0.1:{port}", *(f"{k}: {v}" for k, v in headers.items()),
                f"Content-Length: {len(body)}", *(["Connection: close"] if close else [])]
        prepared.append(("\r\n".join(head) + "\r\n\r\n").encode() + body)
    results = [None] * len(sequence)
    cursor = iter(range(len(sequence)))
    lock = threading.Lock()
    stop_at = time.monotonic() + deadline

    def exchange(sock, payload):
        sock.sendall(payload)
        data = b""
        while b"\r\n\r\n" not in data:
            chunk = sock.recv(65536)
            if not chunk:
                raise ConnectionError("closed before an answer" if not data else "closed in the headers")
            data += chunk
        head, _, rest = data.partition(b"\r\n\r\n")
        lines = head.decode("latin-1").split("\r\n")
        status = int(lines[0].split()[1])
        fields = {k.strip().lower(): v.strip() for k, _, v in (line.partition(":") for line in lines[1:])}
        length = int(fields.get("content-length", "0"))
        while len(rest) < length:
            chunk = sock.recv(65536)
            if not chunk:
                raise ConnectionError("closed in the body")
            rest += chunk
        return status, rest[:length], fields.get("connection", "").lower() == "close"

    def connect():
        sock = socket.create_connection(("127.0.0.1", port), timeout=timeout)
        sock.setsockopt(socket.IPPROTO_TCP, socket.TCP_NODELAY, 1)
        return sock

    def worker():
        sock, reused = None, False
        while time.monotonic() < stop_at:
            with lock:
                index = next(cursor, None)
            if index is None:
                break
            payload = prepared[sequence[index]]
            started = time.perf_counter()
            for attempt in (1, 2):
                try:
                    if sock is None:
                        sock, reused = connect(), False
                    status, answer, close = exchange(sock, payload)
                    if close:
                        sock.close()
                        sock = None
                    else:
                        reused = True
                    break
                except (OSError, ValueError, IndexError) as exc:
                    if sock is not None:
                        sock.close()
                        sock = None
                    # A kept-alive connection the server closed meanwhile: send again on a new one, once.
                    if attempt == 1 and reused and isinstance(exc, ConnectionError) and "before" in str(exc):
                        continue
                    status, answer = 0, f"{type(exc).__name__}: {exc}".encode()
                    break
            results[index] = (time.perf_counter() - started, status, answer[:100].decode(errors="replace"))
        if sock is not None:
            sock.close()

    threads = [threading.Thread(target=worker) for _ in range(concurrency)]
    cpu = time.process_time()
    started = time.perf_counter()
    for thread in threads:
        thread.start()
    for thread in threads:
        thread.join()
    conn.send({"wall": time.perf_counter() - started, "results": results, "cpu": time.process_time() - cpu})
    conn.close()


def ping(port, count):
    """WooCommerce's ping (form body, no signature): warms each worker up (imports, DB connection)."""
    for _ in range(count):
        connection = http.client.HTTPConnection("127.0.0.1", port, timeout=10)
        connection.request("POST", f"/webhooks/woocommerce/{SLUG}/", body=b"webhook_id=7",
                           headers={"Content-Type": "application/x-www-form-urlencoded"})
        response = connection.getresponse()
        response.read()
        connection.close()
        if response.status != 200:
            raise SystemExit(f"warm-up ping answered {response.status}")


# -- the servers ----------------------------------------------------------------------------------------------------

SERVERS = "sync:N, gthread:W:T (or WxT), uvicorn:N, granian-wsgi:N[:T], granian-asgi:N"


def parse_config(text):
    """A server set-up: "sync:4" → gunicorn, 4 sync workers; "gthread:2:8" (or "2x8") → 2 workers × 8 threads;
    "uvicorn:2" → 2 uvicorn workers on backoffice.asgi; "granian-wsgi:2[:T]" → 2 granian workers on backoffice.wsgi
    with T blocking threads each (default 4); "granian-asgi:2" → 2 granian workers on backoffice.asgi."""
    kind, _, size = text.partition(":")
    numbers = [int(n) for n in size.replace("x", ":").split(":") if n]
    try:
        if kind == "sync" and len(numbers) == 1:
            return {"label": text, "server": "gunicorn",
                    "args": ["--worker-class", "sync", "--workers", str(numbers[0])]}
        if kind == "gthread" and len(numbers) == 2:
            return {"label": text, "server": "gunicorn", "args": ["--worker-class", "gthread", "--workers",
                                                                  str(numbers[0]), "--threads", str(numbers[1])]}
        if kind == "uvicorn" and len(numbers) == 1:
            return {"label": text, "server": "uvicorn", "args": ["--workers", str(numbers[0])]}
        if kind == "granian-wsgi" and len(numbers) in (1, 2):
            threads = numbers[1] if len(numbers) == 2 else 4
            return {"label": text, "server": "granian", "args": [
                "--interface", "wsgi", "--workers", str(numbers[0]), "--blocking-threads", str(threads)]}
        if kind == "granian-asgi" and len(numbers) == 1:
            # asginl: Django has no ASGI lifespan handler (granian would log that it errored, at each start)
            return {"label": text, "server": "granian",
                    "args": ["--interface", "asginl", "--workers", str(numbers[0])]}
    except ValueError:
        pass
    raise SystemExit(f"unknown configuration {text!r}: use {SERVERS}")


def server_command(config, port):
    if config["server"] == "gunicorn":
        return [sys.executable, "-m", "gunicorn", "backoffice.wsgi:application", "--bind", f"127.0.0.1:{port}",
                *config["args"], "--log-level", "warning", "--backlog", "2048", "--timeout", "60"]
    if config["server"] == "uvicorn":
        return [sys.executable, "-m", "uvicorn", "backoffice.asgi:application", "--host", "127.0.0.1", "--port",
                str(port), *config["args"], "--log-level", "warning", "--no-access-log",
                "--backlog", "2048"]
    target = "backoffice.wsgi:application" if "wsgi" in config["args"] else "backoffice.asgi:application"
    return [sys.executable, "-m", "granian", target, "--host", "127.0.0.1", "--port", str(port), "--http", "1",
            "--no-ws", *config["args"], "--log-level", "warning", "--no-access-log",
            "--backlog", "2048"]


def start_server(config, port, env, log=None):
    """The server of `config` listening on 127.0.0.1:port, in a session of its own (stopped with its workers); its
    output (the server's and the app's log) goes to `log` when given."""
    if asgi(config):
        # Django under ASGI runs each request's sync code in a thread of its own: a persistent connection would be
        # left behind with every request's thread (PostgreSQL's "too many clients" within a second). Django's
        # advice for ASGI: no persistent connections (CONN_MAX_AGE 0), so each request connects.
        env = {**env, "DB_CONN_MAX_AGE": "0"}
    process = subprocess.Popen(server_command(config, port), cwd=_support.ROOT, env=env,
                               start_new_session=True, stdout=log,
                               stderr=subprocess.STDOUT if log is not None else None)
    for _ in range(400):
        if process.poll() is not None:
            raise SystemExit(f"{config['server']} exited with {process.returncode}")
        try:
            socket.create_connection(("127.0.0.1", port), timeout=0.2).close()
            return process
        except OSError:
            time.sleep(0.05)
    stop_server(process)
    raise SystemExit(f"{config['server']} did not start listening")


def start_gunicorn(config, port, env, log=None):
    """gunicorn as the fault scenarios start it (bench/faults): `config` from parse_config."""
    return start_server(config, port, env, log=log)


def asgi(config):
    return config["server"] == "uvicorn" or "asginl" in config["args"]


def stop_server(process):
    if process.poll() is None:
        os.killpg(process.pid, signal.SIGTERM)  # its own session: the server and its workers, nothing else
        try:
            process.wait(timeout=20)
        except subprocess.TimeoutExpired:
            os.killpg(process.pid, signal.SIGKILL)
            process.wait()


stop_gunicorn = stop_server


def server_cpu(process):
    """CPU seconds of the server and all its workers so far (from /proc; 0 where unavailable)."""
    return tree_cpu(process.pid)


gunicorn_cpu = server_cpu


def tree_cpu(pid):
    """CPU seconds of a process and its descendants, living or reaped."""
    ticks = os.sysconf("SC_CLK_TCK")
    try:
        fields = Path(f"/proc/{pid}/stat").read_text().rpartition(")")[2].split()
        total = sum(int(fields[i]) for i in (11, 12, 13, 14)) / ticks  # utime, stime; cutime, cstime (reaped)
    except (OSError, IndexError, ValueError):
        return 0.0
    return total + sum(tree_cpu(child) for child in children(pid))


def redis_cpu(redis):
    info = redis.info("cpu")
    return float(info.get("used_cpu_user", 0)) + float(info.get("used_cpu_sys", 0))


def children(pid):
    try:
        return [int(p) for p in Path(f"/proc/{pid}/task/{pid}/children").read_text().split()]
    except OSError:
        return []


# -- one round ------------------------------------------------------------------------------------------------------

def run_round(config, args, env, redis, round_index):
    from django.db import connection

    from fulfillment.models import Store, WebhookDelivery

    WebhookDelivery.objects.all().delete()
    redis.flushdb()
    Store.objects.filter(slug=SLUG).update(last_webhook_at=None)
    distinct, sequence = build_deliveries(args.deliveries, args.repeats, seed=args.seed + round_index,
                                          first_id=1_000_000 * (round_index + 1))
    repeats = len(sequence) - len(distinct)

    process = start_server(config, args.port, env)
    try:
        ping(args.port, args.warmup)
        load = os.getloadavg()[0]
        # Under ASGI each request connects anew and its backend ends with it: only the whole PostgreSQL server's CPU
        # (ended backends included, other databases' work too) counts those.
        whole_server = asgi(config)
        pg_total = _support.postgres_server_cpu if whole_server else None
        cpu0, redis0 = server_cpu(process), redis_cpu(redis)
        pg0 = pg_total() if whole_server else _support.postgres_cpu()
        context = multiprocessing.get_context("spawn")
        ours, theirs = context.Pipe(duplex=False)
        client = context.Process(target=fire, args=(args.port, distinct, sequence, args.concurrency, 10.0,
                                                    args.deadline, theirs, args.close))
        client.start()
        theirs.close()
        report = ours.recv()
        client.join()
        server_used = server_cpu(process) - cpu0
        pg_cpu = pg_total() - pg0 if whole_server else _support.postgres_cpu_since(pg0)
        redis_used = redis_cpu(redis) - redis0
    finally:
        stop_server(process)

    results = report["results"]
    sent = [r for r in results if r is not None]
    by_status = {}
    for _, status, _ in sent:
        by_status[status] = by_status.get(status, 0) + 1
    answers = {}
    for _, status, answer in sent:
        if status == 200:
            answers[answer] = answers.get(answer, 0) + 1
    latencies = sorted(r[0] * 1000 for r in sent)
    accepted = by_status.get(200, 0)
    rate = accepted / report["wall"] if report["wall"] else 0.0
    p50, p99 = _support.percentile(latencies, 0.50), _support.percentile(latencies, 0.99)

    with connection.cursor() as cursor:
        cursor.execute("SELECT count(*), count(DISTINCT body_sha256), coalesce(sum(repeats), 0) "
                       "FROM fulfillment_webhookdelivery")
        rows, distinct_rows, repeats_counted = cursor.fetchone()
    stored_hashes = set(WebhookDelivery.objects.values_list("body_sha256", flat=True))
    sent_hashes = {hashlib.sha256(body).hexdigest() for _, body in distinct}
    queued = redis.llen(QUEUE_KEY)
    exactly_once = (rows == distinct_rows == len(distinct) and stored_hashes == sent_hashes
                    and repeats_counted == repeats and queued == len(distinct)
                    and answers.get("stored", 0) == len(distinct) and answers.get("duplicate", 0) == repeats)

    print(f"\n== {config['server']} {config['label']} · concurrency {args.concurrency}"
          f"{' · a connection per delivery' if args.close else ''} ==")
    print(f"  sent              : {len(sent):,} requests ({len(distinct):,} distinct + {repeats:,} exact repeats) "
          f"in {report['wall']:.2f} s; answers {dict(sorted(by_status.items()))}, {answers}")
    print(f"  accepted          : {rate:,.0f} deliveries/s   (target ≥ {TARGET_PER_SECOND}: "
          f"{'met' if rate >= TARGET_PER_SECOND else 'NOT MET'})")
    print(f"  latency           : p50 {p50:.1f} ms, p90 {_support.percentile(latencies, 0.90):.1f} ms, "
          f"p99 {p99:.1f} ms, max {latencies[-1] if latencies else float('nan'):.1f} ms   "
          f"(target p99 < {TARGET_P99_MS} ms: {'met' if p99 < TARGET_P99_MS else 'NOT MET'})")
    print(f"  stored            : {rows:,} rows, {distinct_rows:,} distinct bodies, repeats counted {repeats_counted:,}"
          f", queued in Redis {queued:,}; sent {len(distinct):,} distinct + {repeats:,} repeats → "
          f"{'each distinct delivery stored and queued exactly once' if exactly_once else 'MISMATCH'}")
    per = 1000 / max(len(sent), 1)
    server_ms, pg_ms, redis_ms = server_used * per, pg_cpu * per, redis_used * per
    total_ms = server_ms + pg_ms + redis_ms + report["cpu"] * per
    ceiling = os.cpu_count() * 1000 / (total_ms - report["cpu"] * per)
    print(f"  CPU a request     : {config['server']} {server_ms:.2f} ms + PostgreSQL"
          f"{' (whole server)' if whole_server else ''} {pg_ms:.2f} ms + Redis "
          f"{redis_ms:.2f} ms + client {report['cpu'] * per:.2f} ms = {total_ms:.2f} ms → "
          f"≈ {ceiling:,.0f}/s if these {os.cpu_count()} CPUs did nothing but the server, PostgreSQL and Redis; "
          f"load average {load:.2f} before the round, {os.getloadavg()[0]:.2f} after")
    redis.flushdb()
    return {"config": config["label"], "rate": rate, "p50": p50, "p99": p99, "server_ms": server_ms, "pg_ms": pg_ms,
            "redis_ms": redis_ms, "ceiling": ceiling, "load": load,
            "ok": exactly_once and by_status.get(200, 0) == len(sent) == len(sequence)}


def main():
    parser = argparse.ArgumentParser(description=__doc__.split("\n\n")[0])
    parser.add_argument("--deliveries", type=int, default=5000, help="distinct deliveries (default 5000)")
    parser.add_argument("--repeats", type=float, default=0.05, help="share of exact repeats (default 0.05)")
    parser.add_argument("--concurrency", type=int, default=16)
    parser.add_argument("--configs", default="sync:3,gthread:2:8,uvicorn:2,granian-wsgi:2,granian-asgi:2",
                        help=f"server set-ups to try, comma-separated: {SERVERS}")
    parser.add_argument("--close", action="store_true",
                        help="a new connection per delivery (Connection: close), as WooCommerce sends them")
    parser.add_argument("--database", default=_support.BENCH_DB,
                        help=f"PostgreSQL database, dropped and recreated (default {_support.BENCH_DB}; "
                             "its name must start with bench_ or bo_)")
    parser.add_argument("--redis-db", type=int, default=REDIS_DB, help=f"Redis db, flushed (default {REDIS_DB})")
    parser.add_argument("--port", type=int, default=0, help="the server's port on 127.0.0.1 (default: a free one)")
    parser.add_argument("--warmup", type=int, default=100, help="pings before measuring (default 100)")
    parser.add_argument("--deadline", type=float, default=300, help="stop a round after this many seconds")
    parser.add_argument("--seed", type=int, default=2027)
    args = parser.parse_args()
    configs = [parse_config(c.strip()) for c in args.configs.split(",") if c.strip()]
    if not args.database.startswith(("bench_", "bo_")):
        raise SystemExit(f"refusing to drop {args.database!r}: name a database starting with bench_ or bo_")
    _support.BENCH_DB = args.database
    _support.DATABASE_URL = database_url = (f"postgres://{_support.PG_USER}@{_support.PG_HOST}:{_support.PG_PORT}/"
                                            f"{args.database}")
    redis_url = f"redis://127.0.0.1:6379/{args.redis_db}"
    if not args.port:
        with socket.socket() as probe:
            probe.bind(("127.0.0.1", 0))
            args.port = probe.getsockname()[1]

    env = {**os.environ, "DATABASE_URL": database_url, "REDIS_URL": redis_url,
           "DJANGO_SETTINGS_MODULE": "backoffice.settings", "DEBUG": "0", "LOG_LEVEL": "WARNING",
           "SECRET_KEY": "bench-" + base64.b64encode(os.urandom(30)).decode(),
           "ALLOWED_HOSTS": "127.0.0.1,localhost", "PYTHONUNBUFFERED": "1"}
    os.environ.update({k: env[k] for k in ("DATABASE_URL", "REDIS_URL", "DJANGO_SETTINGS_MODULE", "DEBUG",
                                           "LOG_LEVEL", "SECRET_KEY", "ALLOWED_HOSTS")})
    print(f"bench_webhooks: {args.deliveries:,} distinct deliveries + {args.repeats:.0%} repeats, concurrency "
          f"{args.concurrency}{', a connection per delivery' if args.close else ''}, PostgreSQL database "
          f"{args.database} (recreated), Redis {redis_url}; "
          f"{os.cpu_count()} CPUs, load average {os.getloadavg()[0]:.2f}")
    _support.reset_database()

    import django
    import redis as redis_module

    django.setup()
    from fulfillment.models import Store

    Store.objects.create(slug=SLUG, name="Bench shop", base_url="http://shop.example.com", consumer_key="ck_bench",
                         consumer_secret="cs_bench", webhook_secret=SECRET)
    redis = redis_module.Redis.from_url(redis_url)
    outcomes = []
    try:
        for index, config in enumerate(configs):
            outcomes.append(run_round(config, args, env, redis, index))
    finally:
        redis.flushdb()
        from django.db import connections

        connections.close_all()

    print("\n== summary (best first) ==")
    outcomes.sort(key=lambda o: (not o["ok"], o["p99"] >= TARGET_P99_MS, -o["rate"]))
    for o in outcomes:
        print(f"  {o['config']:<16} {o['rate']:7,.0f} deliveries/s  p50 {o['p50']:6.1f} ms  p99 {o['p99']:6.1f} ms  "
              f"CPU per delivery: server {o['server_ms']:.2f} ms, PostgreSQL {o['pg_ms']:.2f}, Redis "
              f"{o['redis_ms']:.2f} (≈ {o['ceiling']:,.0f}/s on {os.cpu_count()} CPUs)  load {o['load']:.2f}  "
              f"{'exactly once' if o['ok'] else 'PROBLEM'}")
    print(f"  Redis db {args.redis_db} flushed.")
    return 0 if outcomes and all(o["ok"] for o in outcomes) else 1


if __name__ == "__main__":
    sys.exit(main())
