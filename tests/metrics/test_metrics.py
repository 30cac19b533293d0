"""`/metrics`: each figure moves when its event happens, the endpoint is protected, the
text parses, and figures from several processes add up (multiprocess mode)."""

from __future__ import annotations

import json
import os
import signal
import socket
import subprocess
import sys
import threading
import time
import uuid
from collections.abc import Iterator
from concurrent.futures import ThreadPoolExecutor
from http.server import BaseHTTPRequestHandler, ThreadingHTTPServer
from pathlib import Path
from typing import Any

import pytest
import redis
import requests as http_client
from prometheus_client.parser import text_string_to_metric_families

from kyc import http, metrics, outbox, tasks
from kyc.errors import RetryableError
from kyc.models import InboundEvent, ProviderAccount
from tests import factories
from tests.blockpass.conftest import bp_settings, deliver, payload
from tests.conftest import ROOT, _worker_env, wait_for
from tests.faults.redis_server import PrivateRedis
from tests.outbox.conftest import Receiver, deliver_all, receiver  # noqa: F401  (fixture)

pytestmark = pytest.mark.django_db


def scrape(client: Any, **extra: Any) -> dict[tuple[str, tuple[tuple[str, str], ...]], float]:
    """GET /metrics as Prometheus does and parse it: {(sample name, labels): value}."""
    resp = client.get("/metrics", **extra)
    assert resp.status_code == 200, resp.content[:200]
    assert resp["Content-Type"].startswith("text/plain")
    out: dict[tuple[str, tuple[tuple[str, str], ...]], float] = {}
    for family in text_string_to_metric_families(resp.content.decode()):
        for s in family.samples:
            out[(s.name, tuple(sorted(s.labels.items())))] = s.value
    return out


def value(samples: dict, name: str, **labels: str) -> float:
    return samples.get((name, tuple(sorted(labels.items()))), 0.0)


@pytest.fixture
def bp_account(db: Any) -> ProviderAccount:
    return factories.ProviderAccountFactory(provider="blockpass", settings=bp_settings())


def test_it_counts_a_signed_delivery_as_received_then_processed(
    client: Any, bp_account: ProviderAccount, django_capture_on_commit_callbacks: Any
) -> None:
    before = scrape(client)
    with django_capture_on_commit_callbacks(execute=False):  # no broker: processed below
        resp = deliver(client, bp_account, payload("serviceInfo.updated"))
    assert resp.status_code == 200
    middle = scrape(client)
    name = "portal_deliveries_received_total"
    assert (
        value(middle, name, provider="blockpass") == value(before, name, provider="blockpass") + 1
    )
    processed = "portal_deliveries_processed_total"
    assert value(middle, processed, provider="blockpass") == value(
        before, processed, provider="blockpass"
    )
    event = InboundEvent.objects.get()
    assert tasks.process_inbound(event.pk) == InboundEvent.State.PROCESSED  # what a worker runs
    after = scrape(client)
    assert (
        value(after, processed, provider="blockpass")
        == value(before, processed, provider="blockpass") + 1
    )
    # Running it again changes nothing, and counts nothing.
    tasks.process_inbound(event.pk)
    assert value(scrape(client), processed, provider="blockpass") == value(
        after, processed, provider="blockpass"
    )


def test_it_counts_a_delivery_with_a_bad_signature_as_refused(
    client: Any, bp_account: ProviderAccount
) -> None:
    before = scrape(client)
    resp = deliver(client, bp_account, payload("ping"), sig="0" * 64)
    assert resp.status_code in (400, 401, 403)
    after = scrape(client)
    for name in ("portal_deliveries_received_total", "portal_deliveries_refused_total"):
        assert (
            value(after, name, provider="blockpass")
            == value(before, name, provider="blockpass") + 1
        )
    assert value(after, "portal_deliveries_processed_total", provider="blockpass") == value(
        before, "portal_deliveries_processed_total", provider="blockpass"
    )


def test_it_counts_outgoing_webhook_attempts_and_failures(
    client: Any,
    receiver: Receiver,  # noqa: F811
) -> None:
    merchant = factories.MerchantFactory()
    endpoint, _ = outbox.webhook_endpoint_create(merchant=merchant, url=receiver.url)
    receiver.script = [500]  # one failure, then success
    before = scrape(client)
    outbox.webhook_endpoint_test(endpoint=endpoint)
    deliver_all()
    after = scrape(client)
    assert len(receiver.requests) == 2
    assert (
        value(after, "portal_webhook_attempts_total")
        == value(before, "portal_webhook_attempts_total") + 2
    )
    assert (
        value(after, "portal_webhook_failures_total", reason="http")
        == value(before, "portal_webhook_failures_total", reason="http") + 1
    )
    assert value(after, "portal_webhook_failures_total", reason="network") == value(
        before, "portal_webhook_failures_total", reason="network"
    )
    assert (
        value(after, "portal_webhook_attempt_duration_seconds_count")
        == value(before, "portal_webhook_attempt_duration_seconds_count") + 2
    )


class _Provider(BaseHTTPRequestHandler):
    def do_GET(self) -> None:  # noqa: N802  (http.server's name)
        status = 503 if self.path.startswith("/down") else 200
        body = json.dumps({"ok": status == 200}).encode()
        self.send_response(status)
        self.send_header("content-type", "application/json")
        self.send_header("content-length", str(len(body)))
        self.end_headers()
        self.wfile.write(body)

    def log_message(self, format: str, *args: Any) -> None:
        pass


@pytest.fixture
def fake_provider(settings: Any) -> Iterator[str]:
    settings.OUTBOUND_ALLOW_NETWORKS = ["127.0.0.1/32"]
    server = ThreadingHTTPServer(("127.0.0.1", 0), _Provider)
    threading.Thread(target=server.serve_forever, daemon=True).start()
    try:
        yield f"http://127.0.0.1:{server.server_address[1]}"
    finally:
        server.shutdown()
        server.server_close()


def test_it_times_provider_calls_and_counts_their_errors(client: Any, fake_provider: str) -> None:
    labels = {"provider": "corepass", "method": "GET"}
    before = scrape(client)
    assert http.call("GET", f"{fake_provider}/ok", provider="corepass") == {"ok": True}
    with pytest.raises(RetryableError):
        http.call("GET", f"{fake_provider}/down", provider="corepass")
    after = scrape(client)
    count = "portal_provider_call_duration_seconds_count"
    assert value(after, count, **labels) == value(before, count, **labels) + 2
    errors = "portal_provider_call_errors_total"
    assert (
        value(after, errors, provider="corepass", error="RetryableError")
        == value(before, errors, provider="corepass", error="RetryableError") + 1
    )


def test_it_counts_a_failing_celery_task(client: Any) -> None:
    before = scrape(client)
    name = "kyc.tasks.send_webhook_delivery"
    # A delivery id that is not a number: the task raises, as any broken task would.
    result = tasks.send_webhook_delivery.apply(args=("not-a-number",))
    assert result.failed()
    tasks.ping.apply(args=("fine",))  # a task that works counts nothing
    after = scrape(client)
    failures = "portal_celery_task_failures_total"
    assert value(after, failures, task=name) == value(before, failures, task=name) + 1
    assert value(after, failures, task="kyc.tasks.ping") == value(
        before, failures, task="kyc.tasks.ping"
    )


def test_it_measures_queue_depth_from_the_broker_at_scrape_time(client: Any, settings: Any) -> None:
    """A private redis-server as the broker (no worker of any other test reads it)."""
    broker_server = PrivateRedis().start()
    try:
        settings.CELERY_BROKER_URL = broker_server.url(0)
        broker = redis.Redis.from_url(settings.CELERY_BROKER_URL)
        assert value(scrape(client), "portal_celery_queue_length", queue="webhooks") == 0
        broker.lpush("webhooks", "task-1", "task-2")
        broker.lpush("celery\x06\x163", "a priority-3 task")  # kombu's list for priority 3
        samples = scrape(client)
        assert value(samples, "portal_celery_queue_length", queue="webhooks") == 2
        assert value(samples, "portal_celery_queue_length", queue="celery") == 1
        broker.delete("webhooks")
        assert value(scrape(client), "portal_celery_queue_length", queue="webhooks") == 0
        broker_server.stop()  # the broker down: the scrape still answers, without the gauge
        samples = scrape(client)
        assert ("portal_celery_queue_length", (("queue", "webhooks"),)) not in samples
    finally:
        broker_server.stop()


def test_it_times_requests_by_url_name_never_by_raw_path(client: Any) -> None:
    token = f"tok{uuid.uuid4().hex}"
    client.get(f"/t/{token}/status")
    client.get("/healthz")
    resp = client.get("/metrics")
    text = resp.content.decode()
    assert token not in text
    samples = scrape(client)
    count = "portal_http_request_duration_seconds_count"
    assert value(samples, count, view="transfer_status", method="GET", status="4xx") >= 1
    assert value(samples, count, view="healthz", method="GET", status="2xx") >= 1


def test_it_answers_loopback_and_the_token_and_refuses_everyone_else(
    client: Any, settings: Any
) -> None:
    outside = {"REMOTE_ADDR": "203.0.113.9"}
    assert client.get("/metrics").status_code == 200  # loopback, no token: allowed by default
    resp = client.get("/metrics", **outside)
    assert resp.status_code == 401 and resp["WWW-Authenticate"].startswith("Bearer")
    assert b"portal_" not in resp.content
    settings.METRICS_TOKEN = "s3cret-scrape-token"
    ok = client.get("/metrics", HTTP_AUTHORIZATION="Bearer s3cret-scrape-token", **outside)
    assert ok.status_code == 200 and b"portal_deliveries_received_total" in ok.content
    wrong = client.get("/metrics", HTTP_AUTHORIZATION="Bearer nope", **outside)
    assert wrong.status_code == 403 and b"portal_" not in wrong.content
    # A wrong token is refused even from an allowed network.
    assert client.get("/metrics", HTTP_AUTHORIZATION="Bearer nope").status_code == 403
    settings.METRICS_ALLOW_NETWORKS = ["203.0.113.0/24"]
    assert client.get("/metrics", **outside).status_code == 200
    settings.METRICS_ALLOW_NETWORKS = []
    assert client.get("/metrics").status_code == 401  # not even loopback now
    assert client.post("/metrics").status_code in (401, 403, 405)


def test_it_parses_as_prometheus_text_with_every_family(client: Any) -> None:
    resp = client.get("/metrics")
    names = {f.name for f in text_string_to_metric_families(resp.content.decode())}
    assert {
        "portal_http_request_duration_seconds",
        "portal_deliveries_received",
        "portal_deliveries_refused",
        "portal_deliveries_processed",
        "portal_webhook_attempts",
        "portal_webhook_failures",
        "portal_provider_call_duration_seconds",
        "portal_provider_call_errors",
        "portal_celery_task_failures",
        "portal_celery_queue_length",
    } <= names


_CHILD = """
import os, django
os.environ.setdefault("DJANGO_SETTINGS_MODULE", "tests.settings")
django.setup()
from kyc import metrics
metrics.delivery_stored("blockpass", "refused")
metrics.webhook_attempted(500, "", 12)
print("ok")
"""

_SCRAPE = """
import django, os
os.environ.setdefault("DJANGO_SETTINGS_MODULE", "tests.settings")
django.setup()
from kyc import metrics
body, _ = metrics.exposition()
print(body.decode())
"""


def test_it_adds_up_figures_from_several_processes(tmp_path: Path) -> None:
    """Multiprocess mode (gunicorn workers, Celery children): each process writes its own
    file under PROMETHEUS_MULTIPROC_DIR and a scrape from any process sees the sum."""
    env = {**_env(), "PROMETHEUS_MULTIPROC_DIR": str(tmp_path)}
    for _ in range(3):
        out = subprocess.run(
            [sys.executable, "-c", _CHILD], cwd=ROOT, env=env, capture_output=True, text=True
        )
        assert out.returncode == 0, out.stderr[-2000:]
    assert len(list(tmp_path.glob("*.db"))) >= 3  # one file per process and kind
    out = subprocess.run(
        [sys.executable, "-c", _SCRAPE], cwd=ROOT, env=env, capture_output=True, text=True
    )
    assert out.returncode == 0, out.stderr[-2000:]
    samples = {
        (s.name, tuple(sorted(s.labels.items()))): s.value
        for f in text_string_to_metric_families(out.stdout)
        for s in f.samples
    }
    assert samples[("portal_deliveries_received_total", (("provider", "blockpass"),))] == 3
    assert samples[("portal_deliveries_refused_total", (("provider", "blockpass"),))] == 3
    assert samples[("portal_webhook_failures_total", (("reason", "http"),))] == 3
    assert ("portal_celery_queue_length", (("queue", "celery"),)) in samples  # live, from Redis


def _env() -> dict[str, str]:
    env = dict(os.environ)
    env.pop("PROMETHEUS_MULTIPROC_DIR", None)
    env["PYTHONPATH"] = str(ROOT)
    return env


def test_it_forgets_nothing_a_dead_process_counted(tmp_path: Path) -> None:
    """gunicorn's child_exit calls mark_process_dead: counters of a dead worker still
    count (only its live gauges go)."""
    env = {**_env(), "PROMETHEUS_MULTIPROC_DIR": str(tmp_path)}
    code = _CHILD + "import os; metrics.mark_process_dead(os.getpid())\n"
    out = subprocess.run([sys.executable, "-c", code], cwd=ROOT, env=env, capture_output=True)
    assert out.returncode == 0, out.stderr[-2000:]
    out2 = subprocess.run(
        [sys.executable, "-c", _SCRAPE], cwd=ROOT, env=env, capture_output=True, text=True
    )
    assert 'portal_deliveries_received_total{provider="blockpass"} 1.0' in out2.stdout
    assert metrics.multiprocess_dir() == ""  # this test process: the default registry


def test_it_counts_a_delivery_applied_in_its_own_request_as_processed(client: Any) -> None:
    """CorePass status callbacks are verified and applied before the answer: the intake
    stores them already processed (kyc/intake.py), and that counts as processed too."""
    from kyc import services

    before = scrape(client)
    services.inbound_store(
        provider="corepass",
        path="/hooks/corepass/t/x/status",
        headers={},
        body=b"{}",
        remote_addr="127.0.0.1",
        state=InboundEvent.State.PROCESSED,
        verified=True,
    )
    after = scrape(client)
    for name in ("portal_deliveries_received_total", "portal_deliveries_processed_total"):
        assert (
            value(after, name, provider="corepass") == value(before, name, provider="corepass") + 1
        )


def test_it_documents_alert_rules_that_use_only_metrics_it_serves(client: Any) -> None:
    """README's sample rules parse as a Prometheus rule file and name only served metrics."""
    import re

    import yaml

    readme = (ROOT / "README.md").read_text()
    section = readme.split("## Metrics", 1)[1].split("\n## ", 1)[0]
    rules_text = section.split("```yaml\n", 1)[1].split("```", 1)[0]
    rules = yaml.safe_load(rules_text)["groups"][0]["rules"]
    assert len(rules) >= 5 and all("alert" in r and "expr" in r for r in rules)
    resp = client.get("/metrics")
    served = set()
    for family in text_string_to_metric_families(resp.content.decode()):
        served |= {s.name for s in family.samples} | {family.name}
    named = {m for r in rules for m in re.findall(r"\bportal_[a-z_]+", r["expr"])}
    families = {re.sub(r"_(bucket|count|sum|total)$", "", m) for m in named}
    assert named and families <= served, families - served
    assert re.sub(r"_(bucket|count|sum|total)$", "", "portal_nope_total") not in served  # control
    # Every metric the table lists is served.
    listed = set(re.findall(r"^\| `(portal_[a-z_]+)`", section, flags=re.M))
    assert len(listed) == 11
    for name in listed:
        assert name in served or name.removesuffix("_total") in served, name


def _healthz_count(base: str) -> float:
    text = http_client.get(base + "/metrics", timeout=5).text
    return sum(
        s.value
        for f in text_string_to_metric_families(text)
        for s in f.samples
        if s.name == "portal_http_request_duration_seconds_count"
        and s.labels.get("view") == "healthz"
    )


def _settled(read: Any, pause: float = 0.5) -> float:
    """A reading that two looks `pause` apart agree on."""
    last = read()
    while True:
        time.sleep(pause)
        now = read()
        if now == last:
            return now
        last = now


@pytest.mark.worker
def test_it_adds_up_every_gunicorn_worker_in_one_scrape(tmp_path: Path) -> None:
    """Two gunicorn workers (gunicorn.conf.py, PROMETHEUS_MULTIPROC_DIR): whichever worker
    answers the scrape, it reports the requests both answered."""
    with socket.socket() as s:
        s.bind(("127.0.0.1", 0))
        port = s.getsockname()[1]
    env = _worker_env({"PROMETHEUS_MULTIPROC_DIR": str(tmp_path)})
    log = tmp_path / "gunicorn.log"
    proc = subprocess.Popen(
        [sys.executable, "-m", "gunicorn", "portal.wsgi", "-w", "2", "-b", f"127.0.0.1:{port}"],
        cwd=ROOT,
        env=env,
        stdout=log.open("w"),
        stderr=subprocess.STDOUT,
        start_new_session=True,
    )
    base = f"http://127.0.0.1:{port}"
    try:
        deadline = time.time() + 30
        while True:
            try:
                if http_client.get(base + "/healthz", timeout=2).status_code in (200, 503):
                    break
            except http_client.RequestException:
                pass
            assert time.time() < deadline and proc.poll() is None, log.read_text()[-2000:]
            time.sleep(0.2)
        # Probes that timed out on a busy machine were still answered (and counted) by
        # the server: start from what it has counted once that has settled.
        before = _settled(lambda: _healthz_count(base))
        with ThreadPoolExecutor(8) as pool:  # concurrent, so both workers take some
            answers = list(pool.map(lambda _: http_client.get(base + "/healthz"), range(40)))
        answered = before + len(answers)
        pids = {p.name.split("_")[-1] for p in tmp_path.glob("histogram_*.db")}
        assert len(pids) >= 2, pids  # one file per process that counted
        for _ in range(4):  # each scrape may land on either worker: the same sum every time
            assert _healthz_count(base) == answered
    finally:
        os.killpg(proc.pid, signal.SIGTERM)
        proc.wait(timeout=20)


@pytest.mark.worker
def test_it_counts_a_real_workers_task_failure_in_the_web_scrape(
    start_worker: Any, tmp_path: Path
) -> None:
    """A Celery worker process (PROMETHEUS_MULTIPROC_DIR shared with the web) counts a task
    that raised; a scrape from another process sees it."""
    start_worker(extra_env={"PROMETHEUS_MULTIPROC_DIR": str(tmp_path)})
    tasks.send_webhook_delivery.delay("not-a-number")  # raises in the worker
    tasks.ping.delay("fine")

    def scraped() -> float:
        env = {**_env(), "PROMETHEUS_MULTIPROC_DIR": str(tmp_path)}
        out = subprocess.run(
            [sys.executable, "-c", _SCRAPE], cwd=ROOT, env=env, capture_output=True, text=True
        )
        assert out.returncode == 0, out.stderr[-2000:]
        return sum(
            s.value
            for f in text_string_to_metric_families(out.stdout)
            for s in f.samples
            if s.name == "portal_celery_task_failures_total"
            and s.labels.get("task") == "kyc.tasks.send_webhook_delivery"
        )

    wait_for(lambda: scraped() == 1, timeout=30)


def test_it_counts_the_embedded_brokers_queues_from_its_files(
    client: Any, settings: Any, tmp_path: Path
) -> None:
    """`make run` uses Celery's filesystem broker: one file per waiting task."""
    settings.CELERY_BROKER_URL = "filesystem://"
    settings.CELERY_BROKER_TRANSPORT_OPTIONS = {"data_folder_in": str(tmp_path)}
    for n in range(3):
        (tmp_path / f"17000{n}_{uuid.uuid4()}.webhooks.msg").write_bytes(b"{}")
    (tmp_path / f"170009_{uuid.uuid4()}.celery.msg").write_bytes(b"{}")
    samples = scrape(client)
    assert value(samples, "portal_celery_queue_length", queue="webhooks") == 3
    assert value(samples, "portal_celery_queue_length", queue="celery") == 1


def test_it_labels_an_unregistered_provider_name_as_other(client: Any) -> None:
    """Labels stay bounded whatever a path or caller says."""
    before = scrape(client)
    metrics.delivery_stored("x" * 20, "received")
    metrics.delivery_stored("portmone", "received")
    after = scrape(client)
    name = "portal_deliveries_received_total"
    assert value(after, name, provider="other") == value(before, name, provider="other") + 1
    assert value(after, name, provider="portmone") == value(before, name, provider="portmone") + 1
    assert value(after, name, provider="x" * 20) == 0
