"""'New verification' per provider, the settings pages (Test connection, help text, what
to paste where), and the API-key revoke confirmation."""

from __future__ import annotations

import re
from collections.abc import Iterator
from typing import Any
from unittest import mock

import pytest
from django.urls import reverse

from kyc import registry, services
from kyc.contract import StartResult
from kyc.models import ApiKey, ProviderAccount, TransferRequest
from tests.corepass.conftest import USER

pytestmark = pytest.mark.django_db


def fieldset(page: str, provider: str) -> str:
    return page.split(f'id="fields-{provider}"', 1)[1].split("</fieldset>", 1)[0]


@pytest.fixture
def started() -> Iterator[dict[str, mock.MagicMock]]:
    """Providers' start calls answered without the network (their sandboxes are not up)."""
    answer = StartResult(provider_ref="r-1", qr_payload="code-1", status="pending")
    with (
        mock.patch.object(
            type(registry.get("corepass")), "start_transfer", return_value=answer
        ) as cp,
        mock.patch.object(
            type(registry.get("portmone")), "start_transfer", return_value=answer
        ) as pm,
    ):
        yield {"corepass": cp, "portmone": pm}


def test_it_asks_each_provider_only_for_its_own_fields(owner: Any, accounts: Any) -> None:
    page = owner.get(reverse("transfer_new")).content.decode()
    corepass, portmone, incode = (fieldset(page, p) for p in ("corepass", "portmone", "incode"))
    assert "CoreID" in corepass and 'name="subject_corepass"' in corepass
    assert "CoreID" not in portmone + incode and "subject_" not in portmone + incode
    # the CorePass picker: contact items, any-document items, and per document
    for item in (
        "SH_EMAIL",
        "SH_ANY_DOB",
        "SH_ANY_FULLNAME",
        "SH_Passport_DOB",
        "SH_IDCard_FaceImage",
    ):
        assert f'value="{item}"' in corepass, item
    assert "From any verified document" in corepass
    # the sandbox account's default items come ticked
    for item in ("SH_EMAIL", "SH_ANY_DOB"):
        assert re.search(rf'value="{item}"[^>]*checked', corepass), item
    assert not re.search(r'value="SH_PHONE"[^>]*checked', corepass)
    assert 'value="age_over_18"' in portmone and "SH_EMAIL" not in portmone
    assert "flow configured in your Incode dashboard" in incode
    assert "transfer_new.js" in page  # shows only the chosen provider's fieldset


def test_it_needs_a_coreid_for_corepass_only(
    owner: Any, accounts: Any, started: dict[str, mock.MagicMock]
) -> None:
    url = reverse("transfer_new")
    missing = owner.post(url, {"provider": "corepass", "reference": "c-1"}).content.decode()
    assert "Enter the customer&#x27;s CoreID" in missing
    bad = owner.post(
        url,
        {
            "provider": "corepass",
            "reference": "c-1",
            "subject_corepass": "cb00nonsense",
            "items_corepass": ["SH_EMAIL"],
        },
    ).content.decode()
    assert 'class="field has-error" data-field="subject_corepass"' in bad
    stray = owner.post(
        url, {"provider": "portmone", "reference": "p-1", "subject_corepass": USER}
    ).content.decode()
    assert "Only CorePass asks for a CoreID; leave it blank for Portmone" in stray
    assert not TransferRequest.objects.exists() and not started["corepass"].called


def test_it_starts_with_the_picked_items(
    owner: Any, accounts: Any, started: dict[str, mock.MagicMock]
) -> None:
    url = reverse("transfer_new")
    answer = owner.post(
        url,
        {
            "provider": "corepass",
            "reference": "c-2",
            "subject_corepass": USER,
            "items_corepass": ["SH_ANY_FULLNAME", "SH_Passport_DOB"],
            # another provider's ticks (sent when the script is off) are not used
            "items_portmone": ["full_name"],
        },
    )
    t = TransferRequest.objects.get(reference="c-2")
    assert answer.status_code == 302 and answer["Location"] == reverse(
        "transfer_detail", args=[t.pk]
    )
    assert t.items == ["SH_ANY_FULLNAME", "SH_Passport_DOB"] and t.subject == USER
    owner.post(url, {"provider": "portmone", "reference": "p-2", "items_portmone": ["age_over_21"]})
    assert TransferRequest.objects.get(reference="p-2").items == ["age_over_21"]
    refused = owner.post(
        url, {"provider": "portmone", "reference": "p-3", "items_portmone": ["x y"]}
    )
    assert refused.status_code == 200 and "Select a valid choice" in refused.content.decode()
    # nothing ticked (here: typed under a name the form does not read) starts nothing,
    # rather than the provider's default items
    untouched = owner.post(
        url, {"provider": "portmone", "reference": "p-4", "items": "citizenship"}
    )
    assert untouched.status_code == 200
    assert "Tick at least one item to ask for." in untouched.content.decode()
    assert not TransferRequest.objects.filter(reference="p-4").exists()


# --- settings pages -------------------------------------------------------------------


def _corepass_post(account: ProviderAccount, **changes: str) -> dict[str, str]:
    s = account.settings
    return {
        "connector_url": s["connector_url"],
        "connector_public_key": s["connector_public_key"],
        "default_items": s["default_items"],
        "acct-enabled": "on",
        **changes,
    }


def test_it_tests_the_values_on_the_screen_and_saves_nothing(owner: Any, accounts: Any) -> None:
    account = accounts["corepass"]
    before = dict(account.settings)
    edited = "https://connector.example.net/"
    seen: list[dict[str, Any]] = []

    def test_connection(self: Any, *, settings: dict[str, Any], state: dict[str, Any]) -> str:
        seen.append(settings)
        return "Connector answered."

    url = reverse("provider_settings", args=["corepass"])
    corepass = type(registry.get("corepass"))
    with mock.patch.object(corepass, "test_connection", test_connection):
        page = owner.post(url, _corepass_post(account, connector_url=edited, test="1"))
        fragment = owner.post(
            url, _corepass_post(account, connector_url=edited, test="1"), HTTP_HX_REQUEST="true"
        )
    assert [s["connector_url"] for s in seen] == [edited, edited]
    body = page.content.decode()
    assert page.status_code == 200 and "Connection works with the values on this page" in body
    assert f'value="{edited}"' in body  # the edit is still on the screen
    assert "Nothing was saved" in body
    assert fragment.content.decode().strip().startswith('<p class="test-result ok-box"')
    assert "<form" not in fragment.content.decode()
    account.refresh_from_db()
    assert account.settings == before


def test_it_reports_a_failed_test_without_saving(owner: Any, accounts: Any) -> None:
    from kyc.errors import PermanentError

    account = accounts["corepass"]
    corepass = type(registry.get("corepass"))
    with mock.patch.object(
        corepass, "test_connection", side_effect=PermanentError("refused", code="unreachable")
    ):
        page = owner.post(
            reverse("provider_settings", args=["corepass"]),
            _corepass_post(account, connector_url="https://down.example.net/", test="1"),
        ).content.decode()
    assert "Connection failed (unreachable): refused" in page
    account.refresh_from_db()
    assert account.settings["connector_url"] != "https://down.example.net/"


def test_it_shows_help_text_as_written(owner: Any) -> None:
    page = owner.get(reverse("provider_settings", args=["sunbird"])).content.decode()
    assert "Sent as Authorization: Bearer &lt;key&gt;." in page
    assert "Bearer <key>" not in page


def test_it_says_what_to_paste_where(owner: Any) -> None:
    corepass = owner.get(reverse("provider_settings", args=["corepass"])).content.decode()
    assert "Webhook URL" not in corepass and "/hooks/corepass/" not in corepass
    assert "Nothing to paste at CorePass" in corepass
    for provider in ("incode", "blockpass"):
        page = owner.get(reverse("provider_settings", args=[provider])).content.decode()
        account = ProviderAccount.objects.get(provider=provider)
        assert f"/hooks/{provider}/{account.webhook_token}/" in page, provider
        assert "paste" in page
    portmone = owner.get(reverse("provider_settings", args=["portmone"])).content.decode()
    assert 'id="webhook-url"' not in portmone and "Nothing to paste at Portmone" in portmone


def test_it_revokes_a_key_only_after_confirmation(owner: Any, merchant: Any) -> None:
    key, _ = services.api_key_create(merchant=merchant, name="shop backend")
    listing = owner.get(reverse("api_keys")).content.decode()
    url = reverse("api_key_revoke", args=[key.pk])
    assert f'href="{url}"' in listing  # a link to the confirmation, not a one-click form
    confirm = owner.get(url).content.decode()
    assert "Revoke this API key?" in confirm and "shop backend" in confirm
    key.refresh_from_db()
    assert key.revoked_at is None
    assert owner.post(url).status_code == 302
    key.refresh_from_db()
    assert key.revoked_at is not None
    assert ApiKey.objects.filter(revoked_at__isnull=True).count() == 0
