"""What goes over the wire with Blockpass, as small dataclasses (no Django)."""

from __future__ import annotations

import datetime as dt
from dataclasses import dataclass, field
from typing import Any

# The real wire value: Blockpass misspells "promise" in this action name.
ACTION_CERT_PROMISE_RESOLVED = "certPormise.resolved"
ACTION_SERVICE_INFO_UPDATED = "serviceInfo.updated"

# Record statuses the Blockpass app understands (Server SDK RecordStatus).
RECORD_STATUSES = ("notFound", "waiting", "inreview", "approved")
# Per identity field / certificate (Server SDK queryKycStatus comment).
ITEM_STATUSES = ("received", "approved", "rejected", "missing")


def _unwrap(payload: Any) -> dict[str, Any]:
    """Blockpass wraps answers as {status, refId, data: {...}}; older answers are bare."""
    if isinstance(payload, dict) and isinstance(payload.get("data"), dict):
        return payload["data"]
    return payload if isinstance(payload, dict) else {}


@dataclass(frozen=True)
class Token:
    """A record's Blockpass token (the SDK's `bpToken`, with expires_at computed once)."""

    access_token: str
    refresh_token: str = ""
    token_type: str = ""
    expires_at: dt.datetime | None = None

    @classmethod
    def from_answer(cls, payload: Any, *, now: dt.datetime) -> Token:
        data = _unwrap(payload)
        access = str(data.get("access_token") or "")
        if not access:
            raise ValueError("token answer has no access_token")
        try:
            expires_in = int(data.get("expires_in") or 0)
        except (TypeError, ValueError):
            expires_in = 0
        return cls(
            access_token=access,
            refresh_token=str(data.get("refresh_token") or ""),
            token_type=str(data.get("token_type") or ""),
            expires_at=now + dt.timedelta(seconds=expires_in) if expires_in > 0 else None,
        )

    def expired(self, *, now: dt.datetime, leeway: int = 30) -> bool:
        """Renew a little early so a call never starts with a token about to lapse."""
        return self.expires_at is not None and self.expires_at <= now + dt.timedelta(seconds=leeway)

    def to_dict(self) -> dict[str, Any]:
        return {
            "access_token": self.access_token,
            "refresh_token": self.refresh_token,
            "token_type": self.token_type,
            "expires_at": self.expires_at.isoformat() if self.expires_at else None,
        }

    @classmethod
    def from_dict(cls, data: dict[str, Any]) -> Token:
        expires = data.get("expires_at")
        return cls(
            access_token=str(data.get("access_token") or ""),
            refresh_token=str(data.get("refresh_token") or ""),
            token_type=str(data.get("token_type") or ""),
            expires_at=dt.datetime.fromisoformat(expires) if expires else None,
        )


@dataclass(frozen=True)
class Profile:
    """The customer as Blockpass describes them to the merchant (GET /api/3rdService/user)."""

    blockpass_id: str
    extra: dict[str, Any] = field(default_factory=dict)

    @classmethod
    def from_answer(cls, payload: Any) -> Profile:
        data = _unwrap(payload)
        bpid = str(data.get("id") or data.get("blockPassID") or data.get("blockpassID") or "")
        if not bpid:
            raise ValueError("user answer has no id")
        return cls(blockpass_id=bpid, extra={k: v for k, v in data.items() if k != "id"})


@dataclass(frozen=True)
class PulledCertificate:
    slug: str
    raw: bytes

    @classmethod
    def from_answer(cls, payload: Any) -> PulledCertificate:
        data = _unwrap(payload)
        slug, raw = data.get("slug"), data.get("raw")
        if not slug or raw is None:
            raise ValueError("pull answer has no slug or raw")
        if isinstance(raw, (dict, list)):
            import json

            raw_bytes = json.dumps(raw, separators=(",", ":")).encode("utf-8")
        else:
            raw_bytes = str(raw).encode("utf-8")
        return cls(slug=str(slug), raw=raw_bytes)


@dataclass(frozen=True)
class WebhookEvent:
    action: str
    env: str
    is_ping: bool
    data: dict[str, Any]

    @classmethod
    def parse(cls, payload: Any) -> WebhookEvent:
        if not isinstance(payload, dict):
            raise ValueError("webhook body is not a JSON object")
        data = payload.get("data")
        return cls(
            action=str(payload.get("action") or ""),
            env=str(payload.get("env") or ""),
            is_ping=payload.get("isPing") is True,
            data=data if isinstance(data, dict) else {},
        )
