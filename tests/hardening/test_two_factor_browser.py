"""A new staff member's first sign-in with STAFF_REQUIRE_2FA, in a real browser (chromium):
password, the setup code a superuser handed over, the QR code, the first TOTP code, the
dashboard. Screenshots of what they saw are written to var/screenshots/."""

from __future__ import annotations

from typing import Any

import pytest

from kyc.models import StaffTOTPDevice
from kyc.services.setup_codes import staff_setup_code_issue
from tests import factories
from tests.admin_workspace.conftest import browser_login
from tests.conftest import SCREENSHOTS
from tests.hardening.test_two_factor import code_for


@pytest.mark.browser
@pytest.mark.django_db(transaction=True)
def test_a_new_staff_member_sets_up_two_factor_with_a_setup_code(
    page: Any, live_server: Any, merchant: Any, settings: Any
) -> None:
    settings.STAFF_REQUIRE_2FA = True
    user = factories.staff_user(merchant)
    code = staff_setup_code_issue(user=user)
    browser_login(page, f"{live_server.url}/login/", user, submit="button[type=submit]")

    # Signed in with the password: asked for the setup code, no QR code yet.
    page.wait_for_selector("#id_setup_code")
    assert "/2fa/setup/" in page.url and page.locator("svg").count() == 0
    page.fill("#id_setup_code", "WRONG-CODE-1")
    page.click("button[type=submit] >> text=Continue")
    page.wait_for_selector(".errorlist")
    assert "wrong, already used or expired" in page.inner_text(".errorlist")
    page.screenshot(path=str(SCREENSHOTS / "two_factor_setup_code.png"), full_page=True)
    page.fill("#id_setup_code", code.lower())
    page.click("button[type=submit] >> text=Continue")

    # The QR code, then the authenticator's first code.
    page.wait_for_selector(".qr svg")
    page.screenshot(path=str(SCREENSHOTS / "two_factor_setup_qr.png"), full_page=True)
    device = StaffTOTPDevice.objects.get(user=user, confirmed=False)
    page.fill("#id_code", code_for(device))
    page.click("button[type=submit] >> text=Confirm")
    page.wait_for_url(f"{live_server.url}/")
    assert StaffTOTPDevice.objects.get(pk=device.pk).confirmed
    assert page.evaluate("document.documentElement.scrollWidth") <= 1280
