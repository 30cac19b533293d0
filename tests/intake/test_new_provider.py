"""A new provider that only says how to check a delivery gets its webhook URL from the core,
served by the same intake as every other provider (guards, one encrypted insert, commit,
answer): one folder and one line in settings.PORTAL_PROVIDERS."""

from __future__ import annotations

import hashlib
import hmac
from typing import Any
from unittest import mock

import pytest
from django.db import connection

from kyc import services
from kyc.contract import Provider
from kyc.models import InboundEvent
from tests.contract.temporary_provider import provider_fixture, provider_source

pytestmark = pytest.mark.django_db

MODULE = "signedco_provider_for_intake_tests"
SOURCE = provider_source(
    name="signedco",
    label="SignedCo",
    secret="secret",
    preamble="""
        import hashlib
        import hmac
    """,
    provider_body="""
    def inbound_check(self, delivery):
        secret = (delivery.account.settings or {}).get("secret", "").encode()
        good = hmac.new(secret, delivery.body, hashlib.sha256).hexdigest()
        if not hmac.compare_digest(good, delivery.headers.get("x-signedco-signature", "")):
            return Verdict(401, "bad signature", state="refused", error="bad signature")
        return Verdict(200, "taken", state="received", verified=True, process=True,
                       dedupe_key="signedco:" + hashlib.sha256(delivery.body).hexdigest())
""",
)


signedco = provider_fixture("signedco", module=MODULE, source=SOURCE)


def _signed(body: bytes, secret: str) -> dict[str, str]:
    sig = hmac.new(secret.encode(), body, hashlib.sha256).hexdigest()
    return {"HTTP_X_SIGNEDCO_SIGNATURE": sig}


def test_it_serves_a_checking_provider_through_the_one_intake(
    signedco: Provider, merchant: Any, client: Any, django_capture_on_commit_callbacks: Any
) -> None:
    account = services.provider_account_get_or_create(merchant=merchant, provider="signedco")
    account.settings = {"secret": "sc-secret"}
    account.save()
    url = f"/hooks/signedco/{account.webhook_token}/"
    body = b'{"customer": "Jane Roe"}'
    with (
        mock.patch("kyc.tasks.process_inbound.delay") as delay,
        django_capture_on_commit_callbacks(execute=True),
    ):
        good = client.post(url, body, content_type="application/json", **_signed(body, "sc-secret"))
        again = client.post(
            url, body, content_type="application/json", **_signed(body, "sc-secret")
        )
        forged = client.post(url, body, content_type="application/json", **_signed(body, "nope"))
    assert (good.status_code, good.json()["message"]) == (200, "taken")
    assert again.status_code == 200 and "duplicate" in again.json()["message"]
    assert (forged.status_code, forged.json()["message"]) == (401, "bad signature")
    states = list(
        InboundEvent.objects.filter(provider="signedco")
        .order_by("pk")
        .values_list("state", flat=True)
    )
    assert states == ["received", "duplicate", "refused"]
    first = InboundEvent.objects.filter(provider="signedco").order_by("pk").first()
    delay.assert_called_once_with(first.pk)  # processed once, after the commit
    with connection.cursor() as cursor:
        cursor.execute("SELECT body FROM kyc_inboundevent WHERE id = %s", [first.pk])
        (raw,) = cursor.fetchone()
    assert b"Jane Roe" not in (raw.encode() if isinstance(raw, str) else bytes(raw))
    assert bytes(first.body) == body
    # The core's guards: a stranger's post is kept without its body, nothing else runs.
    stranger = client.post("/hooks/signedco/not-a-token/", body, content_type="application/json")
    assert stranger.status_code == 404
    kept = InboundEvent.objects.filter(provider="signedco").order_by("pk").last()
    assert kept.state == "refused" and kept.body is None
