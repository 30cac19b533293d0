"""In a real browser: a page left open repaints in the merchant's new colour at its next poll
after a branding save, without a reload.

Screenshot: var/screenshots/customer_test_branding_reaches_pages_browser.py__<test>-phone.png."""

from __future__ import annotations

from typing import Any

import pytest

from kyc import services
from portal.branding import BrandingForm, merchant_branding_update
from tests.customer.conftest import snap, start_request

pytestmark = pytest.mark.browser

BRAND = "() => getComputedStyle(document.documentElement).getPropertyValue('--brand').trim()"


def test_it_repaints_an_open_page_in_the_new_colour_at_the_next_poll(
    sandbox_accounts: Any, branded_merchant: Any, device_page: Any, request: Any
) -> None:
    t = start_request(branded_merchant, "portmone")
    page = device_page("phone")
    page.goto(services.transfer_page_url(t))
    assert page.evaluate(BRAND) == "#0b6e4f"  # positive control: the old colour is applied
    page.evaluate("window.__sameDocument = true")
    form = BrandingForm(
        {
            "brand_color": "#e0457b",
            "support_contact": branded_merchant.support_contact,
            "privacy_url": branded_merchant.privacy_url,
            "restart_url": "",
            "default_language": branded_merchant.default_language,
        },
        instance=branded_merchant,
    )
    assert form.is_valid(), form.errors
    merchant_branding_update(merchant=branded_merchant, form=form, actor=None)
    page.wait_for_function(f"() => ({BRAND})() === '#e0457b'", timeout=15_000)
    assert page.evaluate("window.__sameDocument === true")  # repainted in place, no reload
    snap(page, request, "phone")
