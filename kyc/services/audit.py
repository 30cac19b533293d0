"""The audit entry a service writes: `audit_log` (kept in kyc.audit, below the services, so
modules the services import, such as the outbox, can audit without an import circle)."""

from __future__ import annotations

from kyc.audit import audit_log

__all__ = ["audit_log"]
