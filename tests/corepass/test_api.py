"""Merchant API for CorePass requests: clear 400s and clear failure states."""

from __future__ import annotations

from typing import Any
from unittest import mock
from urllib.parse import urlsplit

import pytest

from kyc.errors import PermanentError
from kyc.models import TransferRequest
from providers.corepass import client
from tests.corepass.conftest import USER

pytestmark = pytest.mark.django_db


@pytest.mark.parametrize(
    ("coreid", "problem"),
    [
        (USER[:-1], "44 characters"),
        ("zz" + USER[2:], "network prefix 'zz'"),
        (USER[:-1] + ("0" if USER[-1] != "0" else "1"), "check digits do not match"),
        ("", "missing"),
    ],
)
def test_it_answers_400_naming_the_coreid_problem(
    api: Any, account: Any, coreid: str, problem: str
) -> None:
    r = api.post(
        "/api/v1/transfers/",
        {"provider": "corepass", "reference": "c1", "coreid": coreid, "items": ["SH_EMAIL"]},
        format="json",
    )
    assert r.status_code == 400
    assert problem in r.json()["errors"]["coreid"][0]
    assert not TransferRequest.objects.exists()


def test_it_answers_400_naming_an_unknown_item(api: Any, account: Any) -> None:
    r = api.post(
        "/api/v1/transfers/",
        {"provider": "corepass", "reference": "c1", "coreid": USER, "items": ["SH_Passport_Shoe"]},
        format="json",
    )
    assert r.status_code == 400 and "SH_Passport_Shoe" in r.json()["errors"]["items"][0]


@pytest.mark.parametrize(
    ("body", "code"),
    [
        ("there is an ongoing request for this user and items", "ongoing_request"),
        ("user does not have the requested items verified", "items_not_verified"),
    ],
)
def test_it_turns_connector_400s_into_clear_failed_states(
    api: Any, account: Any, body: str, code: str
) -> None:
    def fake_call(method: str, url: str, **kw: Any) -> Any:
        if url.endswith("/verified"):
            return {"verifiedItems": ["SH_EMAIL"]}
        raise PermanentError(body, status=400)

    with mock.patch("kyc.http.call", side_effect=fake_call):
        r = api.post(
            "/api/v1/transfers/",
            {"provider": "corepass", "reference": "c1", "coreid": USER, "items": ["SH_EMAIL"]},
            format="json",
        )
    assert r.status_code == 422
    assert r.json()["status"] == "failed" and r.json()["failure_code"] == code
    assert r.json()["status_detail"]


def test_it_fails_clearly_when_no_document_has_the_field(api: Any, account: Any) -> None:
    with mock.patch.object(
        client, "verified", return_value=client.VerifiedResult(verified=("SH_EMAIL",))
    ):
        r = api.post(
            "/api/v1/transfers/",
            {"provider": "corepass", "reference": "c1", "coreid": USER, "items": ["SH_ANY_DOB"]},
            format="json",
        )
    assert r.status_code == 422
    assert r.json()["failure_code"] == "items_not_verified"
    assert "complete KYC in the CorePass app" in r.json()["status_detail"]


def test_it_tells_the_customer_on_the_page_why_the_request_failed(
    client: Any, api: Any, account: Any
) -> None:
    with mock.patch.object(
        client_module(), "verified", return_value=client_module().VerifiedResult()
    ):
        r = api.post(
            "/api/v1/transfers/",
            {"provider": "corepass", "reference": "c1", "coreid": USER, "items": ["SH_ANY_DOB"]},
            format="json",
        )
    page = client.get(urlsplit(r.json()["page_url"]).path)
    html = page.content.decode()
    assert page.status_code == 200
    # A human reason from the closed set, not the provider's or the adapter's own words.
    assert "Complete your verification in the CorePass app first." in html and "<svg" not in html
    assert "SH_ANY_DOB" not in html and "has not verified" not in html


def client_module() -> Any:
    return client
