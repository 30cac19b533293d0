"""The merchant's Incode settings page, staff-started requests, the sandbox's key checks."""

from __future__ import annotations

from typing import Any

import requests

from kyc.models import TransferRequest
from kyc.status import Status
from tests.incode.conftest import API_KEY, EXEC_PASSWORD, account_for


def test_it_lists_every_setting_and_never_renders_secrets(account: Any, staff_client: Any) -> None:
    page = staff_client.get("/providers/incode/").content.decode()
    for name in (
        "api_url",
        "api_key",
        "client_id",
        "flow_id",
        "executive_email",
        "executive_password",
        "auto_approve",
    ):
        assert f'name="{name}"' in page
    assert API_KEY not in page and EXEC_PASSWORD not in page
    assert f"/hooks/incode/{account.webhook_token}/" in page
    assert "Admin token" in page


def test_it_tests_the_connection_with_an_executive_login(
    merchant: Any, sandbox: str, staff_client: Any
) -> None:
    account_for(merchant, sandbox)
    # Test connection tests what the form submits; blank secrets use the stored ones
    # because the API URL is unchanged.
    form = {
        "api_url": sandbox,
        "client_id": "demo-client",
        "flow_id": "demo-flow",
        "executive_email": "exec@example.com",
        "test": "1",
    }
    r = staff_client.post("/providers/incode/", form, follow=True)
    assert "Connection works" in r.content.decode()
    r = staff_client.post("/providers/incode/", {**form, "executive_password": "nope"}, follow=True)
    assert "Connection failed (provider_auth_failed)" in r.content.decode()


def test_it_starts_an_onboarding_from_the_staff_page(account: Any, staff_client: Any) -> None:
    r = staff_client.post("/transfers/new/", {"provider": "incode", "reference": "desk-1"})
    assert r.status_code == 302
    t = TransferRequest.objects.get(reference="desk-1")
    assert t.status == Status.PENDING and t.provider_ref and t.created_by is not None


SANDBOX_CALLS = (
    ("POST", "omni/start"),
    ("GET", "0/omni/onboarding-url?clientId=x"),
    ("GET", "omni/get/onboarding/status?id=x"),
    ("GET", "omni/get/score?id=x"),
    ("GET", "omni/get/ocr-data?id=x"),
    ("POST", "omni/process/approve?interviewId=x"),
    ("DELETE", "omni/interview?interviewId=x"),
    ("POST", "executive/log-in"),
    ("POST", "console/webhook"),
)


def test_it_has_a_sandbox_that_checks_the_api_key(sandbox: str) -> None:
    for method, path in SANDBOX_CALLS:
        for headers in ({}, {"x-api-key": "someone-elses-key"}):
            r = requests.request(method, f"{sandbox}/{path}", json={}, headers=headers, timeout=5)
            assert r.status_code == 401, (path, r.status_code)
            assert "invalid x-api-key" in r.text, path
        # control: the planted key gets past the key check on the same call (it may still
        # lack a session or admin token, which is a different refusal)
        r = requests.request(
            method, f"{sandbox}/{path}", json={}, headers={"x-api-key": API_KEY}, timeout=5
        )
        assert "invalid x-api-key" not in r.text and r.status_code < 500, (path, r.text)
