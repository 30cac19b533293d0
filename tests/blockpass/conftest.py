"""Blockpass fixtures: an account (and one on the live sandbox), a registered record, inline
processing, and a one-line delivery helper."""

from __future__ import annotations

import datetime as dt
import uuid
from collections.abc import Iterator
from pathlib import Path
from typing import Any
from unittest import mock

import pytest
from django.utils import timezone

from kyc import services as kyc_services
from kyc.contract import FieldValue
from kyc.models import KYCRecord, ProviderAccount
from providers.blockpass import services, signature
from providers.blockpass.schemas import Token
from tests import factories

PAYLOADS = Path(__file__).parent / "payloads"
SECRET = "whsec-test-0123456789"
BPID = "5df31xxxxxxxxx7ece6e"  # blockpassID of Blockpass's certPormise.resolved sample


def payload(name: str) -> bytes:
    return (PAYLOADS / f"{name}.json").read_bytes().strip()


def bp_settings(api_url: str = "http://blockpass.invalid") -> dict[str, Any]:
    return {
        "api_url": api_url,
        "client_id": "demo_service",
        "client_secret": "demo-client-secret",
        "webhook_secret": SECRET,
        "allow_cert_promise": True,
        "required_fields": "email,given_name",
        "optional_fields": "phone",
        "certificates": "onfido-service-cert",
    }


@pytest.fixture
def account(merchant: Any) -> ProviderAccount:
    return ProviderAccount.objects.create(
        merchant=merchant, provider="blockpass", enabled=True, settings=bp_settings()
    )


@pytest.fixture
def inline_processing() -> Iterator[mock.MagicMock]:
    """Process accepted deliveries right away, as a worker would."""
    with mock.patch(
        "providers.blockpass.services._enqueue_process",
        side_effect=lambda pk: services.inbound_process(event_id=pk),
    ) as m:
        yield m


@pytest.fixture
def enqueued() -> Iterator[mock.MagicMock]:
    """Record the pulls a delivery asks for instead of running them."""
    with mock.patch("providers.blockpass.services._enqueue_pull") as m:
        yield m


@pytest.fixture
def bp_record(account: ProviderAccount) -> KYCRecord:
    record = kyc_services.record_get_or_create(
        merchant=account.merchant, reference="cust-1", provider="blockpass", external_id=BPID
    )
    token = Token(
        access_token="acc-1",
        refresh_token="ref-1",
        expires_at=timezone.now() + dt.timedelta(hours=1),
    )
    record.secrets = {"blockpass_token": token.to_dict()}
    record.save()
    return record


def upload(record: KYCRecord, capture: Any) -> None:
    """What an upload from the Blockpass app stores (fields, a certificate); `capture` is
    django_capture_on_commit_callbacks, so the review status is computed on commit."""
    with capture(execute=True):
        kyc_services.identity_fields_store(
            record=record,
            provider="blockpass",
            fields=[FieldValue("email", "a@b.c"), FieldValue("given_name", "Ada")],
        )
        factories.CertificateFactory(record=record, external_id=f"cp-{record.pk}", raw=b"x")


def deliver(
    client: Any,
    account: ProviderAccount,
    body: bytes,
    *,
    secret: str | None = SECRET,
    delivery: str | None = None,
    sig: str | None = None,
    event: str = "",
) -> Any:
    """POST one webhook delivery the way Blockpass does."""
    headers = {"HTTP_X_BLOCKPASS_DELIVERY": delivery or str(uuid.uuid4())}
    if event:
        headers["HTTP_X_BLOCKPASS_EVENT"] = event
    if sig is None and secret is not None:
        sig = signature.sign(body, secret)
    if sig is not None:
        headers["HTTP_X_BLOCKPASS_SIGNATURE"] = sig
    return client.post(
        f"/hooks/blockpass/{account.webhook_token}/",
        data=body,
        content_type="application/json",
        **headers,
    )


@pytest.fixture
def sandbox(public_url: str) -> str:
    """The built-in sandbox's base URL, served by live_server."""
    return f"{public_url}/sandbox/blockpass"


@pytest.fixture
def live_account(public_url: str, sandbox: str, merchant: Any) -> ProviderAccount:
    """An account pointed at the live sandbox, whose console points back at the portal."""
    from providers.blockpass import sandbox as service

    account = ProviderAccount.objects.create(
        merchant=merchant,
        provider="blockpass",
        enabled=True,
        settings=bp_settings(api_url=sandbox),
    )
    service.service_configure(
        client_id="demo_service",
        client_secret="demo-client-secret",
        webhook_secret=SECRET,
        merchant_url=f"{public_url}/hooks/blockpass/{account.webhook_token}/",
    )
    return account
