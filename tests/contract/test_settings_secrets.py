"""The settings contract every provider with secret settings keeps: secrets are
write-only. The settings page as served to a member and the form's initial data never
carry a stored secret back (a hint of its last characters at most), a secret left blank
on save keeps the stored one, and the stored secret is encrypted in the database."""

from __future__ import annotations

from typing import Any

import pytest
from django.db import connection
from django.urls import reverse

from kyc import registry
from kyc.models import Merchant, ProviderAccount
from tests.contract.settings_forms import (
    form_data,
    planted_secret,
    portal_sandbox_url,
    providers_with_secrets,
    secret_fields,
)

pytestmark = pytest.mark.django_db

COVERED = providers_with_secrets()

# Setting names that hold credentials; a public key is not one.
_CREDENTIAL_WORDS = ("secret", "password", "api_key", "token", "private")


def _looks_like_a_credential(name: str) -> bool:
    return "public" not in name and any(word in name for word in _CREDENTIAL_WORDS)


def _save(staff_client: Any, provider: str, data: dict[str, Any]) -> None:
    r = staff_client.post(reverse("provider_settings", args=[provider]), data)
    assert r.status_code == 302, (provider, r.content.decode()[-2000:])


def _data(provider: str) -> tuple[dict[str, Any], list[str]]:
    """Settings the form saves: addresses in the portal's own sandbox."""
    return form_data(provider, sandbox_url=portal_sandbox_url(provider))


def _saved(staff_client: Any, merchant: Merchant, provider: str) -> ProviderAccount:
    data, secrets = _data(provider)
    assert secrets  # positive control: there is something to keep secret
    _save(staff_client, provider, data)
    account = ProviderAccount.objects.get(merchant=merchant, provider=provider)
    for name in secret_fields(provider):
        assert account.settings[name] == planted_secret(provider, name)
    return account


def test_it_covers_every_registered_provider_that_declares_secrets() -> None:
    declaring = {name for name in registry.names() if registry.get(name).form_class.secret_fields}
    assert declaring, "no provider declares secret fields?"
    assert set(COVERED) == declaring
    # a provider holding credentials declares them secret, so the contract covers it
    undeclared = {
        name: field
        for name in registry.names()
        for field in registry.get(name).form_class.base_fields
        if _looks_like_a_credential(field) and field not in secret_fields(name)
    }
    assert not undeclared, f"credential settings not declared secret: {undeclared}"


@pytest.mark.parametrize("provider", COVERED)
def test_it_never_renders_a_stored_secret_back(
    provider: str, staff_client: Any, merchant: Merchant
) -> None:
    account = _saved(staff_client, merchant, provider)
    secrets = [planted_secret(provider, name) for name in secret_fields(provider)]
    page = staff_client.get(reverse("provider_settings", args=[provider]))
    html = page.content.decode()
    assert page.status_code == 200
    assert not [s for s in secrets if s in html], f"{provider} settings page shows a secret"
    assert "…7731" in html  # positive control: the page is about the stored secrets (a hint)
    form = registry.get(provider).form_class(stored=account.settings)
    assert not set(secret_fields(provider)) & set(form.initial)
    assert not [s for s in secrets if s in repr(form.initial)]
    for name in secret_fields(provider):
        assert form[name].value() in (None, ""), (provider, name)
    assert not [s for s in secrets if s in str(form)]


@pytest.mark.parametrize("provider", COVERED)
def test_it_keeps_the_stored_secret_when_saved_blank(
    provider: str, staff_client: Any, merchant: Merchant
) -> None:
    account = _saved(staff_client, merchant, provider)
    data, _ = _data(provider)
    _save(staff_client, provider, {**data, **dict.fromkeys(secret_fields(provider), "")})
    account.refresh_from_db()
    for name in secret_fields(provider):
        assert account.settings[name] == planted_secret(provider, name), (provider, name)


@pytest.mark.parametrize("provider", COVERED)
def test_it_stores_secrets_encrypted(provider: str, staff_client: Any, merchant: Merchant) -> None:
    account = _saved(staff_client, merchant, provider)
    with connection.cursor() as cur:
        cur.execute("SELECT settings FROM kyc_provideraccount WHERE id = %s", [account.pk])
        raw = cur.fetchone()[0]
    raw = raw if isinstance(raw, str) else repr(raw)
    assert raw  # positive control: the column holds the settings
    for name in secret_fields(provider):
        assert planted_secret(provider, name) not in raw, (provider, name)
        assert planted_secret(provider, name)[-4:] not in raw, (provider, name)
