"""A new provider is one folder and one line in settings.PORTAL_PROVIDERS.

A minimal provider written to a temporary module (never installed as an app, no
models) is registered through the setting alone, and the portal serves it: its
settings page (secrets write-only), its inbound URL behind the core's guards, its
place among the choices, and the core's defaults for every hook it leaves out.
"""

from __future__ import annotations

from typing import Any

import pytest
from django.urls import reverse

from kyc import registry, services
from kyc.contract import Provider
from kyc.models import InboundEvent, ProviderAccount
from tests.contract.temporary_provider import provider_fixture, provider_source

pytestmark = pytest.mark.django_db

MODULE = "fakeco_provider_for_tests"
SOURCE = provider_source(
    name="fakeco",
    label="FakeCo Identity",
    secret="api_key",
    preamble="""
        from django.http import HttpResponse
        from django.urls import path


        def inbound(request, token):
            return HttpResponse(f"fakeco took delivery for {token}")
    """,
    form_body="    greeting = forms.CharField(required=False)\n",
    provider_body="""
    def urlpatterns(self):
        return [path("hooks/fakeco/<str:token>/", inbound, name="fakeco_webhook")]
""",
)


fakeco = provider_fixture("fakeco", module=MODULE, source=SOURCE)


def test_it_registers_a_provider_from_the_setting_alone(fakeco: Provider) -> None:
    assert fakeco.label == "FakeCo Identity"
    assert ("fakeco", "FakeCo Identity") in registry.choices()
    assert ("fakeco", "FakeCo Identity") in list(
        ProviderAccount._meta.get_field("provider").choices
    )
    assert registry.names()[-1] == "fakeco"  # settings order


def test_it_serves_the_settings_page_with_secrets_write_only(
    fakeco: Provider, staff_client: Any
) -> None:
    url = reverse("provider_settings", args=["fakeco"])
    page = staff_client.get(url)
    assert page.status_code == 200 and "FakeCo Identity settings" in page.content.decode()
    saved = staff_client.post(
        url, {"api_key": "sk-fakeco-very-secret-1234", "greeting": "hi", "acct-enabled": "on"}
    )
    assert saved.status_code == 302
    account = ProviderAccount.objects.get(provider="fakeco")
    assert account.enabled and account.settings["api_key"] == "sk-fakeco-very-secret-1234"
    again = staff_client.get(url).content.decode()
    assert "sk-fakeco-very-secret-1234" not in again and "1234" in again  # a hint only


def test_it_serves_the_inbound_url_behind_the_core_guards(
    fakeco: Provider, merchant: Any, client: Any
) -> None:
    account = services.provider_account_get_or_create(merchant=merchant, provider="fakeco")
    known = client.post(
        f"/hooks/fakeco/{account.webhook_token}/", b"{}", content_type="application/json"
    )
    assert known.status_code == 200
    assert known.content.decode() == f"fakeco took delivery for {account.webhook_token}"
    stranger = client.post("/hooks/fakeco/not-a-token/", b"{}", content_type="application/json")
    assert b"fakeco took delivery" not in stranger.content
    kept = InboundEvent.objects.get(provider="fakeco")
    assert kept.state == InboundEvent.State.REFUSED and kept.body is None


def test_it_gives_a_provider_the_core_defaults_for_hooks_it_leaves_out(fakeco: Provider) -> None:
    assert fakeco.process_delivery(event_id=1) is False  # the core marks such deliveries ignored
    assert fakeco.reconcile() == 0
    assert fakeco.account_auth_failed(account_id=1, message="no") is False
    assert fakeco.sandbox_urlpatterns() == [] and not fakeco.starts_transfers


def test_it_refuses_an_entry_that_is_not_a_provider(settings: Any) -> None:
    settings.PORTAL_PROVIDERS = [*settings.PORTAL_PROVIDERS, "kyc.contract.StartRequest"]
    try:
        with pytest.raises(registry.ImproperProvider):
            registry.providers()
    finally:
        settings.PORTAL_PROVIDERS = settings.PORTAL_PROVIDERS[:-1]
    assert len(registry.providers()) == 5
