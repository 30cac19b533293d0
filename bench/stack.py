"""The production-like stack the bench loads, on 127.0.0.1 only, and its teardown.

gunicorn (DEBUG off, 2 sync workers, persistent DB connections) + a Celery
worker, on a dedicated PostgreSQL database (dropped, recreated, migrated) and a
dedicated Redis database number (flushed). The providers' sandboxes (the Blockpass
pulls and CorePass connector calls that deliveries trigger) run in a separate
gunicorn on another port, so the two measured workers serve only what a figure
names. Every process is started in its own session so `stop()` can end its whole
group, on success, failure or Ctrl-C.
"""

from __future__ import annotations

import os
import signal
import socket
import subprocess
import sys
import time
from collections.abc import Mapping, Sequence
from dataclasses import dataclass, field
from pathlib import Path
from urllib.parse import urlsplit, urlunsplit

import requests

from bench import cpu

ROOT = Path(__file__).resolve().parents[1]
OUT_DIR = ROOT / "var" / "bench"
PY = sys.executable
HOST = "127.0.0.1"  # the bench never sends traffic anywhere else

DEFAULT_DB = "postgres://postgres@127.0.0.1:5432/portal"
DEFAULT_REDIS = "redis://127.0.0.1:6379/0"


def bench_database_url(environ: Mapping[str, str]) -> str:
    """BENCH_DATABASE_URL, else DATABASE_URL's server with the database `<name>_bench`."""
    if environ.get("BENCH_DATABASE_URL"):
        return environ["BENCH_DATABASE_URL"]
    parts = urlsplit(environ.get("DATABASE_URL") or DEFAULT_DB)
    name = parts.path.strip("/") or "portal"
    if not name.endswith("_bench"):
        name += "_bench"
    return urlunsplit(parts._replace(path=f"/{name}"))


def bench_redis_url(environ: Mapping[str, str]) -> str:
    """BENCH_REDIS_URL, else REDIS_URL's server with database 15 (flushed by the bench)."""
    if environ.get("BENCH_REDIS_URL"):
        return environ["BENCH_REDIS_URL"]
    parts = urlsplit(environ.get("REDIS_URL") or DEFAULT_REDIS)
    return urlunsplit(parts._replace(path="/15"))


def only_loopback(url: str) -> None:
    host = urlsplit(url).hostname
    if host not in ("127.0.0.1", "localhost", "::1"):
        raise SystemExit(f"bench: {url} is not on this machine; the bench only talks to 127.0.0.1")


def celery_worker_command(*, queues: str, name: str, pool: Sequence[str]) -> list[str]:
    """The argv of one `celery worker` of the portal app, node `name`, taking `queues`.
    A lone node: no mingle or gossip with other workers (nothing to sync, no start delay)."""
    return [
        *(sys.executable, "-m", "celery", "-A", "portal", "worker", "-l", "INFO"),
        *pool,
        *("-Q", queues, "--without-mingle", "--without-gossip", "-n", f"{name}@%h"),
    ]


def free_port() -> int:
    with socket.socket() as s:
        s.bind((HOST, 0))
        return int(s.getsockname()[1])


def stack_env(*, port: int, db_url: str, redis_url: str) -> dict[str, str]:
    from cryptography.fernet import Fernet

    env = dict(os.environ)
    env.update(
        DJANGO_SETTINGS_MODULE="bench.settings",
        PYTHONPATH=str(ROOT),
        DATABASE_URL=db_url,
        REDIS_URL=redis_url,
        CACHE_URL=redis_url,
        CACHE_PREFIX="bench",
        CONN_MAX_AGE="600",
        DEBUG="false",
        # Sandboxes play the vendors (Sunbird issuance, transfer starts) on the same server.
        SANDBOX="true",
        PUBLIC_URL=f"http://{HOST}:{port}",
        ALLOWED_HOSTS="127.0.0.1,localhost",
        SECRET_KEY="bench-secret-key-not-for-production-0123456789abcdef",
        FIELD_ENCRYPTION_KEYS=(
            # A fresh key per run: the bench database is thrown away after every run.
            env.get("BENCH_FIELD_ENCRYPTION_KEYS") or Fernet.generate_key().decode()
        ),
        # Plain http on loopback: cookies without the Secure flag so the admin login works.
        SESSION_COOKIE_SECURE="false",
        CSRF_COOKIE_SECURE="false",
        SECURE_HSTS_SECONDS="0",
        # Every bench request comes from 127.0.0.1: the per-address limit is still
        # counted in Redis on every request, it just never refuses.
        PUBLIC_RATE_LIMIT_PER_MINUTE="1000000000",
        LOG_LEVEL="WARNING",
        CELERY_TASK_ALWAYS_EAGER="false",  # a real worker takes the tasks
        # The outbox part's receiver listens on 127.0.0.1: the operator's explicit opt-in.
        OUTBOUND_ALLOW_NETWORKS="127.0.0.1/32",
    )
    return env


def reset_database(db_url: str) -> None:
    """Drop and recreate the bench database (never any other)."""
    import psycopg

    parts = urlsplit(db_url)
    name = parts.path.strip("/")
    if "bench" not in name:
        raise SystemExit(
            f"bench: refusing to drop {name!r}: the bench database name must contain 'bench'"
        )
    admin_url = urlunsplit(parts._replace(path="/postgres"))
    with psycopg.connect(admin_url, autocommit=True) as conn:
        conn.execute(
            "SELECT pg_terminate_backend(pid) FROM pg_stat_activity WHERE datname = %s AND pid <> pg_backend_pid()",
            [name],
        )
        conn.execute(f'DROP DATABASE IF EXISTS "{name}"')
        conn.execute(f'CREATE DATABASE "{name}"')


def flush_redis(redis_url: str) -> None:
    import redis

    redis.Redis.from_url(redis_url).flushdb()


# What shares the machine's cores with the two measured gunicorn workers (bench table).
CORES_SHARED_WITH = (
    "wrk (2 threads), the Celery worker (2 processes), the sandbox gunicorn "
    "(1 worker, 8 threads), PostgreSQL, Redis and the bench itself"
)


@dataclass
class Stack:
    port: int
    env: dict[str, str]
    procs: dict[str, subprocess.Popen] = field(default_factory=dict)
    logs: dict[str, Path] = field(default_factory=dict)
    sandbox_port: int = 0

    @property
    def base_url(self) -> str:
        return f"http://{HOST}:{self.port}"

    @property
    def sandbox_url(self) -> str:
        """Base URL of the sandbox process (its /sandbox/<provider>/ pages); the measured
        server itself when no separate sandbox was started."""
        return f"http://{HOST}:{self.sandbox_port or self.port}"

    def start_sandbox(self) -> None:
        """The vendors' sandboxes in their own gunicorn: what deliveries trigger (pulls,
        connector questions) is not served by the workers being measured."""
        self.sandbox_port = free_port()
        self._spawn(
            "sandbox",
            [
                PY,
                "-m",
                "gunicorn",
                "portal.wsgi:application",
                "--bind",
                f"{HOST}:{self.sandbox_port}",
                "--workers",
                "1",
                "--worker-class",
                "gthread",
                "--threads",
                "8",
                "--timeout",
                "60",
                "--log-level",
                "warning",
            ],
        )
        deadline = time.time() + 60
        while time.time() < deadline:
            try:
                if requests.get(self.sandbox_url + "/healthz", timeout=2).status_code == 200:
                    return
            except requests.RequestException:
                pass
            if self.procs["sandbox"].poll() is not None:
                raise RuntimeError(f"sandbox gunicorn exited:\n{self.tail('sandbox')}")
            time.sleep(0.25)
        raise RuntimeError(f"sandbox gunicorn did not answer:\n{self.tail('sandbox')}")

    def python(
        self, *args: str, env: Mapping[str, str] | None = None, timeout: float | None = None
    ) -> subprocess.CompletedProcess[str]:
        """`python <args>` in the stack's environment (plus `env`), output captured."""
        return subprocess.run(
            [PY, *args],
            cwd=ROOT,
            env={**self.env, **(env or {})},
            capture_output=True,
            text=True,
            timeout=timeout,
            check=False,
        )

    def manage(self, *args: str) -> None:
        subprocess.run(
            [PY, "manage.py", *args], cwd=ROOT, env=self.env, check=True, stdout=subprocess.DEVNULL
        )

    def _spawn(
        self, name: str, cmd: list[str], env: dict[str, str] | None = None
    ) -> subprocess.Popen:
        OUT_DIR.mkdir(parents=True, exist_ok=True)
        log = OUT_DIR / f"{name}.log"
        self.logs[name] = log
        proc = subprocess.Popen(
            cmd,
            cwd=ROOT,
            env=env or self.env,
            stdout=log.open("w"),
            stderr=subprocess.STDOUT,
            start_new_session=True,  # its own process group, so stop() ends its children too
        )
        self.procs[name] = proc
        if name in cpu.STACK_GROUPS:
            cpu.ROOTS[cpu.STACK_GROUPS[name]] = proc.pid
        return proc

    def start_web(self) -> None:
        self._spawn(
            "gunicorn",
            [
                PY,
                "-m",
                "gunicorn",
                "portal.wsgi:application",
                "--bind",
                f"{HOST}:{self.port}",
                "--workers",
                "2",
                "--worker-class",
                "sync",
                "--backlog",
                "2048",
                "--timeout",
                "60",
                "--log-level",
                "warning",
            ],
        )
        self.wait_http("/healthz", "gunicorn")

    def start_worker(self) -> None:
        proc = self._spawn(
            "celery",
            celery_worker_command(
                queues="celery,webhooks", name=f"bench{os.getpid()}", pool=("--concurrency", "2")
            ),
        )
        deadline = time.time() + 60
        while time.time() < deadline:
            if "ready" in self.logs["celery"].read_text(errors="replace"):
                return
            if proc.poll() is not None:
                raise RuntimeError(f"celery worker died:\n{self.tail('celery')}")
            time.sleep(0.2)
        raise RuntimeError(f"celery worker not ready after 60 s:\n{self.tail('celery')}")

    def wait_http(self, path: str, name: str, timeout: float = 60) -> None:
        deadline = time.time() + timeout
        last = ""
        while time.time() < deadline:
            proc = self.procs.get(name)
            if proc is not None and proc.poll() is not None:
                raise RuntimeError(f"{name} exited with {proc.returncode}:\n{self.tail(name)}")
            try:
                r = requests.get(self.base_url + path, timeout=2)
                if r.status_code == 200:
                    return
                last = f"{r.status_code} {r.text[:200]}"
            except requests.RequestException as exc:
                last = str(exc)
            time.sleep(0.25)
        raise RuntimeError(f"{name} did not answer {path}: {last}\n{self.tail(name)}")

    def tail(self, name: str, chars: int = 3000) -> str:
        log = self.logs.get(name)
        return log.read_text(errors="replace")[-chars:] if log and log.exists() else ""

    def worker_pids(self) -> list[int]:
        """PIDs in the Celery worker's process group (main process and pool children)."""
        proc = self.procs.get("celery")
        if proc is None:
            return []
        pids = []
        for entry in Path("/proc").iterdir():
            if entry.name.isdigit():
                try:
                    if os.getpgid(int(entry.name)) == proc.pid:
                        pids.append(int(entry.name))
                except OSError:
                    continue
        return pids

    def stop(self) -> None:
        """End every process group this stack started: TERM, then KILL after 10 s."""
        for proc in self.procs.values():
            if proc.poll() is None:
                try:
                    os.killpg(proc.pid, signal.SIGTERM)
                except ProcessLookupError:
                    pass
        deadline = time.time() + 10
        for proc in self.procs.values():
            try:
                proc.wait(timeout=max(0.1, deadline - time.time()))
            except subprocess.TimeoutExpired:
                try:
                    os.killpg(proc.pid, signal.SIGKILL)
                except ProcessLookupError:
                    pass
                proc.wait()
        self.procs.clear()
