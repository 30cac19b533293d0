"""Posts to /hooks/<provider>/<token>/ with a token that matches nothing: limited per
address before anything is written, and kept as metadata only (no body)."""

from __future__ import annotations

import secrets

import pytest

from kyc.models import InboundEvent
from tests.abuse.hooks import hooks, url_for

pytestmark = pytest.mark.django_db

HOOKS = hooks()
BODY = b'{"status": "FINISH_SUCCESS", "padding": "' + b"x" * 50_000 + b'"}'


@pytest.mark.parametrize("hook", HOOKS, ids=[h.name for h in HOOKS])
def test_it_keeps_no_body_for_an_unknown_token(hook, client) -> None:
    url = url_for(hook, secrets.token_urlsafe(24))
    r = client.post(url, BODY, content_type="application/json")
    assert r.status_code == 404, (hook.route, r.status_code)
    assert r.json()["message"]
    events = list(InboundEvent.objects.all())
    assert len(events) == 1, "one metadata record per refused post"
    event = events[0]
    assert event.body is None and event.body_size == 0, f"{hook.route} kept the body"
    assert event.state == InboundEvent.State.REFUSED
    assert "unknown token" in event.error and str(len(BODY)) in event.error
    assert event.provider == hook.provider and event.remote_addr == "127.0.0.1"
    assert set(event.headers) <= {"content-type", "content-length", "user-agent", "x-forwarded-for"}


@pytest.mark.parametrize("hook", HOOKS, ids=[h.name for h in HOOKS])
def test_it_limits_unknown_tokens_per_address_before_any_write(hook, client, settings) -> None:
    settings.UNKNOWN_HOOK_RATE_LIMIT_PER_MINUTE = 3
    codes = [
        client.post(
            url_for(hook, secrets.token_urlsafe(24)), BODY, content_type="application/json"
        ).status_code
        for _ in range(6)
    ]
    assert codes == [404, 404, 404, 429, 429, 429], (hook.route, codes)
    assert InboundEvent.objects.count() == 3, "a refused (429) post was stored"
    other = client.post(
        url_for(hook, secrets.token_urlsafe(24)),
        b"{}",
        content_type="application/json",
        REMOTE_ADDR="10.7.7.7",
    )
    assert other.status_code == 404  # another address has its own budget
