"""The merchant's Blockpass settings page: write-only secrets, rotation with a grace period."""

from __future__ import annotations

from typing import Any

import pytest

from kyc.models import ProviderAccount
from tests.blockpass.conftest import SECRET, deliver, payload

pytestmark = pytest.mark.django_db


def _save(client: Any, **values: Any) -> Any:
    data = {
        "api_url": "https://kyc.blockpass.org",
        "client_id": "svc",
        "acct-enabled": "on",
        "allow_cert_promise": "on",
        **values,
    }
    return client.post("/providers/blockpass/", data)


def test_it_rotates_the_webhook_secret_and_accepts_both_for_a_while(
    staff_client: Any, client: Any
) -> None:
    assert _save(staff_client, client_secret="cs", webhook_secret=SECRET).status_code == 302
    account = ProviderAccount.objects.get(provider="blockpass")
    page = staff_client.get("/providers/blockpass/")
    assert SECRET.encode() not in page.content  # secrets are write-only
    assert account.webhook_token.encode() in page.content  # the webhook URL is shown
    assert _save(staff_client, webhook_secret="whsec-rotated").status_code == 302
    account.refresh_from_db()
    assert account.settings["client_secret"] == "cs"
    assert account.settings["webhook_secret"] == "whsec-rotated"
    assert account.settings["allow_cert_promise"] is True
    body = payload("serviceInfo.updated")
    assert deliver(client, account, body, secret=SECRET).status_code == 200
    assert deliver(client, account, body, secret="whsec-rotated").status_code == 200
    assert deliver(client, account, body, secret="something-else").status_code == 401
