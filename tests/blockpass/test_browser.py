"""A person (Playwright, Debian chromium) plays the Blockpass app on the sandbox page."""

from __future__ import annotations

from typing import Any

import pytest

from kyc.models import IdentityField, KYCRecord
from providers.blockpass import sandbox
from tests.conftest import wait_for


@pytest.mark.browser
def test_a_person_registers_and_uploads_from_the_sandbox_app(
    page: Any, public_url: str, live_account: Any
) -> None:
    page.goto(f"{public_url}/sandbox/blockpass/")
    assert live_account.webhook_token in page.input_value("input[name=merchant_url]")
    page.click("#register")
    record = wait_for(lambda: KYCRecord.objects.filter(provider="blockpass").first())
    wait_for(lambda: sandbox.session_of(record.external_id))
    page.goto(f"{public_url}/sandbox/blockpass/")
    section = page.locator(f"section.customer[data-bpid='{record.external_id}']")
    section.locator("text=Upload fields").click()
    wait_for(lambda: IdentityField.objects.filter(record=record).count() == 3)
    assert IdentityField.objects.get(record=record, key="given_name").value == "Ada"
