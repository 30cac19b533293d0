"""A merchant's provider accounts: settings (audited by field name), runtime state,
refused credentials."""

from __future__ import annotations

from collections.abc import Mapping
from typing import Any

from django.db import transaction

from kyc import registry
from kyc.models import Merchant, ProviderAccount
from kyc.services.audit import audit_log


def provider_account_get_or_create(*, merchant: Merchant, provider: str) -> ProviderAccount:
    registry.get(provider)  # refuse unknown providers early
    account, _ = ProviderAccount.objects.get_or_create(merchant=merchant, provider=provider)
    return account


def provider_account_update(
    *, account: ProviderAccount, settings_: Mapping[str, Any], enabled: bool, actor: Any = None
) -> ProviderAccount:
    """Save a merchant's provider settings; the audit entry names changed fields, never values."""
    old = account.settings or {}
    changed = sorted(k for k in set(old) | set(settings_) if old.get(k) != settings_.get(k))
    account.settings = dict(settings_)
    enabled_changed = account.enabled != enabled
    account.enabled = enabled
    account.save()
    if changed or enabled_changed:
        audit_log(
            actor=actor,
            action="provider_account.updated",
            obj=account,
            detail={"provider": account.provider, "changed_fields": changed, "enabled": enabled},
        )
    return account


def provider_account_set_state(
    *, account_id: int, updates: Mapping[str, Any], error: str | None = None
) -> None:
    """Merge runtime state (cached tokens, expiries) under a row lock so writers never clobber each other."""
    with transaction.atomic():
        account = ProviderAccount.objects.select_for_update().get(pk=account_id)
        state = dict(account.state or {})
        state.update(updates)
        account.state = state
        fields = ["state", "updated_at"]
        if error is not None:
            account.last_error = error
            fields.append("last_error")
        account.save(update_fields=fields)


def account_auth_failed(*, account: ProviderAccount, message: str) -> None:
    """The provider refused the merchant's credentials: say so on the settings page.
    A flow that caches tokens drops them in its own `account_auth_failed` hook."""
    provider = registry.find(account.provider)
    if provider is None or not provider.account_auth_failed(account_id=account.pk, message=message):
        provider_account_set_state(account_id=account.pk, updates={}, error=message)
