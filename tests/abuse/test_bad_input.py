"""Every webhook and callback endpoint, discovered from the URL patterns under hooks/,
answers bad input with a clear 4xx and keeps a record of it; never a 500.

A table of inputs x every endpoint: new endpoints are covered the day they are mounted.
"""

from __future__ import annotations

import io
import secrets
from dataclasses import dataclass, field

import pytest
from django.conf import settings

from kyc import registry
from kyc.models import InboundEvent, KYCRecord, Merchant, TransferRequest
from tests.abuse.hooks import Hook, hooks, url_for
from tests.contract.deliveries import sandbox_account

pytestmark = pytest.mark.django_db

HOOKS = hooks()
GARBAGE_SIGNATURES = {
    "HTTP_X_BLOCKPASS_SIGNATURE": "0" * 64,
    "HTTP_X_BLOCKPASS_EVENT": "certPormise.resolved",
    "HTTP_X_BLOCKPASS_DELIVERY": "00000000-0000-0000-0000-000000000000",
    "HTTP_X_SIGNATURE": "deadbeef",
    "HTTP_SIGNATURE": "deadbeef",
    "HTTP_X_HUB_SIGNATURE_256": "sha256=" + "0" * 64,
    "HTTP_AUTHORIZATION": "Bearer not-a-real-token",
    "HTTP_X_API_KEY": "not-a-real-key",
}


@dataclass(frozen=True)
class Case:
    name: str
    body: bytes = b""
    content_type: str = "application/json"
    headers: dict = field(default_factory=dict)
    token: str = "known"  # known | unknown
    status: tuple[int, ...] = tuple(range(400, 429)) + tuple(range(430, 500))


CASES = [
    Case("empty body"),
    Case("invalid JSON", b'{"user": "ab12", "status": '),
    Case("JSON that is not an object", b'["a", 1, null]'),
    Case("wrong content type", b'{"status": "FINISH_SUCCESS"}', "text/plain"),
    Case("binary garbage", bytes(range(256)) * 4, "application/octet-stream"),
    Case("missing signature", b'{"action": "certPormise.resolved", "status": "FINISH_SUCCESS"}'),
    Case(
        "wrong signature",
        b'{"action": "certPormise.resolved", "signature": "AAAA", "status": "FINISH_SUCCESS"}',
        headers=GARBAGE_SIGNATURES,
    ),
    Case(
        "multipart without the expected parts",
        b'--xx\r\nContent-Disposition: form-data; name="a"\r\n\r\nb\r\n--xx--\r\n',
        "multipart/form-data; boundary=xx",
    ),
    Case("unknown merchant token", b'{"status": "FINISH_SUCCESS"}', token="unknown"),
]


@pytest.fixture
def tokens(db) -> dict[str, str]:
    """A merchant with every provider enabled and one request per provider."""
    merchant = Merchant.objects.create(name="hooks", slug="hooks")
    out: dict[str, str] = {}
    for provider, _ in registry.choices():
        account = sandbox_account(merchant, provider)
        record = KYCRecord.objects.create(merchant=merchant, reference=f"r-{provider}")
        transfer = TransferRequest.objects.create(
            merchant=merchant,
            account=account,
            provider=provider,
            reference="r",
            record=record,
            status="pending",
        )
        out[f"account:{provider}"] = account.webhook_token
        out[f"transfer:{provider}"] = transfer.callback_token
    return out


def token_for(hook: Hook, tokens: dict[str, str], kind: str) -> str:
    if kind == "unknown":
        return secrets.token_urlsafe(24)
    per_request = "/t/" in hook.route
    return tokens[f"{'transfer' if per_request else 'account'}:{hook.provider}"]


def post(client, url: str, case: Case):
    return client.generic("POST", url, case.body, content_type=case.content_type, **case.headers)


def assert_kept(before: set[int], case: Case, hook: Hook) -> InboundEvent:
    new = InboundEvent.objects.exclude(pk__in=before)
    assert new.count() >= 1, f"{hook.route} kept no record of {case.name!r}"
    event = new.order_by("-pk").first()
    assert event.state in (InboundEvent.State.REFUSED, InboundEvent.State.IGNORED), (
        hook.route,
        case.name,
        event.state,
    )
    assert event.error, f"{hook.route} kept {case.name!r} without saying why"
    return event


@pytest.mark.skipif(not HOOKS, reason="no provider endpoint is mounted yet")
@pytest.mark.parametrize("hook", HOOKS, ids=[h.name for h in HOOKS])
def test_it_answers_bad_input_with_a_4xx_and_keeps_it(hook, client, tokens, promise) -> None:
    tried = 0
    for case in CASES:
        url = url_for(hook, token_for(hook, tokens, case.token))
        before = set(InboundEvent.objects.values_list("pk", flat=True))
        r = post(client, url, case)
        assert r.status_code in case.status, (hook.route, case.name, r.status_code, r.content[:300])
        if r.headers.get("Content-Type", "").startswith("application/json"):
            data = r.json()
            message = data.get("message") or data.get("msg") or data.get("detail")
        else:
            message = r.content.decode()
        assert message, (hook.route, case.name)
        assert_kept(before, case, hook)
        tried += 1
    promise("webhook_bad_input", tried, "bad inputs tried")


class CountingStream(io.RawIOBase):
    """A 10 MB body that counts what the server reads of it."""

    def __init__(self, size: int) -> None:
        self.size, self.read_bytes = size, 0

    def read(self, n: int = -1) -> bytes:
        n = (
            self.size - self.read_bytes
            if n is None or n < 0
            else min(n, self.size - self.read_bytes)
        )
        self.read_bytes += n
        return b"x" * n

    def readline(self, *args) -> bytes:
        return self.read(65536)


@pytest.mark.skipif(not HOOKS, reason="no provider endpoint is mounted yet")
@pytest.mark.parametrize("hook", HOOKS, ids=[h.name for h in HOOKS])
def test_it_refuses_a_10_mb_body_before_reading_it(hook, client, tokens, promise) -> None:
    size = 10 * 1024 * 1024
    assert size > settings.MAX_BODY_BYTES
    stream = CountingStream(size)
    before = set(InboundEvent.objects.values_list("pk", flat=True))
    r = client.generic(
        "POST",
        url_for(hook, token_for(hook, tokens, "known")),
        b"",
        content_type="application/json",
        **{"wsgi.input": stream, "CONTENT_LENGTH": str(size)},
    )
    assert r.status_code == 413, (hook.route, r.status_code)
    assert stream.read_bytes == 0, f"{hook.route} read {stream.read_bytes} bytes first"
    event = assert_kept(before, Case("10 MB"), hook)
    assert event.body is None and "refused" in event.error
    promise("webhook_bad_input", 1, "bad inputs tried")
