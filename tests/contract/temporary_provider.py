"""A provider written to a temporary module and registered through settings.PORTAL_PROVIDERS
alone (never installed as an app, no models), for tests of what the core gives a new
provider: the URLs are reloaded so its routes are served, and everything is undone after."""

from __future__ import annotations

import importlib
import sys
import textwrap
from collections.abc import Iterator
from contextlib import contextmanager
from pathlib import Path
from typing import Any

import pytest
from django.urls import clear_url_caches

from kyc import registry
from kyc.contract import Provider


def provider_source(
    *,
    name: str,
    label: str,
    secret: str,
    provider_body: str,
    preamble: str = "",
    form_body: str = "",
) -> str:
    """A provider module: a settings form with one write-only secret field (`secret`) and
    `form_body`, and the provider class `NewProvider` using it, with `provider_body` (class
    members, indented 4 spaces); `preamble` (imports, functions) goes before them."""
    return f"""
from django import forms

from kyc.contract import Provider, Verdict
from kyc.forms import ProviderSettingsForm, SecretInput

{textwrap.dedent(preamble)}

class NewSettingsForm(ProviderSettingsForm):
    provider_name = {name!r}
    secret_fields = ({secret!r},)
    {secret} = forms.CharField(required=False, widget=SecretInput)
{form_body}

class NewProvider(Provider):
    name = {name!r}
    label = {label!r}
    form_class = NewSettingsForm
{provider_body}
"""


def _reload_urls() -> None:
    import kyc.urls
    import portal.urls

    importlib.reload(kyc.urls)
    importlib.reload(portal.urls)
    clear_url_caches()


@contextmanager
def temporary_provider(
    settings: Any,
    tmp_path: Path,
    monkeypatch: pytest.MonkeyPatch,
    *,
    module: str,
    source: str,
    entry: str = "NewProvider",
) -> Iterator[Provider]:
    """Write `source` (see provider_source) as `module`, append `module.entry` to the
    setting and yield the provider the registry then knows (the last one, in settings
    order)."""
    (tmp_path / f"{module}.py").write_text(source)
    monkeypatch.syspath_prepend(str(tmp_path))
    settings.PORTAL_PROVIDERS = [*settings.PORTAL_PROVIDERS, f"{module}.{entry}"]
    _reload_urls()
    try:
        yield registry.providers()[-1]
    finally:
        settings.PORTAL_PROVIDERS = [p for p in settings.PORTAL_PROVIDERS if module not in p]
        registry.reload()
        sys.modules.pop(module, None)
        _reload_urls()


def provider_fixture(name: str, *, module: str, source: str) -> Any:
    """A fixture called `name` yielding the provider `source` defines, registered for the
    test and gone after it."""

    @pytest.fixture(name=name)
    def installed(
        settings: Any, tmp_path: Path, monkeypatch: pytest.MonkeyPatch
    ) -> Iterator[Provider]:
        with temporary_provider(
            settings, tmp_path, monkeypatch, module=module, source=source
        ) as provider:
            yield provider

    return installed
