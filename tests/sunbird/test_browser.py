"""A merchant starts a run in a real browser and watches it finish (htmx polling, real worker)."""

from __future__ import annotations

from typing import Any

import pytest

from kyc.models import Certificate
from providers.sunbird.models import IssuanceRun
from tests import factories
from tests.sunbird.conftest import ROOT_ORG


@pytest.mark.browser
@pytest.mark.worker
def test_it_starts_and_watches_a_run_in_the_browser(
    merchant: Any,
    account: Any,
    sandbox: Any,
    start_worker: Any,
    page: Any,
    live_server: Any,
) -> None:
    start_worker(extra_env={"SUNBIRD_POLL_SECONDS": "0.3"})
    sandbox.batch("batch-50", learners=50, delay=0.5, rate=40)  # ~2 s of visible progress
    user = factories.staff_user(merchant)

    page.goto(f"{live_server.url}/login/")
    page.fill("#id_username", user.username)
    page.fill("#id_password", "pw")
    page.click("button[type=submit]")
    page.click("text=Issuance")
    page.click("text=Start an issuance run")
    page.select_option("#id_root_org_id", ROOT_ORG)
    for name, value in {
        "course_id": "do_1128318628712038401",
        "batch_id": "batch-50",
        "sign_keys": "demo1, demo2",
        "enc_keys": "demo3, demo4",
        "issuer_name": "Gujarat Council of Educational Research and Training",
        "issuer_url": "https://gcert.gujarat.gov.in/gcert/",
        "html_template_url": "https://example.org/v1/certificate.zip",
        "expected_count": "50",
    }.items():
        page.fill(f"#id_{name}", value)
    page.click("#run-form button[type=submit]")

    page.wait_for_selector("#run-status:has-text('Done')", timeout=30_000)
    assert page.get_attribute("#run-bar", "value") == "100"
    assert page.inner_text("#run-collected") == "50"
    run = IssuanceRun.objects.get(merchant=merchant)
    assert run.sign_keys == ["demo1", "demo2"] and run.created_by == user
    assert Certificate.objects.filter(merchant=merchant, batch_id="batch-50").count() == 50
