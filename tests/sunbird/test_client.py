"""The client against the sandbox: headers, the Keycloak token, its cache and renewal."""

from __future__ import annotations

import datetime as dt
from typing import Any
from unittest import mock

import pytest
import requests

from kyc.errors import AuthenticationError
from providers.sunbird import client, services
from providers.sunbird.provider import SunbirdProvider


def _cfg(live_server: Any, **over: Any) -> client.Config:
    s = SunbirdProvider().sandbox_settings(sandbox_url=f"{live_server.url}/sandbox/sunbird")
    s.update(over)
    return client.Config.from_settings(s)


def test_it_gets_a_user_token_and_sends_it_with_the_api_key(
    live_server: Any, public_url: str
) -> None:
    now = dt.datetime.now(dt.UTC)
    cfg = _cfg(live_server)
    info = client.fetch_token(cfg, now=now)
    assert info.access_token and info.expires_at > now + dt.timedelta(seconds=200)
    with pytest.raises(AuthenticationError):
        client.fetch_token(_cfg(live_server, password="wrong"), now=now)
    token = info.access_token
    orgs = client.org_search(cfg)
    assert {o.id for o in orgs} >= {"0126876528934010882"}
    with pytest.raises(AuthenticationError):
        client.org_search(_cfg(live_server, api_key="nope"))
    with pytest.raises(AuthenticationError):
        client.assign_keys(cfg, org_id=orgs[0].id, sign_keys=["a"], enc_keys=["b"], user_token="x")
    answer = client.assign_keys(
        cfg, org_id=orgs[0].id, sign_keys=["a"], enc_keys=["b"], user_token=token
    )
    assert answer["response"] == "SUCCESS"
    assert client.org_keys(cfg, org_id=orgs[0].id, user_token=token)["signKeys"] == ["a"]


def test_it_is_refused_once_the_sandbox_token_expired(live_server: Any, public_url: str) -> None:
    import time

    requests.post(f"{live_server.url}/sandbox/sunbird/console/token-ttl", json={"seconds": 1})
    cfg = _cfg(live_server)
    info = client.fetch_token(cfg, now=dt.datetime.now(dt.UTC))
    assert info.expires_at - dt.datetime.now(dt.UTC) <= dt.timedelta(seconds=1)
    time.sleep(1.2)  # the cache TTL is whole seconds
    with pytest.raises(AuthenticationError):
        client.org_keys(cfg, org_id="0126876528934010882", user_token=info.access_token)


def test_it_treats_a_token_near_expiry_as_expired() -> None:
    now = dt.datetime(2026, 1, 1, tzinfo=dt.UTC)
    state = {
        "user_token": "t",
        "user_token_expires_at": (now + dt.timedelta(seconds=20)).isoformat(),
    }
    assert client.token_from_state(state, now=now) is None
    state["user_token_expires_at"] = (now + dt.timedelta(seconds=120)).isoformat()
    assert client.token_from_state(state, now=now) == "t"


def test_it_uses_configured_paths() -> None:
    cfg = client.Config.from_settings(
        {"base_url": "https://sb.example/", "path_issue": "/v1/course/batch/cert/issue"}
    )
    assert cfg.url("issue") == "https://sb.example/v1/course/batch/cert/issue"
    assert cfg.url("content_update", course_id="do_1/x") == (
        "https://sb.example/action/system/v3/content/update/do_1%2Fx"
    )
    assert cfg.url("token", realm="sunbird").endswith(
        "/auth/realms/sunbird/protocol/openid-connect/token"
    )


@pytest.mark.django_db(transaction=True)
def test_it_caches_the_token_encrypted_and_renews_it_before_expiry(
    merchant: Any, account: Any, sandbox: Any
) -> None:
    session = services._Session(merchant)
    first = session.token()
    assert services._Session(merchant).token() == first  # cached in ProviderAccount.state
    assert sandbox.counts()["token"] == 1
    account.refresh_from_db()
    assert account.state["user_token"] == first
    from django.db import connection

    with connection.cursor() as cur:
        cur.execute("SELECT state FROM kyc_provideraccount WHERE id = %s", [account.pk])
        assert first not in cur.fetchone()[0]  # encrypted at rest
    later = dt.datetime.now(dt.UTC) + dt.timedelta(seconds=280)
    with mock.patch("providers.sunbird.services.session.timezone.now", return_value=later):
        second = services._Session(merchant).token()
    assert second != first and sandbox.counts()["token"] == 2


@pytest.mark.django_db(transaction=True)
def test_it_gets_a_new_token_when_sunbird_says_401(
    merchant: Any, account: Any, live_server: Any
) -> None:
    session = services._Session(merchant)
    first = session.token()
    # Keycloak forgot the token (restart, logout): the next call gets 401, then renews.
    requests.post(f"{live_server.url}/sandbox/sunbird/console/revoke-tokens")
    keys = session.call(
        lambda t: client.org_keys(session.cfg, org_id="0126876528934010882", user_token=t)
    )
    assert keys == {"signKeys": [], "encKeys": []}
    assert account.__class__.objects.get(pk=account.pk).state["user_token"] != first
