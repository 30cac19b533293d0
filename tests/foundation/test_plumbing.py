"""Plumbing: start-up refusal without keys, append-only history, hashed keys, the HTTP policy."""

import http.server
import os
import subprocess
import sys
import threading
from pathlib import Path

import pytest

from kyc import http as phttp
from kyc import registry, services
from kyc.errors import AuthenticationError, PermanentError, RetryableError
from kyc.models import ApiKey, AppendOnlyError, ProviderAccount, TransferEvent, TransferRequest

ROOT = Path(__file__).resolve().parents[2]


def run_check(env_overrides: dict[str, str]) -> subprocess.CompletedProcess:
    env = {
        k: v
        for k, v in os.environ.items()
        if k not in {"FIELD_ENCRYPTION_KEYS", "DJANGO_SETTINGS_MODULE", "DEBUG"}
    }
    env.update(DJANGO_SETTINGS_MODULE="portal.settings", **env_overrides)
    return subprocess.run(
        [sys.executable, "manage.py", "check"],
        cwd=ROOT,
        env=env,
        capture_output=True,
        text=True,
        timeout=60,
    )


def test_it_refuses_to_start_without_keys_when_debug_is_off(tmp_path) -> None:
    result = run_check({"DEBUG": "false", "SECRET_KEY": "x" * 50, "VAR_DIR": str(tmp_path)})
    assert result.returncode != 0
    assert "FIELD_ENCRYPTION_KEYS must be set" in result.stderr


def test_it_generates_one_dev_key_in_embedded_mode_and_reuses_it(tmp_path) -> None:
    env = {"DEBUG": "true", "VAR_DIR": str(tmp_path), "DATABASE_URL": ""}
    assert run_check(env).returncode == 0
    key = (tmp_path / "dev-field-encryption.key").read_text()
    assert run_check(env).returncode == 0
    assert (tmp_path / "dev-field-encryption.key").read_text() == key


@pytest.mark.django_db
def test_it_keeps_the_transfer_history_append_only(merchant) -> None:
    account = ProviderAccount.objects.create(merchant=merchant, provider="corepass", enabled=True)
    t = TransferRequest.objects.create(
        merchant=merchant, account=account, provider="corepass", reference="r"
    )
    event = TransferEvent.objects.create(transfer=t, detail="created")
    event.detail = "rewritten"
    with pytest.raises(AppendOnlyError):
        event.save()
    with pytest.raises(AppendOnlyError):
        event.delete()
    assert TransferEvent.objects.get(pk=event.pk).detail == "created"


@pytest.mark.django_db
def test_it_stores_api_keys_hashed(merchant) -> None:
    key, raw = services.api_key_create(merchant=merchant, name="k")
    stored = ApiKey.objects.filter(pk=key.pk).values_list("hashed", flat=True)[0]
    # the secret is everything after the prefix: token_urlsafe may itself contain "_"
    # (split("_")[2] was then a fragment, even "", found in any hash: a flaky test)
    secret = raw.split("_", 2)[2]
    assert len(secret) >= 40 and raw not in stored and secret not in stored
    assert raw.startswith(f"kp_{key.prefix}_")


def test_it_refuses_unknown_providers() -> None:
    with pytest.raises(registry.UnknownProvider):
        registry.get("nope")
    assert {name for name, _ in registry.choices()} == set(registry.names())


class _Counting(http.server.BaseHTTPRequestHandler):
    hits: list[str] = []
    status = 503

    def _answer(self) -> None:
        type(self).hits.append(self.command)
        self.send_response(type(self).status)
        self.send_header("Content-Type", "application/json")
        self.end_headers()
        self.wfile.write(b'{"error": "down"}')

    do_GET = do_POST = _answer

    def log_message(self, *args: object) -> None:
        pass


@pytest.fixture
def counting_server(settings):
    settings.OUTBOUND_ALLOW_NETWORKS = ["127.0.0.1/32"]  # the outbound policy's test opt-in
    _Counting.hits = []
    server = http.server.ThreadingHTTPServer(("127.0.0.1", 0), _Counting)
    threading.Thread(target=server.serve_forever, daemon=True).start()
    yield f"http://127.0.0.1:{server.server_port}", _Counting
    server.shutdown()


def test_it_retries_idempotent_calls_but_never_posts(counting_server) -> None:
    url, handler = counting_server
    sess = phttp.session(retries=2)
    with pytest.raises(RetryableError):
        phttp.call("GET", url, provider="corepass", sess=sess)
    assert handler.hits.count("GET") == 3
    with pytest.raises(RetryableError):
        phttp.call("POST", url, provider="corepass", sess=sess, json={})
    assert handler.hits.count("POST") == 1


@pytest.mark.parametrize(
    ("status", "error"), [(401, AuthenticationError), (400, PermanentError), (500, RetryableError)]
)
def test_it_maps_statuses_to_typed_errors(counting_server, status, error) -> None:
    url, handler = counting_server
    handler.status = status
    with pytest.raises(error) as exc:
        phttp.call("POST", url, provider="corepass", sess=phttp.session(retries=0))
    assert exc.value.retryable is (error is RetryableError)


def test_it_times_out_instead_of_hanging(settings) -> None:
    import socket

    settings.OUTBOUND_ALLOW_NETWORKS = ["127.0.0.1/32"]  # the outbound policy's test opt-in
    listener = socket.socket()
    listener.bind(("127.0.0.1", 0))
    listener.listen(1)  # accepts the connection, never answers
    port = listener.getsockname()[1]
    try:
        with pytest.raises(RetryableError, match="timed out"):
            phttp.call(
                "POST",
                f"http://127.0.0.1:{port}/",
                provider="corepass",
                sess=phttp.session(timeout=(1, 0.5), retries=0),
            )
    finally:
        listener.close()


@pytest.mark.django_db
def test_it_lets_staff_rearm_failed_promises_only(merchant) -> None:
    from kyc.models import AuditEntry, CertPromise

    failed = CertPromise.objects.create(
        merchant=merchant, promise_id="p1", state="failed", attempts=12, last_error="boom"
    )
    pulled = CertPromise.objects.create(merchant=merchant, promise_id="p2", state="pulled")
    assert services.cert_promise_retry(promise_ids=[failed.pk, pulled.pk]) == 1
    failed.refresh_from_db()
    pulled.refresh_from_db()
    assert (failed.state, failed.attempts, failed.last_error) == ("pending", 0, "")
    assert failed.next_attempt_at is not None
    assert pulled.state == "pulled"
    assert AuditEntry.objects.filter(action="cert_promise.retry").count() == 1


def test_it_counts_a_hit_and_reads_the_cached_state_together() -> None:
    from django.core.cache import cache

    from kyc import ratelimit

    cache.set("page-state", {"status": "pending"}, 60)
    results = [ratelimit.hit_and_get("poller", "page-state", limit=2) for _ in range(3)]
    assert results == [
        (True, {"status": "pending"}),
        (True, {"status": "pending"}),
        (False, {"status": "pending"}),
    ]
    assert ratelimit.hit_and_get("other", "no-such-key", limit=5) == (True, None)
    assert ratelimit.hit("poller", limit=3) is False  # one counter shared with hit()
