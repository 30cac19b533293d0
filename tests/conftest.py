"""Shared fixtures: merchants, API clients, a real Celery worker, a real browser."""

from __future__ import annotations

import os
import shutil
import signal
import subprocess
import sys
import time
from collections.abc import Iterator
from pathlib import Path
from typing import Any

import pytest
from django.conf import settings
from django.core.cache import cache
from rest_framework.test import APIClient

from tests import factories

ROOT = Path(__file__).resolve().parent.parent


@pytest.fixture(autouse=True)
def _clear_cache() -> Iterator[None]:
    cache.clear()
    yield


@pytest.fixture(scope="session", autouse=True)
def _flush_broker() -> None:
    """Start every run with an empty queue in the test Redis database."""
    import redis

    redis.Redis.from_url(settings.REDIS_URL).flushdb()


@pytest.fixture
def merchant(db: Any) -> Any:
    return factories.MerchantFactory()


@pytest.fixture
def other_merchant(db: Any) -> Any:
    return factories.MerchantFactory()


@pytest.fixture
def api_key(merchant: Any) -> str:
    from kyc import services

    _, raw = services.api_key_create(merchant=merchant, name="test")
    return raw


@pytest.fixture
def api(api_key: str) -> APIClient:
    client = APIClient()
    client.credentials(HTTP_AUTHORIZATION=f"Bearer {api_key}")
    return client


@pytest.fixture
def staff_client(merchant: Any, client: Any) -> Any:
    user = factories.staff_user(merchant)
    client.force_login(user)
    client.user = user
    return client


@pytest.fixture
def public_url(settings: Any, live_server: Any) -> str:
    """Point PUBLIC_URL (callback and page URLs) at the live test server."""
    settings.PUBLIC_URL = live_server.url
    return live_server.url


def _worker_env(extra: dict[str, str] | None = None) -> dict[str, str]:
    from django.db import connection

    db = connection.settings_dict
    env = dict(os.environ)
    env.update(
        DJANGO_SETTINGS_MODULE="tests.settings",
        DATABASE_URL=f"postgres://{db['USER'] or 'postgres'}@{db['HOST'] or '127.0.0.1'}:{db['PORT'] or 5432}/{db['NAME']}",
        PUBLIC_URL=settings.PUBLIC_URL,
        PYTHONPATH=str(ROOT),
    )
    env.update(extra or {})
    return env


class WorkerProcess:
    """A real `celery worker` process against the test database and Redis."""

    def __init__(self, extra_env: dict[str, str] | None = None, queues: str = "celery") -> None:
        self.extra_env = extra_env
        self.queues = queues
        self.proc: subprocess.Popen | None = None
        self.log = ROOT / "var" / f"test-worker-{os.getpid()}.log"

    def start(self) -> WorkerProcess:
        self.log.parent.mkdir(exist_ok=True)
        self.proc = subprocess.Popen(
            [
                sys.executable,
                "-m",
                "celery",
                "-A",
                "portal",
                "worker",
                "-l",
                "INFO",
                "--pool",
                "solo",
                "-Q",
                self.queues,
                "--without-mingle",
                "--without-gossip",
                "-n",
                f"test{os.getpid()}@%h",
            ],
            cwd=ROOT,
            env=_worker_env(self.extra_env),
            stdout=self.log.open("w"),
            stderr=subprocess.STDOUT,
            start_new_session=True,
        )
        deadline = time.time() + 30
        while time.time() < deadline:
            if "ready" in self.log.read_text():
                return self
            if self.proc.poll() is not None:
                raise RuntimeError(f"celery worker died:\n{self.log.read_text()[-3000:]}")
            time.sleep(0.2)
        raise RuntimeError(f"celery worker did not become ready:\n{self.log.read_text()[-3000:]}")

    def kill(self, sig: int = signal.SIGKILL) -> None:
        if self.proc and self.proc.poll() is None:
            os.killpg(self.proc.pid, sig)
            self.proc.wait(timeout=20)

    def stop(self) -> None:
        if self.proc and self.proc.poll() is None:
            os.killpg(self.proc.pid, signal.SIGTERM)
            try:
                self.proc.wait(timeout=15)
            except subprocess.TimeoutExpired:
                os.killpg(self.proc.pid, signal.SIGKILL)


@pytest.fixture
def celery_worker_process(transactional_db: Any) -> Iterator[WorkerProcess]:
    worker = WorkerProcess().start()
    yield worker
    worker.stop()


@pytest.fixture
def start_worker(transactional_db: Any) -> Iterator[Any]:
    """Factory: start (and later stop) workers, e.g. to kill one mid-task and start another."""
    workers: list[WorkerProcess] = []

    def start(**kwargs: Any) -> WorkerProcess:
        w = WorkerProcess(**kwargs).start()
        workers.append(w)
        return w

    yield start
    for w in workers:
        w.stop()


def wait_for(predicate: Any, timeout: float = 20.0, interval: float = 0.2) -> Any:
    """Poll until predicate() is truthy; return its value or fail with a clear message."""
    deadline = time.time() + timeout
    while time.time() < deadline:
        value = predicate()
        if value:
            return value
        time.sleep(interval)
    raise AssertionError(f"condition not met within {timeout}s")


CHROMIUM = shutil.which("chromium") or "/usr/bin/chromium"


@pytest.fixture(scope="session")
def browser() -> Iterator[Any]:
    """Debian's chromium, driven by Playwright (no downloaded browsers)."""
    if not Path(CHROMIUM).exists():
        pytest.fail(
            "Debian's chromium is not installed: `apt-get install chromium` (.ci/run does this)."
        )
    from playwright.sync_api import sync_playwright

    with sync_playwright() as pw:
        b = pw.chromium.launch(
            executable_path=CHROMIUM,
            headless=True,
            args=[
                "--no-sandbox",
                "--disable-gpu",
                "--disable-background-networking",
                "--disable-component-update",
                "--disable-sync",
                "--no-first-run",
                "--disable-quic",
            ],
        )
        yield b
        b.close()


@pytest.fixture
def page(browser: Any) -> Iterator[Any]:
    context = browser.new_context()
    p = context.new_page()
    yield p
    context.close()
