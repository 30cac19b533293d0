"""What every registered provider owes the core, checked the same way for each
(allauth-style: one suite, parametrised over settings.PORTAL_PROVIDERS).

Per-delivery cases (a good delivery processed once, a duplicate without effect, a
forged one refused and kept, the broker down, erasure) still live in each provider's
own tests and in tests/faults; they join this suite as providers gain a shared
delivery fixture.
"""

from __future__ import annotations

from typing import Any

import pytest
from django.urls import URLPattern, URLResolver, reverse

from kyc import registry
from kyc.contract import Provider

pytestmark = pytest.mark.django_db

PROVIDERS = [p.name for p in registry.providers()]


@pytest.fixture(params=PROVIDERS)
def provider(request: Any) -> Provider:
    return registry.get(request.param)


def _routes(patterns: list[URLPattern | URLResolver]) -> list[str]:
    return [str(p.pattern) for p in patterns]


def test_it_registers_the_five_providers_in_settings_order(settings: Any) -> None:
    assert PROVIDERS == ["corepass", "blockpass", "incode", "portmone", "sunbird"]
    assert [f"{type(p).__module__}.{type(p).__qualname__}" for p in registry.providers()] == list(
        settings.PORTAL_PROVIDERS
    )


def test_it_names_and_labels_each_provider(provider: Provider) -> None:
    assert provider.name and provider.label
    assert type(provider).__module__ == f"providers.{provider.name}.provider"
    assert provider.form_class.provider_name == provider.name


WITH_SECRETS = [name for name in PROVIDERS if registry.get(name).form_class.secret_fields]


@pytest.mark.parametrize("name", WITH_SECRETS)
def test_it_never_shows_a_stored_secret_on_the_settings_form(name: str) -> None:
    provider = registry.get(name)
    secrets = provider.form_class.secret_fields
    stored = {name: f"stored-{name}-value-9876" for name in secrets}
    html = str(provider.form_class(stored=stored))
    for value in stored.values():
        assert value not in html


def test_it_mounts_inbound_endpoints_only_under_hooks_or_its_own_prefixes(
    provider: Provider,
) -> None:
    for route in _routes(provider.urlpatterns()):
        top = route.lstrip("^").split("/")[0]
        assert top in {"hooks", "api", provider.name, "issuance"}, route
        if top == "hooks":
            assert route.lstrip("^").startswith(f"hooks/{provider.name}/"), route


def test_it_serves_every_provider_sandbox_under_its_name(provider: Provider) -> None:
    patterns = provider.sandbox_urlpatterns()
    assert patterns, "every provider ships a sandbox"
    names = [p.name for p in patterns if isinstance(p, URLPattern) and p.name]
    assert names
    assert reverse(f"sandbox_{provider.name}:{names[0]}", kwargs=_kwargs(patterns, names[0]))


def _kwargs(patterns: list[Any], name: str) -> dict[str, str]:
    pattern = next(p for p in patterns if getattr(p, "name", None) == name)
    return {k: "x" for k in pattern.pattern.converters}


def test_it_points_a_demo_account_at_the_sandbox(provider: Provider, settings: Any) -> None:
    """`manage.py demo` configures every provider against its own sandbox, and the settings
    form (with the outbound policy's URL checks) accepts what it wrote."""
    settings_ = provider.sandbox_settings(
        sandbox_url=f"{settings.PUBLIC_URL}/sandbox/{provider.name}/"
    )
    assert settings_, "manage.py demo configures every provider against its sandbox"
    form = provider.form_class(data={**settings_}, stored={})
    assert form.is_valid(), form.errors


def test_it_answers_page_polls_only_for_providers_without_callbacks(provider: Provider) -> None:
    overrides = type(provider).check_on_page_poll is not Provider.check_on_page_poll
    assert provider.poll_on_page == overrides


def test_it_keeps_each_provider_in_one_folder_with_a_readme(provider: Provider) -> None:
    """One folder per provider: its class, its Django app and a README that says where
    each part lives (no provider code left anywhere else)."""
    from pathlib import Path

    from django.apps import apps

    folder = Path(__file__).resolve().parents[2] / "providers" / provider.name
    assert (folder / "provider.py").is_file() and (folder / "README.md").is_file()
    app = apps.get_app_config(f"kyc_{provider.name}")
    assert Path(app.path).resolve() == folder
