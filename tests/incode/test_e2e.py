"""End to end: live server, the sandbox as Incode, a real Celery worker, a real browser."""

from __future__ import annotations

from typing import Any

import pytest
from django.db import connection

from kyc.models import IdentityField, TransferRequest
from kyc.status import Status
from tests.conftest import wait_for
from tests.incode.conftest import finish_on_phone

PHONE_UA = "Mozilla/5.0 (iPhone; CPU iPhone OS 17_0 like Mac OS X) Mobile/15E148"


def _status(pk: Any, want: str) -> bool:
    return TransferRequest.objects.get(pk=pk).status == want


@pytest.mark.worker
@pytest.mark.browser
def test_it_runs_an_onboarding_from_phone_to_approved_and_to_review(
    api: Any, account: Any, celery_worker_process: Any, browser: Any
) -> None:
    ok = api.post(
        "/api/v1/transfers/", {"provider": "incode", "reference": "e2e-ok"}, format="json"
    )
    bad = api.post(
        "/api/v1/transfers/", {"provider": "incode", "reference": "e2e-bad"}, format="json"
    )
    assert ok.status_code == bad.status_code == 201
    ok_id, bad_id = ok.json()["id"], bad.json()["id"]

    # The customer opens the page on a phone, follows the button, finishes, comes back.
    context = browser.new_context(user_agent=PHONE_UA)
    page = context.new_page()
    try:
        page.goto(ok.json()["page_url"])
        page.click("#deep-link")
        page.click("#finish-pass")
        page.click("#continue")  # Incode's redirectionUrl: back to our page
        page.wait_for_selector('[data-status="completed"]', timeout=20000)
    finally:
        context.close()

    # The other customer's checks fail: it waits for compliance review.
    finish_on_phone(TransferRequest.objects.get(pk=bad_id).deep_link, "fail")
    wait_for(lambda: _status(bad_id, Status.REVIEW), timeout=20)

    t = TransferRequest.objects.get(pk=ok_id)
    assert t.status == Status.COMPLETED and t.provider_data["score"]["overall_status"] == "OK"
    assert IdentityField.objects.get(transfer=t, key="document_number").value == "SBXDOC4711"
    with connection.cursor() as cur:
        cur.execute("SELECT value FROM kyc_identityfield WHERE transfer_id = %s", [t.pk])
        assert all(r[0].startswith("fernet:") and "SBXDOC" not in r[0] for r in cur.fetchall())
