"""CorePass test helpers: the documented sample payloads, accounts (one on the live sandbox connector),
transfers, signed deliveries."""

from __future__ import annotations

import json
from pathlib import Path
from typing import Any
from unittest import mock

import pytest
import requests

from kyc.models import ProviderAccount, TransferRequest
from kyc.status import Status
from providers.corepass import sandbox as connector_sandbox
from tests.conftest import wait_for

PAYLOADS = Path(__file__).parent / "payloads"
SEED_COREIDS = (
    "ab22b1671b4f7ccc0b16a87514adde84513b6348232e",
    "ab72a31c718d343b45e558099ec503087f734433785d",
    "ab148af5f9cdad10beddb05fbec4a3bef02577130e56",
    "ab432e666932c53128d9f73712b058a7a8f7df52f5cb",
    "ab06b37c90098790e90bbcd56a701e50ec8b51b6bd5e",
    "ab29abcf6455efb099ebe820f50d67b96f540e935fa6",
)
USER = "ab148af5f9cdad10beddb05fbec4a3bef02577130e56"


def stored(name: str) -> dict[str, Any]:
    """One real payload per event type, as printed in the connector's integration document."""
    return json.loads((PAYLOADS / f"{name}.json").read_text())


def make_account(
    merchant: Any, *, key_hex: str | None = None, url: str = "http://connector.invalid"
) -> ProviderAccount:
    account, _ = ProviderAccount.objects.update_or_create(
        merchant=merchant,
        provider="corepass",
        defaults={
            "enabled": True,
            "settings": {
                "connector_url": url,
                "connector_public_key": key_hex or connector_sandbox.public_key_hex(),
                "default_items": "SH_EMAIL",
            },
        },
    )
    return account


def make_transfer(
    account: ProviderAccount, *, subject: str = USER, items: list[str] | None = None
) -> TransferRequest:
    from kyc.services import record_get_or_create

    reference = f"ref-{TransferRequest.objects.count()}"
    return TransferRequest.objects.create(
        merchant=account.merchant,
        account=account,
        provider="corepass",
        record=record_get_or_create(
            merchant=account.merchant, reference=reference, provider="corepass"
        ),
        reference=reference,
        subject=subject,
        items=items or ["SH_EMAIL"],
        status=Status.PENDING,
        provider_status="PENDING",
        provider_rank=1,
    )


def sample_transfer(
    merchant: Any, name: str, *, subject: str | None = None, items: list[str] | None = None
) -> tuple[TransferRequest, dict[str, Any]]:
    """A request the stored sample `name` answers: its account trusts the sample's signing
    key, its customer is the sample's (or `subject`), its items are `items`, else the
    sample's own, else SH_EMAIL. Returns the request and the sample's payload."""
    sample = stored(name)
    payload = sample["payload"]
    account = make_account(merchant, key_hex=sample["signer_public_key_hex"])
    transfer = make_transfer(
        account, subject=subject or payload["user"], items=items or payload.get("items")
    )
    return transfer, payload


def deliver(
    client: Any,
    transfer: TransferRequest,
    kind: str,
    payload: Any,
    *,
    now: int | None = None,
    multipart: bool = False,
) -> Any:
    """POST a callback to the request's URL with the callback clock set to `now`."""
    url = f"/hooks/corepass/t/{transfer.callback_token}/{kind}"
    patch = (
        mock.patch("providers.corepass.services.now_ts", return_value=now)
        if now is not None
        else mock.patch.object(object, "__doc__")
    )
    with patch:
        if multipart:
            return client.post(url, data=payload)
        return client.post(url, data=json.dumps(payload), content_type="application/json")


def sandbox_req(transfer: TransferRequest, *, expiration: int = 2_000_000_000) -> dict[str, Any]:
    return {
        "id": "x",
        "user": transfer.subject,
        "items": list(transfer.items),
        "expiration": expiration,
    }


def mark_delivered(transfer: TransferRequest) -> None:
    """The connector has shown it delivered this request's data (a verified CALLBACK_SUCCEED
    status callback or its /kyc/status would): kept data deliveries may now be applied.
    For the documented data sample, whose signing key signed no status sample."""
    from providers.corepass import services

    services.transfer_data_ready(transfer_id=transfer.pk, by="test: connector")


def status_callback(
    client: Any, transfer: TransferRequest, status: str, *, now: int, tx_hash: str = ""
) -> Any:
    """Deliver the sandbox connector's signed status callback `status` for this request."""
    body = connector_sandbox.status_body(sandbox_req(transfer), status, tx_hash, now=now)
    response = deliver(client, transfer, "status", body, now=now)
    assert response.status_code == 200, response.json()
    return response


def approved_silently(api: Any, reference: str = "r1") -> tuple[dict[str, Any], str]:
    """Start a request through the API and have the sandbox phone approve it in silent mode
    (the connector sends no callback). Returns the API's answer and the sandbox's request
    id once the sandbox has finished the request."""
    created = api.post(
        "/api/v1/transfers/",
        {"provider": "corepass", "reference": reference, "coreid": USER, "items": ["SH_EMAIL"]},
        format="json",
    ).json()
    requests.post(created["deep_link"] + "approve?mode=silent", timeout=10)
    rid = created["deep_link"].rstrip("/").rsplit("/", 1)[-1]
    wait_for(
        lambda: connector_sandbox.get_request(rid)["statuses"][-1]["status"] == "FINISH_SUCCESS",
        10,
    )
    return created, rid


@pytest.fixture
def account(merchant: Any) -> ProviderAccount:
    return make_account(merchant)


@pytest.fixture
def sandbox(public_url: str) -> str:
    """The built-in connector sandbox's base URL, served by live_server."""
    return f"{public_url}/sandbox/corepass"


@pytest.fixture
def live_account(merchant: Any, sandbox: str) -> ProviderAccount:
    """An account whose connector is the live sandbox (and its signing key)."""
    return make_account(merchant, url=sandbox)
