"""The real parts of scenario 1 (the shop goes away), started and stopped as processes of their own.

PostgreSQL (a database of the scenario's own, dropped and recreated), Redis (a db of its own, flushed), gunicorn
serving the back-office, `qcluster` processes, and the WooCommerce stand-in with its fault switch and webhook sender
(tests/fakes/woocommerce_faults.py) in a child process. Reuses bench/_support.py, bench_submit.py's qcluster
handling and bench_webhooks.py's gunicorn handling.
"""

import base64
import json
import multiprocessing
import os
import socket
import subprocess
import sys
import tempfile
import time
from pathlib import Path
from urllib.parse import urlsplit

BENCH = Path(__file__).resolve().parent.parent
if str(BENCH) not in sys.path:
    sys.path.insert(0, str(BENCH))

import _support  # noqa: E402  (puts the project root on sys.path)
import bench_submit  # noqa: E402
import bench_webhooks  # noqa: E402
import requests  # noqa: E402

ROOT = _support.ROOT
QUEUE_KEY = bench_submit.QUEUE_KEY


def database_url(name):
    return f"postgres://{_support.PG_USER}@{_support.PG_HOST}:{_support.PG_PORT}/{name}"


def reset_database(name):
    """Drop and recreate the database `name` (the scenario's own, never another), then migrate it."""
    import psycopg

    if not name.startswith(("faults_", "bo_faults")):
        raise SystemExit(f"refusing to drop {name!r}: a fault scenario's database is named faults_…")
    with psycopg.connect(host=_support.PG_HOST, port=_support.PG_PORT, user=_support.PG_USER, dbname="postgres",
                         autocommit=True) as conn:
        conn.execute(f'DROP DATABASE IF EXISTS "{name}" WITH (FORCE)')
        conn.execute(f'CREATE DATABASE "{name}"')
    env = {**os.environ, "DATABASE_URL": database_url(name), "DJANGO_SETTINGS_MODULE": "backoffice.settings"}
    env.pop("REDIS_URL", None)
    subprocess.run([sys.executable, str(ROOT / "manage.py"), "migrate", "--verbosity", "0"], env=env, cwd=ROOT,
                   check=True)


def drop_database(name):
    import psycopg

    with psycopg.connect(host=_support.PG_HOST, port=_support.PG_PORT, user=_support.PG_USER, dbname="postgres",
                         autocommit=True) as conn:
        conn.execute(f'DROP DATABASE IF EXISTS "{name}" WITH (FORCE)')


def free_port():
    with socket.socket() as probe:
        probe.bind(("127.0.0.1", 0))
        return probe.getsockname()[1]


class Shop:
    """The WooCommerce stand-in in a child process, driven over its control routes."""

    def __init__(self, *, consumer_key, consumer_secret, webhook_secret, drop, seed):
        from tests.fakes.woocommerce_faults import serve

        context = multiprocessing.get_context("spawn")
        self.pipe, theirs = context.Pipe()
        self.process = context.Process(target=serve, args=(theirs,), daemon=True, kwargs=dict(
            consumer_key=consumer_key, consumer_secret=consumer_secret, webhook_secret=webhook_secret, drop=drop,
            seed=seed))
        self.process.start()
        self.url = self.pipe.recv()["url"]
        self.http = requests.Session()

    def post(self, name, body):
        answer = self.http.post(f"{self.url}/__control/{name}", data=json.dumps(body),
                                headers={"Content-Type": "application/json"}, timeout=120)
        answer.raise_for_status()
        return answer.json()

    def get(self, name):
        answer = self.http.get(f"{self.url}/__control/{name}", timeout=300)
        answer.raise_for_status()
        return answer.json()

    def cpu(self):
        return bench_submit.tree_cpu(self.process.pid)

    def stop(self):
        if self.process.is_alive():
            self.pipe.send("stop")
            self.process.join(timeout=10)
            if self.process.is_alive():
                self.process.terminate()


class Parts:
    """gunicorn and the qclusters on the scenario's database and Redis db; `env` is what every process gets."""

    def __init__(self, *, database, redis_url, clusters, workers, extra_env):
        self.database, self.redis_url = database, redis_url
        self.env = {**os.environ, "DATABASE_URL": database_url(database), "REDIS_URL": redis_url,
                    "DJANGO_SETTINGS_MODULE": "backoffice.settings", "DEBUG": "0", "LOG_LEVEL": "WARNING",
                    "SECRET_KEY": "faults-" + base64.b64encode(os.urandom(30)).decode(), "Q_WORKERS": str(workers),
                    "PYTHONUNBUFFERED": "1", **extra_env}
        self.cluster_count = clusters
        self.clusters, self.logs, self.gunicorn, self.port = [], [], None, None

    def apply_env_here(self):
        for name in ("DATABASE_URL", "REDIS_URL", "DJANGO_SETTINGS_MODULE", "DEBUG", "LOG_LEVEL", "SECRET_KEY",
                     "WOO_TIMEOUT_SECONDS", "WOO_MAX_RETRIES", "WOO_RETRY_BASE_SECONDS", "PUSH_BACKOFF_FIRST_SECONDS",
                     "PUSH_BACKOFF_MAX_SECONDS", "SYNC_OVERLAP_SECONDS", "WEBHOOK_REQUEUE_MINUTES"):
            if name in self.env:
                os.environ[name] = self.env[name]

    def start_gunicorn(self, log=None):
        """gunicorn (2 workers × 4 threads); its output and the app's log records go to `log` when given."""
        self.port = free_port()
        config = bench_webhooks.parse_config("gthread:2x4")
        self.gunicorn = bench_webhooks.start_gunicorn(config, self.port, self.env, log=log)
        return f"http://127.0.0.1:{self.port}"

    def start_clusters(self, redis):
        for index in range(self.cluster_count):
            log = tempfile.NamedTemporaryFile("w+", prefix=f"faults_qcluster{index}_", suffix=".log", delete=False)
            self.logs.append(log)
            self.clusters.append(bench_submit.start_cluster(self.env, log))
        for _ in range(600):
            dead = [c for c in self.clusters if c.poll() is not None]
            if dead:
                raise SystemExit(f"a qcluster exited with {dead[0].returncode}; see "
                                 f"{self.logs[self.clusters.index(dead[0])].name}")
            if len(redis.keys(bench_submit.STAT_PATTERN)) >= self.cluster_count:
                return
            time.sleep(0.1)
        raise SystemExit("the qclusters did not come up within 60 s")

    def cpu(self):
        """CPU seconds of gunicorn and the qclusters so far."""
        clusters = sum(bench_submit.tree_cpu(c.pid) for c in self.clusters)
        web = bench_webhooks.gunicorn_cpu(self.gunicorn) if self.gunicorn else 0.0
        return {"qclusters": clusters, "gunicorn": web}

    def stop(self):
        notes = [bench_submit.stop_cluster(c, grace=60) for c in self.clusters]
        if self.gunicorn is not None:
            bench_webhooks.stop_gunicorn(self.gunicorn)
        errors = []
        for log in self.logs:
            log.flush()
            log.seek(0)
            lines = [line.rstrip() for line in log if "ERROR" in line or "Traceback" in line]
            log.close()
            if lines:
                errors.append(f"{log.name}: {len(lines)} error lines, e.g. {lines[0][:300]}")
            else:
                os.unlink(log.name)
        return notes, errors


def redis_client(url):
    import redis

    return redis.Redis.from_url(url)


def redis_db_of(url):
    path = urlsplit(url).path.strip("/")
    return int(path or 0)
