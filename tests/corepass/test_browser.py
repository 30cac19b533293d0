"""A real browser watches the customer page reach "completed" without a reload."""

from __future__ import annotations

from typing import Any

import pytest
import requests

from kyc.models import TransferRequest
from tests.conftest import wait_for
from tests.corepass.conftest import USER


@pytest.mark.browser
def test_it_shows_the_qr_and_reaches_done_without_reload(
    live_account: Any, api: Any, page: Any, settings: Any
) -> None:
    settings.COREPASS_SANDBOX_STEP_SECONDS = 0.05
    r = api.post(
        "/api/v1/transfers/",
        {"provider": "corepass", "reference": "b1", "coreid": USER, "items": ["SH_ANY_DOB"]},
        format="json",
    )
    assert r.status_code == 201, r.json()
    created = r.json()

    page.goto(created["page_url"])
    assert page.locator("#qr svg").count() == 1
    assert page.locator("#status [data-status]").get_attribute("data-status") == "pending"
    page.evaluate("window.__sameDocument = true")

    # The customer approves on the (sandbox) phone.
    assert requests.post(created["deep_link"] + "approve", timeout=10).status_code == 200

    page.wait_for_selector('#status [data-status="completed"]', timeout=20_000)
    assert page.evaluate("window.__sameDocument === true")  # no reload happened
    assert "All done" in page.locator("#status").inner_text()
    # The whole card changed: no QR code, no countdown, no provider codes or timeline.
    assert page.locator("#qr").count() == 0 and page.locator("[data-expires]").count() == 0
    text = page.locator("body").inner_text()
    assert "CONFIRM_SUBMITTED" not in text and page.locator(".timeline").count() == 0
    assert "Date of birth" in page.locator("#status").inner_text()  # what was shared
    # Let the sandbox finish its sequence before the test database is flushed.
    wait_for(
        lambda: TransferRequest.objects.get(pk=created["id"]).provider_status == "FINISH_SUCCESS"
    )
