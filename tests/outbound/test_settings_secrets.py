"""Provider secrets cannot be walked out: a changed URL never takes the stored secrets
along (on save or on Test connection), and bad URLs are form errors, never a 500."""

from __future__ import annotations

import json
from typing import Any

import pytest

from kyc import services
from kyc.models import ProviderAccount
from providers.portmone.client import DEFAULT_PATHS
from tests.outbound.conftest import Capture

pytestmark = pytest.mark.django_db

API_KEY = "stored-incode-api-key-Q7x2"
EXEC_PASSWORD = "stored-exec-password-K9m4"
STORED = {
    "api_url": "https://demo-api.incodesmile.com",
    "api_key": API_KEY,
    "client_id": "client",
    "flow_id": "flow",
    "executive_email": "exec@example.com",
    "executive_password": EXEC_PASSWORD,
}
FORM = {k: v for k, v in STORED.items() if k not in ("api_key", "executive_password")}


@pytest.fixture
def incode(merchant: Any) -> ProviderAccount:
    account = services.provider_account_get_or_create(merchant=merchant, provider="incode")
    return services.provider_account_update(account=account, settings_=STORED, enabled=True)


def _token_answer(*_: Any) -> tuple[int, dict[str, str], bytes]:
    return 200, {"Content-Type": "application/json"}, json.dumps({"token": "a.b.c"}).encode()


def test_it_refuses_to_keep_stored_secrets_when_the_url_changes(
    incode: ProviderAccount, staff_client: Any
) -> None:
    moved = {**FORM, "api_url": "https://attacker.incodesmile.com", "acct-enabled": "on"}
    r = staff_client.post("/providers/incode/", {**moved, "save": "1"})
    assert r.status_code == 200
    page = r.content.decode()
    assert "enter API key, Executive password again" in page
    incode.refresh_from_db()
    assert incode.settings == STORED  # nothing saved
    # Typed again in the same submit: saved with the new URL.
    again = {**moved, "api_key": "new-key-1", "executive_password": "new-pw-1", "save": "1"}
    assert staff_client.post("/providers/incode/", again).status_code == 302
    incode.refresh_from_db()
    assert incode.settings["api_url"] == "https://attacker.incodesmile.com"
    assert incode.settings["api_key"] == "new-key-1"


def test_it_keeps_stored_secrets_while_the_url_is_unchanged(
    incode: ProviderAccount, staff_client: Any
) -> None:
    r = staff_client.post(
        "/providers/incode/", {**FORM, "flow_id": "flow-2", "acct-enabled": "on", "save": "1"}
    )
    assert r.status_code == 302
    incode.refresh_from_db()
    assert incode.settings["api_key"] == API_KEY and incode.settings["flow_id"] == "flow-2"


@pytest.fixture
def token_server(captures: Any, allow_networks: Any, settings: Any) -> Capture:
    """An Incode token endpoint on 127.0.0.1 that the outbound policy lets the portal reach."""
    server: Capture = captures(answer=_token_answer)
    allow_networks("127.0.0.1/32")
    settings.PROVIDER_ALLOWED_HOSTS = "incode=127.0.0.1,*.incodesmile.com"
    return server


def test_it_never_sends_stored_secrets_to_a_new_host_on_test_connection(
    incode: ProviderAccount, staff_client: Any, token_server: Capture
) -> None:
    attacker = token_server
    moved = {**FORM, "api_url": attacker.url, "acct-enabled": "on"}
    # The attack: save the new URL with blank secrets, then press Test connection.
    staff_client.post("/providers/incode/", {**moved, "save": "1"})
    r = staff_client.post("/providers/incode/", {**moved, "test": "1"}, follow=True)
    assert "enter API key, Executive password again" in r.content.decode()
    assert attacker.seen == []
    assert not attacker.saw(API_KEY) and not attacker.saw(EXEC_PASSWORD)


def test_it_tests_exactly_what_was_submitted(
    incode: ProviderAccount, staff_client: Any, token_server: Capture
) -> None:
    other = token_server
    submitted = {
        **FORM,
        "api_url": other.url,
        "api_key": "typed-key-5",
        "executive_password": "typed-pw-5",
        "test": "1",
    }
    r = staff_client.post("/providers/incode/", submitted, follow=True)
    assert "Connection works" in r.content.decode()
    assert len(other.seen) == 1
    assert other.seen[0].headers["x-api-key"] == "typed-key-5"
    assert other.saw("typed-pw-5") and not other.saw(API_KEY) and not other.saw(EXEC_PASSWORD)
    incode.refresh_from_db()
    assert incode.settings == STORED  # testing saves nothing


@pytest.mark.parametrize(
    ("provider", "field", "extra"),
    [
        ("incode", "api_url", FORM),
        ("blockpass", "api_url", {"client_id": "c", "client_secret": "s", "webhook_secret": "w"}),
        ("corepass", "connector_url", {"connector_public_key": "00" * 57}),
        ("portmone", "base_url", {"login": "l", "password": "p", **DEFAULT_PATHS}),
        (
            "sunbird",
            "base_url",
            {"api_key": "k", "username": "u", "password": "p", "realm": "r", "client_id": "c"},
        ),
    ],
)
@pytest.mark.parametrize(
    "bad",
    [
        "ftp://files.example.com/",
        "https://user:pw@api.example.com/",
        "http://169.254.169.254/latest/",
        "http://[::1]:8000/",
        "https://x.example.com:99999/",
    ],
)
@pytest.mark.parametrize("button", ["save", "test"])
def test_it_answers_a_form_error_for_a_bad_url_never_a_500(
    staff_client: Any, provider: str, field: str, extra: dict[str, str], bad: str, button: str
) -> None:
    r = staff_client.post(f"/providers/{provider}/", {**extra, field: bad, button: "1"})
    assert r.status_code == 200
    assert r.context["form"].errors.get(field), r.context["form"].errors  # this field's error
    saved = ProviderAccount.objects.filter(provider=provider)
    assert not any((a.settings or {}).get(field) == bad for a in saved)


@pytest.mark.parametrize(
    "stored_url",
    ["ftp://demo-api.incodesmile.com", "http://[::1", "gopher://x", "http://10.0.0.1:8080"],
)
def test_it_refuses_a_stored_bad_url_clearly_at_call_time(
    incode: ProviderAccount, api: Any, stored_url: str
) -> None:
    incode.settings = {**STORED, "api_url": stored_url}  # stored before this release
    incode.save()
    r = api.post("/api/v1/transfers/", {"provider": "incode", "reference": "c1"}, format="json")
    assert r.status_code == 422
    body = r.json()
    assert body["failure_code"] == "outbound_refused"
    assert body["status_detail"].startswith("The provider URL was refused")
