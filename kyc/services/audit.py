"""The audit entry a service writes: `audit_log`, kyc.audit.audit_write naming an object."""

from __future__ import annotations

from collections.abc import Mapping
from typing import Any

from django.db.models import Model

from kyc.audit import audit_write
from kyc.models import AuditEntry, Merchant


def audit_log(
    *,
    actor: Any,
    action: str,
    obj: Model | None = None,
    merchant: Merchant | None = None,
    detail: Mapping[str, Any] | None = None,
) -> AuditEntry:
    """Thin alias of kyc.audit.audit_write (the one way in) that names an object."""
    if merchant is None and obj is not None:
        merchant = getattr(obj, "merchant", None) or (obj if isinstance(obj, Merchant) else None)
    return audit_write(
        actor=actor,
        merchant=merchant,
        action=action,
        object_type=obj._meta.label if obj is not None else "",
        object_id=str(obj.pk) if obj is not None else "",
        detail=detail,
    )
