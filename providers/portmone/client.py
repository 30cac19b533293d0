"""Thin functions over Portmone's partner API. The ONE place that names its paths and fields.

No public API description exists beyond Portmone's integration guide, so every
path is a merchant setting with the default below, and every field name is a
constant here. The sandbox (providers/portmone/sandbox.py) implements exactly
this description; the README documents it.

    POST {auth_path}            {"login", "password"}
                                -> {"access_token", "token_type", "expires_in"}
    POST {create_path}          Bearer; {"facts": [...], "reference", "callback_url"?}
                                -> {"id", "code", "status", "facts", "expires_at"}
    GET  {status_path}          Bearer -> {"id", "status", "expires_at"}
    GET  {facts_path}           Bearer -> {"id", "facts": {name: value}}

`status` is one of pending | approved | declined | expired. `expires_at` is
ISO 8601. No retries in here (kyc/http.py retries idempotent GETs only);
errors are typed: AuthenticationError (401/403), RetryableError, PermanentError.
"""

from __future__ import annotations

import datetime as dt
from collections.abc import Mapping
from dataclasses import dataclass
from typing import Any
from urllib.parse import quote

from kyc import http
from kyc.errors import AuthenticationError, PermanentError
from providers.portmone.schemas import SHARE_STATES, SharedFacts, ShareRequest, ShareStatus, Token

PROVIDER = "portmone"


def _call(method: str, url: str, **kwargs: Any) -> Any:
    """Every call of this module goes through the outbound policy as portmone."""
    return http.call(method, url, provider=PROVIDER, **kwargs)


DEFAULT_PATHS: dict[str, str] = {
    "auth_path": "/api/v1/partner/auth",
    "create_path": "/api/v1/data-share-requests",
    "status_path": "/api/v1/data-share-requests/{id}",
    "facts_path": "/api/v1/data-share-requests/{id}/facts",
}
DEFAULT_FACTS: tuple[str, ...] = ("age_over_18",)

# Field names on the wire.
F_LOGIN, F_PASSWORD = "login", "password"
F_ACCESS_TOKEN, F_EXPIRES_IN = "access_token", "expires_in"
F_ID, F_CODE, F_STATUS, F_EXPIRES_AT = "id", "code", "status", "expires_at"
F_FACTS, F_REFERENCE, F_CALLBACK_URL = "facts", "reference", "callback_url"

# When a token answer names no lifetime, assume a short one rather than forever.
FALLBACK_TOKEN_SECONDS = 300


@dataclass(frozen=True)
class ClientConfig:
    base_url: str
    login: str
    password: str
    paths: dict[str, str]

    @classmethod
    def from_settings(cls, settings: Mapping[str, Any]) -> ClientConfig:
        paths = {k: str(settings.get(k) or v) for k, v in DEFAULT_PATHS.items()}
        return cls(
            base_url=str(settings.get("base_url") or "").rstrip("/"),
            login=str(settings.get("login") or ""),
            password=str(settings.get("password") or ""),
            paths=paths,
        )

    def url(self, name: str, share_id: str = "") -> str:
        if not self.base_url:
            raise PermanentError("Portmone base URL is not set", code="provider_not_configured")
        path = self.paths[name].replace("{id}", quote(share_id, safe=""))
        return f"{self.base_url}/{path.lstrip('/')}"

    def path(self, name: str) -> str:
        return self.paths[name]


def _now(now: dt.datetime | None) -> dt.datetime:
    return now or dt.datetime.now(dt.UTC)


def parse_time(value: Any) -> dt.datetime | None:
    if not value:
        return None
    try:
        parsed = dt.datetime.fromisoformat(str(value).replace("Z", "+00:00"))
    except ValueError:
        return None
    return parsed if parsed.tzinfo else parsed.replace(tzinfo=dt.UTC)


def _object(data: Any, where: str) -> dict[str, Any]:
    if not isinstance(data, dict):
        raise PermanentError(
            f"{where}: Portmone answered an unexpected shape", code="provider_bad_answer"
        )
    return data


def _status(value: Any, where: str) -> str:
    status = str(value or "").lower()
    if status not in SHARE_STATES:
        raise PermanentError(
            f"{where}: Portmone answered an unknown share request status",
            code="provider_bad_answer",
            detail=status[:100],
        )
    return status


def _bearer(token: str) -> dict[str, str]:
    return {"Authorization": f"Bearer {token}", "Accept": "application/json"}


def authenticate(cfg: ClientConfig, *, now: dt.datetime | None = None) -> Token:
    """Exchange the partner login and password for an access token."""
    if not cfg.login or not cfg.password:
        raise PermanentError(
            "Portmone partner login and password are not set", code="provider_not_configured"
        )
    try:
        answer = _call(
            "POST",
            cfg.url("auth_path"),
            json={F_LOGIN: cfg.login, F_PASSWORD: cfg.password},
            headers={"Accept": "application/json"},
        )
    except AuthenticationError as exc:
        raise AuthenticationError(
            f"Portmone refused the partner login and password ({exc.status} at "
            f"{cfg.path('auth_path')}). Check them in the Portmone settings.",
            status=exc.status,
        ) from exc
    data = _object(answer, "partner auth")
    value = str(data.get(F_ACCESS_TOKEN) or "")
    if not value:
        raise PermanentError("partner auth: Portmone returned no token", code="provider_bad_answer")
    try:
        seconds = int(data.get(F_EXPIRES_IN) or FALLBACK_TOKEN_SECONDS)
    except (TypeError, ValueError):
        seconds = FALLBACK_TOKEN_SECONDS
    return Token(value=value, expires_at=_now(now) + dt.timedelta(seconds=max(seconds, 1)))


def create_share_request(
    cfg: ClientConfig,
    token: str,
    *,
    facts: list[str] | tuple[str, ...],
    reference: str,
    callback_url: str = "",
) -> ShareRequest:
    body: dict[str, Any] = {F_FACTS: list(facts), F_REFERENCE: reference}
    if callback_url:
        body[F_CALLBACK_URL] = callback_url
    data = _object(
        _call("POST", cfg.url("create_path"), json=body, headers=_bearer(token)),
        "create share request",
    )
    share_id, code = str(data.get(F_ID) or ""), str(data.get(F_CODE) or "")
    if not share_id or not code:
        raise PermanentError(
            "create share request: Portmone returned no id or code", code="provider_bad_answer"
        )
    return ShareRequest(
        id=share_id,
        code=code,
        status=_status(data.get(F_STATUS) or "pending", "create share request"),
        expires_at=parse_time(data.get(F_EXPIRES_AT)),
        facts=tuple(str(f) for f in data.get(F_FACTS) or facts),
    )


def get_status(cfg: ClientConfig, token: str, share_id: str) -> ShareStatus:
    data = _object(
        _call("GET", cfg.url("status_path", share_id), headers=_bearer(token)),
        "share request status",
    )
    return ShareStatus(
        id=str(data.get(F_ID) or share_id),
        status=_status(data.get(F_STATUS), "share request status"),
        expires_at=parse_time(data.get(F_EXPIRES_AT)),
    )


def _text(value: Any) -> str:
    """Facts arrive as JSON values; stored as text (true/false for booleans)."""
    if isinstance(value, bool):
        return "true" if value else "false"
    return "" if value is None else str(value)


def pull_facts(cfg: ClientConfig, token: str, share_id: str) -> SharedFacts:
    data = _object(
        _call("GET", cfg.url("facts_path", share_id), headers=_bearer(token)),
        "pull facts",
    )
    facts = data.get(F_FACTS)
    if not isinstance(facts, dict):
        raise PermanentError("pull facts: Portmone returned no facts", code="provider_bad_answer")
    return SharedFacts(facts={str(k): _text(v) for k, v in facts.items()})
