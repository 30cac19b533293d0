"""A superuser issues a setup code in the admin, and a new staff member's first sign-in with
STAFF_REQUIRE_2FA uses it, in a real browser (chromium): password, the setup code, the QR
code, the first TOTP code, the dashboard. Screenshots of what they saw are written to
var/screenshots/."""

from __future__ import annotations

from typing import Any

import pytest

from kyc.models import StaffTOTPDevice
from tests import factories
from tests.admin_workspace.conftest import browser_login
from tests.conftest import SCREENSHOTS
from tests.hardening.test_two_factor import code_for


@pytest.mark.browser
@pytest.mark.django_db(transaction=True)
def test_a_new_staff_member_sets_up_two_factor_with_a_setup_code(
    page: Any, live_server: Any, merchant: Any, settings: Any
) -> None:
    user = factories.staff_user(merchant)
    boss = factories.UserFactory(is_staff=True, is_superuser=True)
    browser_login(page, f"{live_server.url}/admin/login/", boss, submit="input[type=submit]")
    page.goto(f"{live_server.url}/admin/auth/user/")
    page.check(f"input[name=_selected_action][value='{user.pk}']")
    page.select_option("select[name=action]", "issue_setup_code")
    page.click("button[name=index]")
    page.wait_for_selector("#setup-codes")
    page.screenshot(path=str(SCREENSHOTS / "two_factor_setup_codes_issued.png"), full_page=True)
    assert user.username in page.inner_text("#setup-codes")
    code = page.inner_text("#setup-codes code.setup-code")
    page.context.clear_cookies()

    settings.STAFF_REQUIRE_2FA = True
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
