"""Thin functions over Sunbird's HTTP API. Every endpoint path lives here, once.

Paths default to Sunbird's release 2.3.5 integration guide and can be overridden per account from
settings (`path_<name>` keys), because current Sunbird (Sunbird-Lern) moved several
of them. Calls carry `Authorization: Bearer <api key>` and, where a user is needed,
`X-Authenticated-User-Token` from the Keycloak password grant.

No retries inside (kyc/http.py only retries idempotent methods); no ORM.
"""

from __future__ import annotations

import datetime as dt
from dataclasses import dataclass, field
from typing import Any
from urllib.parse import quote

from kyc import http
from kyc.contract import time_from_iso
from kyc.errors import PermanentError
from providers.sunbird.schemas import CertRecord, RootOrg, TokenInfo

PROVIDER = "sunbird"


def _call(method: str, url: str, **kwargs: Any) -> Any:
    """Every call of this module goes through the outbound policy as sunbird."""
    return http.call(method, url, provider=PROVIDER, **kwargs)


# name -> (default path as in the 2.3.5 guide, current Sunbird alternative for the help text)
ENDPOINTS: dict[str, tuple[str, str]] = {
    "token": (
        "/auth/realms/{realm}/protocol/openid-connect/token",
        "unchanged (Keycloak password grant)",
    ),
    "org_search": ("/api/org/v1/search", "unchanged (org search, isRootOrg filter)"),
    "org_read": ("/api/org/v1/read", "unchanged (org read; returns assigned keys)"),
    "assign_key": ("/api/org/v1/assign/key", "unchanged"),
    "content_update": (
        "/action/system/v3/content/update/{course_id}",
        "current Sunbird-Lern: PATCH /v1/course/batch/cert/template/add (attaches to a batch;"
        " its body differs from the 2.3.5 guide's content update)",
    ),
    "issue": (
        "/api/course/batch/cert/v1/issue",
        "current Sunbird-Lern: POST /v1/course/batch/cert/issue (same body, ?reIssue=true)",
    ),
    # The 2.3.5 guide has no registry search; this is the cert-registry search of current Sunbird.
    "cert_search": (
        "/api/certreg/v2/certs/search",
        "older deployments: /api/certreg/v1/certs/search (same Elasticsearch-style body)",
    ),
}

# Renew the user token this long before Keycloak says it expires.
TOKEN_MARGIN = dt.timedelta(seconds=30)


@dataclass(frozen=True)
class Config:
    base_url: str
    api_key: str
    realm: str
    client_id: str
    username: str
    password: str
    paths: dict[str, str] = field(default_factory=dict)
    page_size: int = 500

    @classmethod
    def from_settings(cls, settings: dict[str, Any]) -> Config:
        paths = {
            name: (settings.get(f"path_{name}") or default)
            for name, (default, _) in ENDPOINTS.items()
        }
        return cls(
            base_url=str(settings.get("base_url") or "").rstrip("/"),
            api_key=str(settings.get("api_key") or ""),
            realm=str(settings.get("realm") or "sunbird"),
            client_id=str(settings.get("client_id") or "admin-cli"),
            username=str(settings.get("username") or ""),
            password=str(settings.get("password") or ""),
            paths=paths,
            page_size=int(settings.get("page_size") or 500),
        )

    def url(self, name: str, **params: str) -> str:
        path = self.paths.get(name) or ENDPOINTS[name][0]
        quoted = {k: quote(str(v), safe="") for k, v in params.items()}
        return self.base_url + path.format(**quoted)

    def path(self, name: str, **params: str) -> str:
        """The path only, for step summaries (never the host, never a secret)."""
        return self.url(name, **params)[len(self.base_url) :]


def _headers(cfg: Config, user_token: str | None) -> dict[str, str]:
    headers = {"Authorization": f"Bearer {cfg.api_key}", "Content-Type": "application/json"}
    if user_token:
        headers["X-Authenticated-User-Token"] = user_token
    return headers


# --- user token (Keycloak) ----------------------------------------------------


def fetch_token(cfg: Config, *, now: dt.datetime) -> TokenInfo:
    """Keycloak password grant, form-encoded as in the 2.3.5 guide."""
    data = _call(
        "POST",
        cfg.url("token", realm=cfg.realm),
        data={
            "client_id": cfg.client_id,
            "username": cfg.username,
            "password": cfg.password,
            "grant_type": "password",
        },
        headers={"Content-Type": "application/x-www-form-urlencoded"},
    )
    token = str(data.get("access_token") or "")
    if not token:
        raise PermanentError("Keycloak answered without access_token", code="token_missing")
    expires_in = int(data.get("expires_in") or 300)
    return TokenInfo(access_token=token, expires_at=now + dt.timedelta(seconds=expires_in))


def token_from_state(state: dict[str, Any], *, now: dt.datetime) -> str | None:
    """The cached user token if it is still good for TOKEN_MARGIN, else None."""
    token = state.get("user_token")
    expires_at = time_from_iso(state.get("user_token_expires_at"))
    if not token or expires_at is None:
        return None
    if expires_at - TOKEN_MARGIN <= now:
        return None
    return str(token)


# --- API calls ----------------------------------------------------------------


def org_search(cfg: Config, *, user_token: str | None = None) -> list[RootOrg]:
    """Active root orgs (step 1 of the 2.3.5 guide)."""
    body = {
        "params": {},
        "request": {
            "filters": {"isRootOrg": True, "status": "1"},
            "fields": ["id", "orgName", "channel"],
        },
    }
    data = _call("POST", cfg.url("org_search"), json=body, headers=_headers(cfg, user_token))
    return parse_orgs(data)


def parse_orgs(data: dict[str, Any]) -> list[RootOrg]:
    content = ((data.get("result") or {}).get("response") or {}).get("content") or []
    return [
        RootOrg(
            id=str(o.get("id") or ""),
            name=str(o.get("orgName") or ""),
            channel=str(o.get("channel") or ""),
        )
        for o in content
        if o.get("id")
    ]


def org_keys(cfg: Config, *, org_id: str, user_token: str) -> dict[str, list[str]]:
    """The sign/enc keys currently assigned to an org (used to resume an interrupted assign)."""
    data = _call(
        "POST",
        cfg.url("org_read"),
        json={"request": {"organisationId": org_id}},
        headers=_headers(cfg, user_token),
    )
    keys = (((data.get("result") or {}).get("response") or {}).get("keys")) or {}
    return {
        "signKeys": [str(k) for k in keys.get("signKeys") or []],
        "encKeys": [str(k) for k in keys.get("encKeys") or []],
    }


def assign_keys(
    cfg: Config, *, org_id: str, sign_keys: list[str], enc_keys: list[str], user_token: str
) -> dict[str, Any]:
    body = {"request": {"id": org_id, "signKeys": sign_keys, "encKeys": enc_keys}}
    data = _call("PATCH", cfg.url("assign_key"), json=body, headers=_headers(cfg, user_token))
    return _summary(data)


def content_update(
    cfg: Config, *, course_id: str, cert_template: dict[str, Any], user_token: str
) -> dict[str, Any]:
    body = {"request": {"content": {"certTemplate": [cert_template]}}}
    data = _call(
        "PATCH",
        cfg.url("content_update", course_id=course_id),
        json=body,
        headers=_headers(cfg, user_token),
    )
    return _summary(data)


def issue(
    cfg: Config,
    *,
    batch_id: str,
    course_id: str,
    certificate: str,
    filters: dict[str, Any],
    reissue: bool,
    user_token: str,
    timeout: tuple[float, float] | None = None,
) -> dict[str, Any]:
    """Submit issuance; Sunbird only answers "submitted" (completion comes from the registry).

    The call has no idempotency key: the caller must never repeat it when the outcome is
    unknown (services/issue.py checks the registry instead)."""
    url = cfg.url("issue") + ("?reIssue=true" if reissue else "")
    body = {
        "request": {
            "batchId": batch_id,
            "courseId": course_id,
            "certificate": certificate,
            "filters": filters,
        }
    }
    extra: dict[str, Any] = {"timeout": timeout} if timeout else {}
    data = _call("POST", url, json=body, headers=_headers(cfg, user_token), **extra)
    return _summary(data)


@dataclass
class CertPage:
    total: int
    items: list[CertRecord]


def cert_search(
    cfg: Config,
    *,
    batch_id: str,
    course_id: str,
    offset: int,
    limit: int,
    user_token: str,
    newest_first: bool = False,
) -> CertPage:
    """One page of the registry's certificates for a batch, oldest first (stable paging);
    newest first to ask "did anything appear since?" in one small call."""
    body = {
        "request": {
            "query": {
                "bool": {
                    "must": [
                        {"match_phrase": {"related.batchId": batch_id}},
                        {"match_phrase": {"related.courseId": course_id}},
                    ]
                }
            },
            "sort": [{"createdAt": "desc" if newest_first else "asc"}],
            "from": offset,
            "size": limit,
        }
    }
    data = _call("POST", cfg.url("cert_search"), json=body, headers=_headers(cfg, user_token))
    return parse_cert_page(data, batch_id=batch_id, course_id=course_id)


def parse_cert_page(data: dict[str, Any], *, batch_id: str, course_id: str) -> CertPage:
    """Registry hits (Elasticsearch style, `_source` or flat) into CertRecords."""
    response = (data.get("result") or {}).get("response") or {}
    items = []
    for hit in response.get("content") or []:
        src = hit.get("_source") or hit
        recipient = src.get("recipient") or {}
        related = src.get("related") or {}
        cert_id = str(src.get("id") or hit.get("_id") or "")
        if not cert_id:
            continue
        items.append(
            CertRecord(
                id=cert_id,
                recipient_id=str(recipient.get("id") or ""),
                recipient_name=str(recipient.get("name") or ""),
                course_id=str(related.get("courseId") or course_id),
                batch_id=str(related.get("batchId") or batch_id),
                download_url=str(src.get("pdfUrl") or ""),
                created_at_ms=parse_created_at(src.get("createdAt")),
            )
        )
    return CertPage(total=int(response.get("count") or 0), items=items)


def parse_created_at(value: Any) -> int | None:
    """Registry createdAt (epoch ms, or an ISO date) in epoch ms; None if absent or odd."""
    if value is None or value == "" or isinstance(value, bool):
        return None
    if isinstance(value, (int, float)):
        return int(value)
    text = str(value).strip()
    if text.isdigit():
        return int(text)
    try:
        when = dt.datetime.fromisoformat(text.replace("Z", "+00:00"))
    except ValueError:
        return None
    if when.tzinfo is None:
        when = when.replace(tzinfo=dt.UTC)
    return int(when.timestamp() * 1000)


def _summary(data: Any) -> dict[str, Any]:
    """What a step records of an answer: status words, never tokens."""
    if not isinstance(data, dict):
        return {}
    params = data.get("params") or {}
    result = data.get("result") or {}
    out: dict[str, Any] = {"responseCode": data.get("responseCode", "")}
    if params.get("status"):
        out["status"] = params.get("status")
    if params.get("errmsg"):
        out["errmsg"] = params.get("errmsg")
    response = result.get("response") if isinstance(result, dict) else None
    if isinstance(response, (str, int)):
        out["response"] = response
    elif isinstance(response, dict):
        out["response"] = {k: v for k, v in response.items() if isinstance(v, (str, int, bool))}
    return out
