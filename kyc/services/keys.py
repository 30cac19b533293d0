"""API keys: created (plaintext shown once), revoked, used, and the audit of every PII read."""

from __future__ import annotations

import datetime as dt
import hashlib
import secrets
from collections.abc import Iterable, Mapping
from typing import Any

from django.utils import timezone

from kyc.errors import InvalidInput
from kyc.models import ApiKey, AuditEntry, Merchant, default_api_key_scopes
from kyc.services.audit import audit_log


def api_key_create(
    *,
    merchant: Merchant,
    name: str,
    created_by: Any = None,
    raw: str | None = None,
    scopes: Iterable[str] | None = None,
) -> tuple[ApiKey, str]:
    """Create a key; the plaintext is returned once and never stored.

    `raw` lets `manage.py demo` use a stable key; everything else gets a random one.
    `scopes` defaults to read + write: decrypted PII (`pii`) only when asked for.
    """
    scope_list = _api_key_scopes(scopes)
    if raw is None:
        raw = f"kp_{secrets.token_hex(4)}_{secrets.token_urlsafe(32)}"
    prefix = raw.split("_")[1]
    key = ApiKey.objects.create(
        merchant=merchant,
        name=name,
        prefix=prefix,
        hashed=hashlib.sha256(raw.encode()).hexdigest(),
        created_by=created_by if getattr(created_by, "pk", None) else None,
        scopes=scope_list,
    )
    audit_log(
        actor=created_by,
        action="api_key.created",
        obj=key,
        detail={"prefix": prefix, "scopes": scope_list},
    )
    return key, raw


def _api_key_scopes(scopes: Iterable[str] | None) -> list[str]:
    """Known scopes in a stable order; an unknown one is a mistake worth refusing."""
    if scopes is None:
        return default_api_key_scopes()
    wanted = set(scopes)
    unknown = sorted(wanted - set(ApiKey.Scope.values))
    if unknown:
        raise InvalidInput(f"unknown API key scope(s): {', '.join(unknown)}", field="scopes")
    return [s for s in ApiKey.Scope.values if s in wanted]


def api_key_revoke(*, key: ApiKey, actor: Any = None) -> ApiKey:
    if key.revoked_at is None:
        key.revoked_at = timezone.now()
        key.save(update_fields=["revoked_at"])
        audit_log(actor=actor, action="api_key.revoked", obj=key, detail={"prefix": key.prefix})
    return key


def api_key_pii_read_audit(
    *, key: ApiKey, endpoint: str, fields: Mapping[int, Iterable[str]]
) -> AuditEntry:
    """One entry per API response that carried decrypted values: which key, which
    endpoint, which records and which of their fields. Never a value."""
    return audit_log(
        actor=None,
        action="pii.api_read",
        obj=key,
        detail={
            "key": key.prefix,
            "endpoint": endpoint[:300],
            "records": sorted(fields),
            "fields": {str(pk): sorted(set(names)) for pk, names in sorted(fields.items())},
        },
    )


def api_key_touch(*, key: ApiKey) -> None:
    """Record use at most once a minute: a write per API call would cost more than the call."""
    now = timezone.now()
    if key.last_used_at is None or now - key.last_used_at > dt.timedelta(minutes=1):
        ApiKey.objects.filter(pk=key.pk).update(last_used_at=now)
