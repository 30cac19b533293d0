"""The hourly Incode admin-token refresh: one tenant's failure never stops the others."""

from __future__ import annotations

import datetime as dt
from typing import Any
from unittest import mock

import pytest

from kyc import services
from kyc.models import ProviderAccount
from providers.incode import schemas, tasks
from tests import factories

pytestmark = pytest.mark.django_db


def _account(key: str) -> ProviderAccount:
    merchant = factories.MerchantFactory()
    account = services.provider_account_get_or_create(merchant=merchant, provider="incode")
    return services.provider_account_update(
        account=account,
        settings_={
            "api_url": "https://demo-api.incodesmile.com",
            "api_key": key,
            "executive_email": "e@example.com",
            "executive_password": "p",
        },
        enabled=True,
    )


@pytest.mark.parametrize(
    "failure",
    [
        RuntimeError("boom"),
        KeyError("token"),
        ValueError("bad"),
        UnicodeDecodeError("utf-8", b"", 0, 1, "x"),
    ],
)
def test_it_refreshes_every_other_tenant_when_one_fails(failure: Exception) -> None:
    broken, fine, also_fine = _account("broken"), _account("fine"), _account("also-fine")

    def login(**kw: Any) -> schemas.AdminToken:
        if kw["api_key"] == "broken":
            raise failure
        return schemas.AdminToken(
            token=f"token-{kw['api_key']}",
            expires_at=dt.datetime.now(dt.UTC) + dt.timedelta(hours=24),
        )

    with mock.patch("providers.incode.client.executive_login", side_effect=login) as called:
        assert tasks.refresh_admin_tokens() == 2
    assert called.call_count == 3
    for account, token in ((fine, "token-fine"), (also_fine, "token-also-fine")):
        account.refresh_from_db()
        assert account.state["admin_token"] == token
    broken.refresh_from_db()
    assert not (broken.state or {}).get("admin_token")
