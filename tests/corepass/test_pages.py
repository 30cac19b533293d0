"""Merchant pages for CorePass: settings form, Test connection, New verification."""

from __future__ import annotations

from typing import Any

import pytest

from kyc.models import ProviderAccount
from providers.corepass import sandbox
from tests.corepass.conftest import USER, make_account


@pytest.mark.django_db
def test_it_refuses_a_connector_key_that_is_not_57_bytes(staff_client: Any) -> None:
    r = staff_client.post(
        "/providers/corepass/",
        {
            "connector_url": "https://connector.example",
            "connector_public_key": "ab" * 32,
            "acct-enabled": "on",
        },
    )
    assert r.status_code == 200
    assert "57-byte Ed448 key" in r.content.decode()
    assert not ProviderAccount.objects.filter(provider="corepass", enabled=True).exists()


@pytest.mark.django_db
def test_it_saves_a_base64_connector_key_and_normalised_items(staff_client: Any) -> None:
    import base64

    key_b64 = base64.b64encode(bytes.fromhex(sandbox.public_key_hex())).decode()
    r = staff_client.post(
        "/providers/corepass/",
        {
            "connector_url": "https://connector.example",
            "connector_public_key": key_b64,
            "default_items": "sh_email any_dob",
            "acct-enabled": "on",
        },
    )
    assert r.status_code == 302
    account = ProviderAccount.objects.get(provider="corepass")
    assert account.settings["connector_public_key"] == key_b64
    assert account.settings["default_items"] == "SH_EMAIL, SH_ANY_DOB"


def test_it_reports_the_test_connection_result(
    public_url: str, staff_client: Any, merchant: Any, settings: Any
) -> None:
    # Test connection tests what is submitted, so the form is posted in full.
    account = make_account(merchant, url=f"{public_url}/sandbox/corepass")
    submitted = {**account.settings, "test": "1"}
    r = staff_client.post("/providers/corepass/", submitted, follow=True)
    assert "Connection works" in r.content.decode()
    settings.OUTBOUND_ALLOW_NETWORKS = ["127.0.0.1/32"]  # a closed local port: unreachable
    r = staff_client.post(
        "/providers/corepass/",
        {**submitted, "connector_url": "http://127.0.0.1:9/none"},
        follow=True,
    )
    assert "Connection failed (provider_unavailable)" in r.content.decode()


@pytest.mark.django_db
def test_it_names_the_coreid_problem_on_the_new_verification_page(
    staff_client: Any, merchant: Any
) -> None:
    make_account(merchant)
    r = staff_client.post(
        "/transfers/new/",
        {
            "provider": "corepass",
            "reference": "p1",
            "subject_corepass": USER[:-2],
            "items_corepass": ["SH_EMAIL"],
        },
    )
    assert r.status_code == 200
    assert "CoreID must be 44 characters long, got 42." in r.content.decode()
