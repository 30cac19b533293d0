"""Merchants see a generic reason ("the provider answered 404"); the provider's body and
the URL stay in the server log: settings page, API status_detail, last_error, events."""

from __future__ import annotations

import json
from typing import Any

import pytest

from kyc import services
from kyc.models import TransferEvent, TransferRequest

pytestmark = pytest.mark.django_db

LEAK = "SECRET-BODY-c41e internal host db-7.corp:5432"


def _leaky(status: int) -> Any:
    body = json.dumps({"message": LEAK}).encode()
    return lambda *_: (status, {"Content-Type": "application/json"}, body)


@pytest.fixture
def provider_at(captures: Any, allow_networks: Any, settings: Any) -> Any:
    def start(status: int) -> Any:
        allow_networks("127.0.0.1/32")
        return captures(answer=_leaky(status))

    return start


@pytest.mark.parametrize("status", [400, 404, 500])
def test_it_shows_a_generic_reason_on_the_settings_page(
    merchant: Any, staff_client: Any, provider_at: Any, status: int
) -> None:
    provider = provider_at(status)
    form = {
        "api_url": provider.url,
        "api_key": "k",
        "client_id": "c",
        "flow_id": "f",
        "executive_email": "e@example.com",
        "executive_password": "p",
        "test": "1",
    }
    r = staff_client.post("/providers/incode/", form, follow=True)
    page = r.content.decode()
    assert f"The provider answered {status}." in page
    assert "SECRET-BODY" not in page and "db-7.corp" not in page
    assert len(provider.seen) >= 1


def test_it_shows_a_generic_reason_in_the_api_and_on_the_account(
    merchant: Any, api: Any, staff_client: Any, provider_at: Any
) -> None:
    provider = provider_at(400)
    account = services.provider_account_get_or_create(merchant=merchant, provider="incode")
    services.provider_account_update(
        account=account,
        settings_={"api_url": provider.url, "api_key": "k", "flow_id": "f", "client_id": "c"},
        enabled=True,
    )
    r = api.post("/api/v1/transfers/", {"provider": "incode", "reference": "m1"}, format="json")
    assert r.status_code == 422
    body = r.json()
    assert body["status_detail"] == "The provider answered 400."
    assert "SECRET-BODY" not in r.content.decode()
    t = TransferRequest.objects.get(pk=body["id"])
    shown = [
        t.status_detail,
        *TransferEvent.objects.filter(transfer=t).values_list("detail", flat=True),
    ]
    assert not any("SECRET-BODY" in (s or "") for s in shown)
    detail = api.get(f"/api/v1/transfers/{body['id']}/").content.decode()
    assert "SECRET-BODY" not in detail
    page = staff_client.get(f"/transfers/{t.pk}/").content.decode()
    assert "SECRET-BODY" not in page


def test_it_records_a_generic_reason_for_a_failed_admin_token_refresh(
    merchant: Any, staff_client: Any, provider_at: Any
) -> None:
    from providers.incode import tasks

    provider = provider_at(401)
    account = services.provider_account_get_or_create(merchant=merchant, provider="incode")
    services.provider_account_update(
        account=account,
        settings_={
            "api_url": provider.url,
            "api_key": "k",
            "executive_email": "e@example.com",
            "executive_password": "p",
        },
        enabled=True,
    )
    assert tasks.refresh_admin_tokens() == 0
    account.refresh_from_db()
    assert "answered 401" in account.last_error and "SECRET-BODY" not in account.last_error
    page = staff_client.get("/providers/incode/").content.decode()
    assert "answered 401" in page and "SECRET-BODY" not in page
