"""Starting a Portmone data share: token fetched and cached server-side, QR from the code."""

import pytest
from django.db import connection

from kyc.models import TransferRequest
from providers.portmone import sandbox
from providers.portmone.provider import PortmoneProvider


def _create(api, **extra):
    body = {"provider": "portmone", "reference": "cust-1", **extra}
    return api.post("/api/v1/transfers/", body, format="json")


def _raw(table: str, column: str, pk) -> str:
    with connection.cursor() as cur:
        cur.execute(f"SELECT {column} FROM {table} WHERE id = %s", [pk])
        return cur.fetchone()[0]


@pytest.mark.django_db
def test_it_creates_a_share_request_and_renders_the_qr_from_its_code(api, account) -> None:
    r = _create(api, items=["age_over_18", "full_name"])
    assert r.status_code == 201, r.content
    t = TransferRequest.objects.get(pk=r.json()["id"])
    assert t.status == "pending"
    assert t.items == ["age_over_18", "full_name"]
    assert t.provider_ref and t.qr_payload.startswith("http://testserver/sandbox/portmone/phone/")
    assert t.qr_svg.startswith("<svg")
    assert t.expires_at is not None
    share = sandbox._load(t.provider_ref)
    assert share["facts"] == ["age_over_18", "full_name"]
    assert share["reference"] == str(t.pk)


@pytest.mark.django_db
def test_it_caches_the_token_encrypted_and_reuses_it(api, account) -> None:
    assert _create(api).status_code == 201
    assert _create(api, reference="cust-2").status_code == 201
    assert sandbox.stats()["issued"] == 1
    account.refresh_from_db()
    token = account.state["token"]
    assert token.startswith("pmt_")
    assert token not in _raw("kyc_provideraccount", "state", account.pk)


@pytest.mark.django_db
def test_it_asks_for_the_default_facts_when_none_are_named(api, account) -> None:
    r = _create(api)
    assert r.json()["items"] == ["age_over_18", "full_name"]


@pytest.mark.django_db
def test_it_refuses_a_malformed_fact_name(api, account) -> None:
    r = _create(api, items=["age over 18"])
    assert r.status_code == 400
    assert r.json()["code"] == "invalid" and "items" in r.json()["errors"]


@pytest.mark.django_db
def test_it_fails_the_request_with_the_providers_reason_for_an_unknown_fact(api, account) -> None:
    r = _create(api, items=["shoe_size"])
    assert r.status_code == 422
    assert r.json()["status"] == "failed"
    # The provider's own words stay in the server log: a generic reason here.
    assert "answered 400" in r.json()["status_detail"]


@pytest.mark.django_db
def test_it_reports_wrong_credentials_on_the_request_and_the_settings_page(
    api, account, staff_client
) -> None:
    account.settings = {**account.settings, "password": "wrong"}
    account.save()
    r = _create(api)
    assert r.status_code == 422
    assert r.json()["failure_code"] == "provider_auth_failed"
    assert "refused the partner login and password" in r.json()["status_detail"]
    account.refresh_from_db()
    assert "refused the partner login and password" in account.last_error
    page = staff_client.get("/providers/portmone/").content.decode()
    assert "refused the partner login and password" in page


@pytest.mark.django_db
def test_it_uses_the_paths_from_the_settings(api, account) -> None:
    account.settings = {**account.settings, "create_path": "/api/v1/nope"}
    account.save()
    r = _create(api)
    assert r.status_code == 422
    assert r.json()["failure_code"] == "provider_not_found"


@pytest.mark.django_db
def test_it_knows_nothing_of_a_token_issued_for_other_credentials(account) -> None:
    from providers.portmone import provider as a
    from providers.portmone.client import ClientConfig

    cfg = ClientConfig.from_settings(account.settings)
    other = ClientConfig.from_settings({**account.settings, "login": "someone-else"})
    import datetime as dt

    now = dt.datetime.now(dt.UTC)
    state = a.token_state(a.client.Token("t1", now + dt.timedelta(hours=1)), cfg, now)
    assert a.cached_token(state, cfg, now) == "t1"
    assert a.cached_token(state, other, now) is None
    assert a.cached_token(state, cfg, now + dt.timedelta(minutes=59, seconds=45)) is None


def test_it_describes_the_cached_token_without_showing_it() -> None:
    lines = dict(
        PortmoneProvider().describe_state(
            state={"token": "pmt_secret", "token_expires_at": "2999-01-01T00:00:00+00:00"}
        )
    )
    assert lines["Partner token"].startswith("cached, valid until 2999-01-01")
    assert "pmt_secret" not in str(lines)


def test_it_starts_the_poll_chain_once_the_request_is_committed(
    api, account, django_capture_on_commit_callbacks
) -> None:
    from unittest import mock

    with mock.patch("providers.portmone.tasks.start_polling") as start:
        with django_capture_on_commit_callbacks(execute=True):
            r = _create(api)
        assert r.status_code == 201
        start.assert_called_once_with(r.json()["id"])
        with django_capture_on_commit_callbacks(execute=True):
            assert _create(api, items=["shoe_size"]).status_code == 422
        start.assert_called_once()  # a request the provider refused is not polled
