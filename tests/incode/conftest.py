"""Incode fixtures: an account pointed at the built-in sandbox served by live_server."""

from __future__ import annotations

import json
import threading
from collections.abc import Iterator
from pathlib import Path
from typing import Any

import pytest
import requests

from kyc import sandbox_kit as kit
from kyc import services
from kyc.models import ProviderAccount, TransferRequest
from kyc.status import Status
from portal.celery import app as celery_app
from providers.incode.provider import IncodeProvider

PAYLOADS = Path(__file__).parent / "payloads"
# Planted secrets: no page an unauthenticated browser can reach may contain them.
API_KEY = "incode-planted-api-key-7Qz9"
EXEC_PASSWORD = "incode-planted-exec-pw-3Kx1"


def payload(name: str, **values: str) -> bytes:
    """A stored real payload with its <placeholders> filled in."""
    text = (PAYLOADS / f"{name}.json").read_text()
    for key, value in values.items():
        text = text.replace(f"<{key}>", value)
    return json.dumps(json.loads(text)).encode()


@pytest.fixture
def sandbox(settings: Any, public_url: str) -> str:
    """The sandbox's base URL, accepting only the planted key and executive password."""
    settings.INCODE_SANDBOX_API_KEYS = [API_KEY]
    settings.INCODE_SANDBOX_EXECUTIVE_PASSWORD = EXEC_PASSWORD
    return f"{public_url}/sandbox/incode"


def account_for(merchant: Any, sandbox_url: str, **overrides: Any) -> ProviderAccount:
    account = services.provider_account_get_or_create(merchant=merchant, provider="incode")
    cfg = {
        **IncodeProvider().sandbox_settings(sandbox_url=sandbox_url),
        "api_key": API_KEY,
        "executive_password": EXEC_PASSWORD,
        **overrides,
    }
    services.provider_account_update(account=account, settings_=cfg, enabled=True)
    return account


@pytest.fixture
def account(merchant: Any, sandbox: str, public_url: str) -> ProviderAccount:
    account = account_for(merchant, sandbox)
    # What a merchant does in Incode's dashboard: point the webhook at the portal.
    r = requests.post(
        f"{sandbox}/console/webhook",
        json={"url": f"{public_url}/hooks/incode/{account.webhook_token}/"},
        headers={"x-api-key": API_KEY},
        timeout=5,
    )
    assert r.status_code == 200
    return account


@pytest.fixture
def eager() -> Iterator[None]:
    """Run tasks inline (no worker) for tests that are not about the worker."""
    celery_app.conf.task_always_eager = True
    yield
    # A delivery the sandbox is still posting runs its tasks inline in the live server:
    # let it finish before the test's tables are emptied under it.
    for thread in threading.enumerate():
        if thread.name.startswith(kit.BACKGROUND):
            thread.join(timeout=20)
    celery_app.conf.task_always_eager = False


def start_request(api: Any, reference: str = "cust-1") -> TransferRequest:
    """Start an Incode request through the API, as a merchant does."""
    r = api.post(
        "/api/v1/transfers/", {"provider": "incode", "reference": reference}, format="json"
    )
    assert r.status_code == 201, r.content
    return TransferRequest.objects.get(pk=r.json()["id"])


def decided(t: TransferRequest) -> Any:
    """The request's status once it is no longer pending, else None (for wait_for)."""
    t.refresh_from_db()
    return t.status if t.status != Status.PENDING else None


def sandbox_interview(sandbox_url: str, interview_id: str) -> dict[str, Any]:
    r = requests.get(
        f"{sandbox_url}/console/interviews/{interview_id}",
        headers={"x-api-key": API_KEY},
        timeout=5,
    )
    assert r.status_code == 200, r.text
    return r.json()


def finish_on_phone(url: str, outcome: str) -> None:
    """What the customer does on the phone page."""
    r = requests.post(url, data={"outcome": outcome}, timeout=5)
    assert r.status_code == 200
