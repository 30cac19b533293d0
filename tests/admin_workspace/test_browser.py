"""A compliance reviewer works the queue and a review page in a real browser (chromium):
assign to me, reveal with a purpose, reject with a reason. Screenshots of what they saw
are written to var/screenshots/."""

from __future__ import annotations

from typing import Any

import pytest

from kyc.models import AuditEntry, KYCRecord, Membership
from tests import factories
from tests.admin_workspace.conftest import EMAIL, Desk, browser_login
from tests.conftest import SCREENSHOTS


@pytest.fixture
def reviewer(desk: Desk, page: Any, live_server: Any) -> Any:
    """A compliance reviewer who may reveal, signed in to the admin on a 1280 px screen."""
    user = factories.staff_user(desk.merchant, reveal=True, role=Membership.Role.COMPLIANCE)
    browser_login(page, f"{live_server.url}/admin/login/", user, submit="input[type=submit]")
    return user


@pytest.mark.browser
def test_it_works_a_review_from_the_queue(
    desk: Desk, page: Any, live_server: Any, reviewer: Any
) -> None:

    # the index counts what waits and links to the queue
    page.wait_for_selector("#review-summary")
    assert page.inner_text("#reviews-waiting") == "2"
    page.screenshot(path=str(SCREENSHOTS / "admin_workspace_index.png"), full_page=True)
    page.click("#review-summary a.button")

    # the queue: oldest first, SLA in words
    page.wait_for_selector("#review-queue")
    rows = page.locator("#review-queue tbody tr")
    assert rows.count() == 2
    assert "cust-old" in rows.nth(0).inner_text() and "Overdue by" in rows.nth(0).inner_text()
    assert "On time" in rows.nth(1).inner_text()
    rows.nth(0).locator("button.assign-me").click()
    page.wait_for_selector("#review-queue")
    assert reviewer.username in page.locator("#review-queue tbody tr").nth(0).inner_text()
    page.screenshot(path=str(SCREENSHOTS / "admin_workspace_queue.png"), full_page=True)
    assert page.evaluate("document.documentElement.scrollWidth") <= 1280  # fits the screen

    # the review page: evidence masked; reveal asks why, then shows the values
    page.click("#review-queue tbody tr:first-child a.button")
    page.wait_for_selector("#review-head")
    assert EMAIL not in page.content()
    page.click("#reveal-all")
    page.select_option("#purpose", "review")
    page.screenshot(path=str(SCREENSHOTS / "admin_workspace_reveal_form.png"), full_page=True)
    page.click("#reveal-submit")
    page.wait_for_selector("#reveal-note")
    assert EMAIL in page.inner_text("#fields")
    assert page.evaluate("document.documentElement.scrollWidth") <= 1280
    page.screenshot(path=str(SCREENSHOTS / "admin_workspace_review.png"), full_page=True)

    # reject with the customer's reason and an internal note
    page.check("input[name=decision][value=reject]")
    page.select_option("#reason_code", "document_unreadable")
    page.fill("#note", "MRZ unreadable on both photos")
    page.click("#decide")
    page.wait_for_selector("#review-status:has-text('Rejected')")
    desk.old.refresh_from_db()
    assert desk.old.review_status == KYCRecord.Review.REJECTED
    assert AuditEntry.objects.filter(action="pii.revealed", actor=reviewer).count() == 1
    assert AuditEntry.objects.filter(action="record.review_decided", actor=reviewer).exists()

    # the request behind it: items and provider data as tables, events with seconds,
    # everything inside a 1280 px screen
    page.goto(f"{live_server.url}/admin/kyc/transferrequest/{desk.transfer.pk}/change/")
    page.wait_for_selector("#content-main")
    assert "overall_status" in page.inner_text("#content-main")
    assert page.evaluate("document.documentElement.scrollWidth") <= 1280
    page.screenshot(path=str(SCREENSHOTS / "admin_workspace_request.png"), full_page=True)
    page.goto(f"{live_server.url}/admin/kyc/auditentry/")
    page.wait_for_selector("#chain-status")
    assert "Intact" in page.inner_text("#chain-status")
    assert page.evaluate("document.documentElement.scrollWidth") <= 1280
    page.screenshot(path=str(SCREENSHOTS / "admin_workspace_audit.png"), full_page=True)


@pytest.mark.browser
def test_it_confirms_an_erase_before_doing_it(
    desk: Desk, page: Any, live_server: Any, reviewer: Any
) -> None:
    page.goto(f"{live_server.url}/admin/kyc/kycrecord/")
    page.check(f"input[name=_selected_action][value='{desk.old.pk}']")
    page.select_option("select[name=action]", "erase_pii")
    page.click("button[name=index]")
    page.wait_for_selector("#confirm-counts")
    counts = page.inner_text("#confirm-counts")
    assert "1 record\n" in counts + "\n" and "2 identity values" in counts
    page.screenshot(path=str(SCREENSHOTS / "admin_workspace_erase_confirm.png"), full_page=True)
    desk.old.refresh_from_db()
    assert desk.old.erased_at is None  # the page itself changed nothing
    page.fill("#reason", "The customer asked us to delete their data")
    page.click("#confirm-submit")
    page.wait_for_selector(".messagelist")
    assert "Erased personal data of 1 record" in page.inner_text(".messagelist")
    desk.old.refresh_from_db()
    assert desk.old.erased_at is not None
    entry = AuditEntry.objects.get(action="record.erased", object_id=str(desk.old.pk))
    assert entry.detail["reason"] == "The customer asked us to delete their data"
