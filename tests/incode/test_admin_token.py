"""The admin token: 24 hours, refreshed by beat before it expires, on 401, failures shown."""

from __future__ import annotations

import datetime as dt
import time
from typing import Any

import pytest
import requests
from django.conf import settings
from django.utils import timezone

from kyc.errors import AuthenticationError
from kyc.models import ProviderAccount
from providers.incode import client, services, tasks
from providers.incode.provider import IncodeProvider
from tests.incode.conftest import API_KEY, account_for


def _state(account: Any) -> dict[str, Any]:
    account.refresh_from_db()
    return account.state


def test_it_schedules_the_refresh_on_beat() -> None:
    entry = settings.CELERY_BEAT_SCHEDULE["incode-refresh-admin-tokens"]
    assert entry["task"] == "kyc.flows.incode.tasks.refresh_admin_tokens"
    # Often enough that a token is replaced inside its 2 h margin before the 24 h are up.
    assert float(entry["schedule"]) <= 3600
    from portal.celery import app

    assert "kyc.flows.incode.tasks.refresh_admin_tokens" in app.tasks


def test_it_replaces_a_24_hour_old_token_before_use(account: Any) -> None:
    t0 = timezone.now()
    first = services.admin_token_get(account_id=account.pk, now=t0)
    state = _state(account)
    assert state["admin_token"] == first
    assert dt.datetime.fromisoformat(state["admin_token_expires_at"]) > t0 + dt.timedelta(hours=23)
    # An hour later the cached token is used as is: no second login.
    assert services.admin_token_get(account_id=account.pk, now=t0 + dt.timedelta(hours=1)) == first
    # 24 hours later (controlled clock) it is replaced before it is used.
    later = t0 + dt.timedelta(hours=24)
    second = services.admin_token_get(account_id=account.pk, now=later)
    assert second != first
    assert _state(account)["admin_token_issued_at"] == later.isoformat()
    # New credentials (another executive, key or API URL): the old token is not reused.
    account.settings = {**account.settings, "executive_email": "new@x.test"}
    account.save()
    third = services.admin_token_get(account_id=account.pk, now=later)
    assert third != second


def test_it_refreshes_once_on_401_and_succeeds(account: Any, sandbox: str) -> None:
    token = services.admin_token_get(account_id=account.pk)
    # Incode revokes the token early (the sandbox's console expires it): the next call gets 401.
    requests.post(
        f"{sandbox}/console/expire-admin-tokens", headers={"x-api-key": API_KEY}, timeout=5
    )
    with pytest.raises(AuthenticationError):
        client.get_score(api_url=sandbox, api_key=API_KEY, admin_token=token, interview_id="x")
    calls: list[str] = []

    def score(tok: str) -> Any:
        calls.append(tok)
        return client.get_score(api_url=sandbox, api_key=API_KEY, admin_token=tok, interview_id="x")

    # No interview "x": the 404 proves the second call got past authentication.
    with pytest.raises(Exception, match="404"):
        services.with_admin_token(account_id=account.pk, call=score)
    assert len(calls) == 2 and calls[0] == token and calls[1] != token
    assert _state(account)["admin_token"] == calls[1]


def test_it_retries_only_once_when_401_persists(account: Any) -> None:
    calls: list[str] = []

    def always_401(tok: str) -> None:
        calls.append(tok)
        raise AuthenticationError("401", status=401)

    with pytest.raises(AuthenticationError):
        services.with_admin_token(account_id=account.pk, call=always_401)
    assert len(calls) == 2


def test_it_records_and_shows_a_failed_refresh(
    merchant: Any, sandbox: str, staff_client: Any
) -> None:
    account = account_for(merchant, sandbox, executive_password="wrong-password")
    assert tasks.refresh_admin_tokens() == 0
    account.refresh_from_db()
    assert "refresh failed" in account.last_error and "401" in account.last_error
    # The provider's body ("Invalid email or password") is never reflected to the merchant.
    assert "answered 401" in account.state["admin_token_error"]
    assert "Invalid email" not in account.state["admin_token_error"]
    lines = dict(IncodeProvider().describe_state(state=account.state))
    assert "answered 401" in lines["Last admin token refresh failed"]
    page = staff_client.get("/providers/incode/").content.decode()
    assert "Last admin token refresh failed" in page and "wrong-password" not in page
    # Fixed credentials: the next run succeeds and clears the error.
    account.settings = {**account.settings, "executive_password": sandbox_password()}
    account.save()
    assert tasks.refresh_admin_tokens() == 1
    account.refresh_from_db()
    assert account.last_error == "" and account.state["admin_token_error"] == ""
    assert "Admin token expires" in staff_client.get("/providers/incode/").content.decode()


def sandbox_password() -> str:
    from tests.incode.conftest import EXEC_PASSWORD

    return EXEC_PASSWORD


def test_it_refreshes_every_due_merchant_and_leaves_fresh_tokens(
    account: Any, other_merchant: Any, sandbox: str
) -> None:
    other = account_for(other_merchant, sandbox)
    t0 = timezone.now()
    assert services.admin_tokens_refresh_due(now=t0) == 2
    tokens = {
        a.pk: a.state["admin_token"] for a in ProviderAccount.objects.filter(provider="incode")
    }
    assert services.admin_tokens_refresh_due(now=t0 + dt.timedelta(hours=21)) == 0
    # 22 h: inside the margin, the hourly run replaces them before they expire.
    assert services.admin_tokens_refresh_due(now=t0 + dt.timedelta(hours=22, minutes=1)) == 2
    for a in ProviderAccount.objects.filter(provider="incode"):
        assert a.state["admin_token"] != tokens[a.pk]
    assert other.pk in tokens


def test_it_gets_tokens_from_the_sandbox_that_really_expire(
    account: Any, sandbox: str, settings: Any
) -> None:
    settings.INCODE_SANDBOX_TOKEN_SECONDS = 1
    now = timezone.now()
    token = client.executive_login(
        api_url=sandbox, api_key=API_KEY, email="e@x.test", password=sandbox_password(), now=now
    )
    assert token.expires_at <= now + dt.timedelta(seconds=2)  # read from the token itself
    with pytest.raises(Exception, match="404"):  # valid: gets past authentication
        client.get_score(
            api_url=sandbox, api_key=API_KEY, admin_token=token.token, interview_id="x"
        )
    time.sleep(1.2)
    with pytest.raises(AuthenticationError):
        client.get_score(
            api_url=sandbox, api_key=API_KEY, admin_token=token.token, interview_id="x"
        )
