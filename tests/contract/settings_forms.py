"""Valid settings for every registered provider's settings form, with a planted value in
each secret field. The contract suite and the isolation tests fill settings pages from here
instead of writing each provider's settings by hand."""

from __future__ import annotations

from typing import Any

from django import forms
from django.conf import settings

from kyc import registry


def planted_secret(provider: str, name: str) -> str:
    """A recognisable value for one secret field (its last 4 characters are the hint)."""
    return f"SECRETzq-{provider}-{name}-7731"


def secret_fields(provider: str) -> tuple[str, ...]:
    return tuple(registry.get(provider).form_class.secret_fields)


def providers_with_secrets() -> list[str]:
    """Registered providers whose settings form declares secret fields, in settings order."""
    return [name for name in registry.names() if secret_fields(name)]


def portal_sandbox_url(provider: str) -> str:
    """The portal's own sandbox for `provider`: the one loopback address the outbound policy
    lets a settings form save (with settings.SANDBOX on)."""
    return f"{settings.PUBLIC_URL}/sandbox/{provider}"


def form_data(provider: str, *, sandbox_url: str = "") -> tuple[dict[str, Any], list[str]]:
    """Valid-looking settings for a provider's form: planted values in every secret field.
    Its addresses are `sandbox_url` (default: a closed loopback port, which the outbound
    policy refuses, so the form is not saved)."""
    adapter = registry.get(provider)
    form = adapter.form_class(stored={})
    data: dict[str, Any] = {"acct-enabled": "on"}
    secrets: list[str] = []
    # the sandbox's settings are valid ones (keys in the right format); secrets get planted
    sandbox = adapter.sandbox_settings(
        sandbox_url=sandbox_url or "http://127.0.0.1:9/sandbox/" + provider
    )
    for name, field in form.fields.items():
        if name in form.secret_fields:
            value = planted_secret(provider, name)
            secrets.append(value)
        elif sandbox.get(name) not in (None, "", False):
            value = sandbox[name] if not isinstance(sandbox[name], bool) else "on"
            value = ",".join(value) if isinstance(value, list | tuple) else str(value)
        elif isinstance(field, forms.URLField):
            value = "http://127.0.0.1:9"
        elif isinstance(field, forms.EmailField):
            value = "ops@example.com"
        elif isinstance(field, forms.BooleanField):
            value = "on"
        elif isinstance(field, forms.IntegerField):
            value = str(field.min_value or 10)
        elif isinstance(field, forms.ChoiceField):
            value = str(field.choices[-1][0])
        elif field.initial:
            value = str(field.initial)
        else:
            value = ""
        if value != "":
            data[name] = value
    return data, secrets
