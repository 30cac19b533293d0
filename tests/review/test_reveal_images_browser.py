"""In the browser: a record with images and no identity values shows its images only after
a reveal with a purpose (as tests/incode/test_images.py does for a record with values)."""

from __future__ import annotations

from typing import Any

import pytest

from kyc.models import AuditEntry, Membership
from tests import factories
from tests.admin_workspace.conftest import browser_login
from tests.conftest import SCREENSHOTS, wait_for
from tests.review.test_reveal_images import HIDDEN, images_only_record


@pytest.mark.browser
@pytest.mark.django_db(transaction=True)
def test_it_shows_the_images_of_a_record_without_values_after_a_reveal(
    page: Any, public_url: str
) -> None:
    case = images_only_record("img-only-browser")
    reviewer = factories.staff_user(case.merchant, reveal=True, role=Membership.Role.COMPLIANCE)
    browser_login(page, f"{public_url}/admin/login/", reviewer, submit="input[type=submit]")
    page.goto(f"{public_url}{case.page}")
    page.wait_for_selector("#images")
    assert HIDDEN in page.inner_text("#images")
    assert page.locator("#images img").count() == 0
    page.screenshot(path=str(SCREENSHOTS / "review_images_only_hidden.png"), full_page=True)

    page.click("#reveal-images")
    assert "Selfie" in page.inner_text("#reveal-images")
    page.select_option("#purpose", "review")
    page.click("#reveal-submit")
    page.wait_for_selector("#reveal-note")
    assert page.locator("#images img").count() == 3
    # every image really loaded (decoded by the browser), not a broken placeholder
    loaded = "[...document.querySelectorAll('#images img')].map(i => i.naturalWidth)"
    wait_for(lambda: all(width > 0 for width in page.evaluate(loaded)))
    assert "ID front" in page.inner_text("#images") and "Selfie" in page.inner_text("#images")
    assert (
        AuditEntry.objects.filter(action="pii.revealed", object_id=str(case.record.pk)).count() == 1
    )
    page.screenshot(path=str(SCREENSHOTS / "review_images_only_shown.png"), full_page=True)
