"""Nothing an unauthenticated browser can reach returns the API key or the admin token."""

from __future__ import annotations

from typing import Any

import requests

from kyc.models import TransferRequest
from kyc.status import Status
from tests.conftest import wait_for
from tests.incode.conftest import API_KEY, EXEC_PASSWORD, finish_on_phone

PHONE_UA = {"User-Agent": "Mozilla/5.0 (Linux; Android 14) Mobile"}


def test_it_never_shows_the_api_key_or_admin_token_to_a_browser(
    api: Any, account: Any, public_url: str, sandbox: str, eager: None
) -> None:
    r = api.post("/api/v1/transfers/", {"provider": "incode", "reference": "s1"}, format="json")
    t = TransferRequest.objects.get(pk=r.json()["id"])
    session_token = t.provider_secrets["session_token"]
    anonymous = requests.Session()
    seen: list[requests.Response] = []

    def fetch(url: str, **kwargs: Any) -> requests.Response:
        resp = anonymous.request(kwargs.pop("method", "GET"), url, timeout=10, **kwargs)
        seen.append(resp)
        return resp

    page = f"{public_url}/t/{t.page_token}/"
    fetch(page)
    assert t.deep_link in fetch(page, headers=PHONE_UA).text  # the button is there
    fetch(f"{page}status")
    for path in ("start", "onboarding-url", "onboarding-url?redirectUrl=https://x.example/"):
        assert fetch(f"{public_url}/api/incode/{path}").status_code == 401
    fetch(t.deep_link)  # the sandbox phone page
    fetch(f"{sandbox}/console/")
    finish_on_phone(t.deep_link, "pass")

    def completed() -> bool:
        t.refresh_from_db()
        return t.status == Status.COMPLETED

    wait_for(completed)
    fetch(t.deep_link)
    fetch(page)
    fetch(f"{page}status")
    fetch(f"{public_url}/providers/incode/")  # redirects to the login page
    fetch(f"{public_url}/api/v1/transfers/{t.pk}/")

    account.refresh_from_db()
    admin_token = account.state["admin_token"]
    assert admin_token  # the flow really used one
    for resp in seen:
        text = resp.text + str(resp.headers)
        for secret in (API_KEY, EXEC_PASSWORD, admin_token, session_token):
            assert secret not in text, f"{resp.url} leaks a secret"
