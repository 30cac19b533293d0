"""The merchant's Portmone settings: paths with defaults, write-only password, Test connection."""

import pytest

from kyc.models import ProviderAccount
from providers.portmone.client import DEFAULT_PATHS
from providers.portmone.forms import PortmoneSettingsForm
from tests.portmone.conftest import SANDBOX

VALID = {
    "base_url": "https://partner.portmone.com.ua/",
    "login": "demo-partner",
    "password": "demo-partner-password",
    **DEFAULT_PATHS,
    "default_facts": "age_over_18",
    "acct-enabled": "on",
}


@pytest.mark.django_db
def test_it_fills_in_the_default_paths(staff_client) -> None:
    page = staff_client.get("/providers/portmone/").content.decode()
    for path in DEFAULT_PATHS.values():
        assert f'value="{path}"' in page
    assert "Partner password" in page and "Test connection" in page


@pytest.mark.django_db
def test_it_saves_settings_and_keeps_the_password_write_only(staff_client, merchant) -> None:
    r = staff_client.post("/providers/portmone/", {**VALID, "save": "1"})
    assert r.status_code == 302
    account = ProviderAccount.objects.get(merchant=merchant, provider="portmone")
    assert account.enabled and account.settings["password"] == "demo-partner-password"
    assert account.settings["status_path"] == DEFAULT_PATHS["status_path"]
    page = staff_client.get("/providers/portmone/").content.decode()
    assert "demo-partner-password" not in page and "…word" in page
    staff_client.post("/providers/portmone/", {**VALID, "password": "", "save": "1"})
    account.refresh_from_db()
    assert account.settings["password"] == "demo-partner-password"


def test_it_refuses_paths_without_a_slash_or_the_id() -> None:
    form = PortmoneSettingsForm(
        {**VALID, "auth_path": "api/auth", "facts_path": "/api/v1/facts"}, stored={}
    )
    assert not form.is_valid()
    assert "A path starts with /." in form.errors["auth_path"]
    assert "The path must contain {id}." in form.errors["facts_path"]


@pytest.mark.django_db
def test_it_tests_the_connection_against_portmone(staff_client, merchant, sandbox) -> None:
    staff_client.post("/providers/portmone/", {**VALID, "save": "1"})
    # Test connection tests what the form submits (here the sandbox, served in-process).
    submitted = {**VALID, "base_url": SANDBOX, "test": "1"}
    r = staff_client.post("/providers/portmone/", submitted, follow=True)
    assert (
        "Connection works with the values on this page: signed in to Portmone as demo-partner"
        in r.content.decode()
    )
    r = staff_client.post("/providers/portmone/", {**submitted, "password": "nope"}, follow=True)
    body = r.content.decode()
    assert "Connection failed (provider_auth_failed)" in body
    assert "refused the partner login and password (401 at /api/v1/partner/auth)" in body


@pytest.mark.django_db
def test_it_shows_the_token_state_on_the_settings_page(staff_client, account, api) -> None:
    page = staff_client.get("/providers/portmone/").content.decode()
    assert "Partner token:</strong> none cached" in page
    api.post("/api/v1/transfers/", {"provider": "portmone", "reference": "x"}, format="json")
    page = staff_client.get("/providers/portmone/").content.decode()
    assert "Partner token:</strong> cached, valid until" in page
    account.refresh_from_db()
    assert account.state["token"] not in page
