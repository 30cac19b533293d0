"""The one intake: every provider's inbound endpoint runs the same guards and the same
receive (store once, encrypted; verify; apply in one transaction; answer after commit)."""

from __future__ import annotations

import time
from typing import Any
from unittest import mock

import pytest
from django.urls import URLPattern, URLResolver, get_resolver

from kyc.models import InboundEvent, TransferEvent
from kyc.status import Status
from providers.corepass import sandbox
from tests.contract.deliveries import (
    blockpass_account,
    blockpass_resolved,
    blockpass_webhook,
    post,
)
from tests.corepass.conftest import deliver, make_account, make_transfer, sandbox_req

pytestmark = pytest.mark.django_db(transaction=True)


def _hook_views(patterns: list[Any], prefix: str = "") -> list[tuple[str, Any]]:
    found = []
    for p in patterns:
        route = prefix + str(p.pattern).lstrip("^")
        if isinstance(p, URLResolver):
            found += _hook_views(p.url_patterns, route)
        elif isinstance(p, URLPattern) and route.startswith("hooks/"):
            found.append((route, p.callback))
    return found


def test_it_guards_every_inbound_view_with_the_intake_decorator() -> None:
    views = _hook_views(get_resolver().url_patterns)
    assert {r.split("/")[1] for r, _ in views} >= {"blockpass", "corepass", "incode", "portmone"}
    for route, view in views:
        assert getattr(view, "inbound_guarded", False), route
        # declared on the view itself, not added when the URLs were mounted
        assert view.__module__.startswith("providers."), (route, view.__module__)


def test_it_keeps_a_callback_it_could_not_apply_and_answers_503(client: Any, merchant: Any) -> None:
    transfer = make_transfer(make_account(merchant))
    now = int(time.time())
    body = sandbox.status_body(sandbox_req(transfer), "ACCEPTED", "", now=now)
    with mock.patch("providers.corepass.services.callback_apply", side_effect=RuntimeError("boom")):
        r = deliver(client, transfer, "status", body, now=now)
    assert r.status_code == 503 and r["Content-Type"] == "application/json"
    event = InboundEvent.objects.get(transfer=transfer)  # one row: the rolled-back one is gone
    assert event.state == InboundEvent.State.RECEIVED and event.body  # for the sweeper
    transfer.refresh_from_db()
    assert transfer.status == Status.PENDING  # nothing half-applied
    assert not TransferEvent.objects.filter(transfer=transfer).exists()
    # Positive control: the same callback again, applying works, applied once.
    r = deliver(client, transfer, "status", body, now=now)
    assert r.status_code == 200
    transfer.refresh_from_db()
    assert transfer.status == Status.ACCEPTED


def test_it_answers_a_duplicate_delivery_200_without_effect(client: Any, merchant: Any) -> None:
    account = blockpass_account(merchant, webhook_secret="s3cret-dup")
    d = blockpass_webhook(account, blockpass_resolved("bp-cost-1", env="QA"), secret="s3cret-dup")
    with mock.patch("kyc.tasks.process_inbound.delay") as delay:
        first, again = post(client, d), post(client, d)
    assert (first.status_code, again.status_code) == (200, 200)
    assert again.json()["message"] == "duplicate delivery, no effect"
    assert delay.call_count == 1  # processed once
    states = sorted(InboundEvent.objects.filter(account=account).values_list("state", flat=True))
    assert states == ["duplicate", "received"]


def test_it_refuses_an_unknown_token_with_one_lookup_and_keeps_no_body(
    client: Any, merchant: Any
) -> None:
    from tests.intake.conftest import cost

    with cost() as spent:
        r = client.post(
            "/hooks/corepass/t/not-a-token/status",
            b'{"secret": 1}',
            content_type="application/json",
        )
    assert r.status_code == 404
    kept = InboundEvent.objects.get(provider="corepass")
    assert kept.state == InboundEvent.State.REFUSED and kept.body is None
    assert "unknown token" in kept.error
    assert len(spent.queries) == 2, spent  # the token lookup, the metadata insert


def test_it_keeps_every_header_as_request_headers_has_it() -> None:
    from django.test import RequestFactory

    from kyc.webhooks import headers_of

    request = RequestFactory().post(
        "/hooks/blockpass/x/",
        data=b"{}",
        content_type="application/json",
        HTTP_X_BLOCKPASS_SIGNATURE="ab12",
        HTTP_USER_AGENT="Blockpass-Webhook/1.0",
        HTTP_ACCEPT_ENCODING="gzip",
    )
    got = headers_of(request)
    assert got == {k.lower(): v for k, v in request.headers.items()}
    assert got["x-blockpass-signature"] == "ab12"
    assert got["content-type"] == "application/json" and got["content-length"] == "2"
    assert not any(k.startswith(("http", "wsgi", "server", "remote")) for k in got)
