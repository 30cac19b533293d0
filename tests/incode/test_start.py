"""Starting an Incode onboarding: API, customer page, the token-server endpoints of Incode's guide."""

from __future__ import annotations

from typing import Any

import requests

from kyc import services
from kyc.models import TransferRequest
from tests.incode.conftest import API_KEY, sandbox_interview


def test_it_starts_an_onboarding_through_the_api(api: Any, account: Any, sandbox: str) -> None:
    r = api.post(
        "/api/v1/transfers/",
        {"provider": "incode", "reference": "cust-42"},
        format="json",
    )
    assert r.status_code == 201, r.content
    body = r.json()
    assert body["status"] == "pending"
    t = TransferRequest.objects.get(pk=body["id"])
    assert t.provider_ref and t.deep_link.startswith(f"{sandbox}/phone/")
    assert t.qr_payload == t.deep_link and "<svg" in t.qr_svg
    assert t.provider_secrets["session_token"]
    vendor = sandbox_interview(sandbox, t.provider_ref)
    # The merchant's reference reaches Incode; the phone comes back to our page by default.
    assert vendor["externalCustomerId"] == "cust-42"
    assert vendor["redirectionUrl"].endswith(f"/t/{t.page_token}/")


def test_it_shows_the_onboarding_url_as_qr_and_phone_button(
    api: Any, account: Any, client: Any
) -> None:
    r = api.post("/api/v1/transfers/", {"provider": "incode", "reference": "c1"}, format="json")
    t = TransferRequest.objects.get(pk=r.json()["id"])
    desktop = client.get(f"/t/{t.page_token}/").content.decode()
    assert "<svg" in desktop
    phone = client.get(
        f"/t/{t.page_token}/", HTTP_USER_AGENT="Mozilla/5.0 (iPhone; CPU iPhone OS 17_0)"
    ).content.decode()
    assert f'href="{t.deep_link}"' in phone


def test_it_fails_the_request_with_the_reason_when_incode_refuses_the_key(
    api: Any, merchant: Any, sandbox: str
) -> None:
    from tests.incode.conftest import account_for

    account_for(merchant, sandbox, api_key="wrong-key")
    r = api.post("/api/v1/transfers/", {"provider": "incode", "reference": "c2"}, format="json")
    assert r.status_code == 422
    assert r.json()["failure_code"] == "provider_auth_failed"


def test_it_serves_the_token_server_start_endpoint_per_merchant(
    live_server: Any, account: Any, api_key: str, sandbox: str, other_merchant: Any
) -> None:
    url = f"{live_server.url}/api/incode/start"
    assert requests.get(url, timeout=5).status_code == 401
    assert (
        requests.get(url, headers={"Authorization": "Bearer kp_nope_nope"}, timeout=5).status_code
        == 401
    )
    r = requests.get(url, headers={"Authorization": f"Bearer {api_key}"}, timeout=10)
    assert r.status_code == 200, r.text
    body = r.json()
    assert set(body) == {"token", "interviewId", "transferId"}
    assert API_KEY not in r.text
    t = TransferRequest.objects.get(pk=body["transferId"])
    assert t.provider_ref == body["interviewId"] and t.merchant == account.merchant
    # Another merchant's key starts nothing on this merchant's account.
    _, other_key = services.api_key_create(merchant=other_merchant, name="k")
    r = requests.get(url, headers={"Authorization": f"Bearer {other_key}"}, timeout=5)
    assert r.status_code == 400
    assert not TransferRequest.objects.filter(merchant=other_merchant).exists()


def test_it_serves_the_onboarding_url_endpoint_with_a_redirect(
    live_server: Any, account: Any, api_key: str, sandbox: str
) -> None:
    auth = {"Authorization": f"Bearer {api_key}"}
    url = f"{live_server.url}/api/incode/onboarding-url"
    r = requests.get(
        url, params={"redirectUrl": "https://shop.example/done"}, headers=auth, timeout=10
    )
    assert r.status_code == 200, r.text
    body = r.json()
    assert body["url"].startswith(f"{sandbox}/phone/") and body["token"]
    assert sandbox_interview(sandbox, body["interviewId"])["redirectionUrl"] == (
        "https://shop.example/done"
    )
    bad = requests.get(url, params={"redirectUrl": "javascript:alert(1)"}, headers=auth, timeout=5)
    assert bad.status_code == 400
