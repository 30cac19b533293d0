"""Shared fixtures: merchants, API clients, a real Celery worker, a real browser.

Skips are failures in CI. With `CI=true` (or `STRICT_SKIPS=1`) the run exits non-zero
when any test was skipped for a reason not in ALLOWED_SKIPS below, so a moved module, a
missing sample-vector file or an unmounted route can never turn a test into a quiet skip. The
allow-list is short on purpose; each entry says why the skip is acceptable:

- "wrk is not installed": `wrk` is an optional load tool used only by the bench smoke
  test (tests/bench_smoke); `make bench` documents installing it.

Anything else that skips in CI is an error: import the project's own modules normally
(never `pytest.importorskip`), and fail, not skip, when a fixture or file is missing.
"""

from __future__ import annotations

import os
import re
import shutil
import signal
import subprocess
import time
from collections.abc import Iterator
from pathlib import Path
from typing import Any

import pytest
from django.conf import settings
from django.core.cache import cache
from rest_framework.test import APIClient

from bench.stack import celery_worker_command
from tests import factories

ROOT = Path(__file__).resolve().parent.parent

# Skip reasons CI accepts (reason -> why it is acceptable); see the module docstring.
ALLOWED_SKIPS: dict[str, str] = {
    "wrk is not installed": "optional load tool for tests/bench_smoke only",
}


def in_ci() -> bool:
    """True in CI (CI=true) or when asked to be as strict locally (STRICT_SKIPS=1)."""
    truthy = ("1", "true", "yes")
    return (
        os.environ.get("CI", "").lower() in truthy
        or os.environ.get("STRICT_SKIPS", "").lower() in truthy
    )


def _skip_reason(report: Any) -> str:
    longrepr = report.longrepr
    reason = longrepr[2] if isinstance(longrepr, tuple) else str(longrepr)
    return reason.removeprefix("Skipped: ").strip()


def unexpected_skips(reports: list[Any]) -> list[tuple[str, str]]:
    """(test id, reason) of every skip whose reason is not on the allow-list."""
    return [
        (r.nodeid, _skip_reason(r))
        for r in reports
        if r.skipped and _skip_reason(r) not in ALLOWED_SKIPS
    ]


def _skipped_reports(config: Any) -> list[Any]:
    reporter = config.pluginmanager.get_plugin("terminalreporter")
    return list(reporter.stats.get("skipped", [])) if reporter else []


@pytest.hookimpl(tryfirst=True)
def pytest_sessionfinish(session: Any, exitstatus: int) -> None:
    if in_ci() and unexpected_skips(_skipped_reports(session.config)):
        session.exitstatus = pytest.ExitCode.TESTS_FAILED


def pytest_terminal_summary(terminalreporter: Any, exitstatus: int, config: Any) -> None:
    if not in_ci():
        return
    skips = unexpected_skips(_skipped_reports(config))
    if skips:
        terminalreporter.section("unexpected skips (CI fails on these)", red=True, bold=True)
        for nodeid, reason in skips:
            terminalreporter.line(f"{nodeid}: {reason}")
        terminalreporter.line(
            "Only the reasons in tests/conftest.py ALLOWED_SKIPS may skip in CI; "
            "make these tests run (or fail) instead."
        )


# nodeid -> "passed" | "failed" | "skipped", as the run goes (see module_outcomes)
_OUTCOMES: dict[str, str] = {}


def pytest_runtest_logreport(report: Any) -> None:
    if report.failed:
        _OUTCOMES[report.nodeid] = "failed"
    elif report.skipped:
        _OUTCOMES.setdefault(report.nodeid, "skipped")
    elif report.when == "call":
        _OUTCOMES.setdefault(report.nodeid, "passed")


@pytest.fixture
def module_outcomes(request: Any) -> dict[str, str]:
    """The outcome so far of every other test selected in this test's file:
    nodeid -> passed | failed | skipped | not run. Figure tests assert on it."""
    me = request.node
    return {
        item.nodeid: _OUTCOMES.get(item.nodeid, "not run")
        for item in request.session.items
        if item.path == me.path and item is not me
    }


@pytest.fixture(autouse=True)
def _clear_cache() -> Iterator[None]:
    from kyc import intake, ratelimit

    cache.clear()
    # A rolled-back test's accounts send no post_delete: forget this process's copies,
    # and the counts it saw in the cache just cleared.
    intake.accounts_forget()
    ratelimit.seen_forget()
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

    # Every scope: flow tests read the values they planted back through the API.
    # tests/api_scopes holds the default key (no `pii`) to its masked answers.
    _, raw = services.api_key_create(
        merchant=merchant, name="test", scopes=["read", "write", "pii"]
    )
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

    # Both queues by default: "webhooks" holds outgoing webhook sends (settings.CELERY_TASK_ROUTES).
    def __init__(
        self, extra_env: dict[str, str] | None = None, queues: str = "celery,webhooks"
    ) -> None:
        self.extra_env = extra_env
        self.queues = queues
        self.proc: subprocess.Popen | None = None
        self.log = ROOT / "var" / f"test-worker-{os.getpid()}.log"

    def start(self) -> WorkerProcess:
        self.log.parent.mkdir(exist_ok=True)
        self.proc = subprocess.Popen(
            celery_worker_command(
                queues=self.queues, name=f"test{os.getpid()}", pool=("--pool", "solo")
            ),
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


def row_locked(model: Any, pk: Any) -> bool:
    """Ask from a connection of its own whether someone holds a row's lock."""
    from django.db import OperationalError, connections

    probe = connections.create_connection("default")
    table = model._meta.db_table
    try:
        with probe.cursor() as cur:
            cur.execute(f"SELECT 1 FROM {table} WHERE id = %s FOR UPDATE NOWAIT", [str(pk)])
        return False
    except OperationalError:
        return True
    finally:
        probe.close()


CHROMIUM = shutil.which("chromium") or "/usr/bin/chromium"


@pytest.fixture(scope="session")
def browser() -> Iterator[Any]:
    """Debian's chromium, driven by Playwright (no downloaded browsers)."""
    if not Path(CHROMIUM).exists():
        pytest.fail(
            "Debian's chromium is not installed: `apt-get install chromium` (make test does this when run as root)."
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


SCREENSHOTS = ROOT / "var" / "screenshots"


@pytest.fixture
def page(browser: Any, request: Any) -> Iterator[Any]:
    context = browser.new_context()
    p = context.new_page()
    yield p
    # What a person last saw on every page of the test (customer, phone, merchant), to be
    # looked at: var/screenshots/<test>-<n>.png.
    SCREENSHOTS.mkdir(parents=True, exist_ok=True)
    name = re.sub(r"[^A-Za-z0-9_.-]+", "_", request.node.nodeid.removeprefix("tests/"))
    for n, opened in enumerate(context.pages):
        if not opened.is_closed():
            opened.screenshot(path=str(SCREENSHOTS / f"{name}-{n}.png"), full_page=True)
    context.close()
