"""A real browser on the customer page: htmx polling drives the checks (real worker), the
page reaches "completed" without a reload, and no response it loads carries a secret."""

from typing import Any

import pytest
import requests

from kyc.models import TransferRequest

SECRET_VALUES = ["Olena Kovalenko", "1990-04-12"]


@pytest.mark.browser
@pytest.mark.worker
def test_it_reaches_completed_in_the_browser_with_no_secret_in_any_response(
    public_url: str, celery_worker_process: Any, live_account: Any, api: Any, page: Any
) -> None:
    r = api.post(
        "/api/v1/transfers/",
        {"provider": "portmone", "reference": "b1", "items": ["full_name", "date_of_birth"]},
        format="json",
    )
    created = r.json()
    responses: list[Any] = []
    page.on("response", lambda resp: responses.append(resp))
    page.goto(created["page_url"])
    assert page.locator("#qr svg").count() == 1
    page.evaluate("window.__sameDocument = true")

    t = TransferRequest.objects.get(pk=created["id"])
    requests.post(
        f"{public_url}/sandbox/portmone/phone/{t.provider_ref}/",
        data={"action": "approve"},
        timeout=10,
    )
    page.wait_for_selector('#status [data-status="completed"]', timeout=25_000)
    assert page.evaluate("window.__sameDocument === true")
    assert "All done" in page.locator("#status").inner_text()

    live_account.refresh_from_db()
    secrets = [live_account.state["token"], *SECRET_VALUES]
    # A redirect has no body to read (the completed page may already be returning the
    # customer to the merchant); its Location header is checked with the rest below.
    bodies = [
        resp.text() if not 300 <= resp.status < 400 else resp.headers.get("location", "")
        for resp in responses
        if resp.request.resource_type != "image"
    ]
    assert len(bodies) >= 3  # page, htmx, at least one status fragment
    loaded = "\n".join(bodies) + page.content()
    assert not [s for s in secrets if s in loaded]
