"""Portmone as the core sees it: the one class the core talks to (settings form, start a
share request, poll chain, page-poll check, stored deliveries, auth failure, reconcile),
with the partner token cache and the mapping of states and facts it uses.

Data share requests are started server-side, status and facts fetched server-side.
The token and the facts never leave the server: the customer page only gets
the request code (QR payload). Every call that needs the token goes through
`_authed`, which reuses the cached token until shortly before it expires,
renews it on expiry, and on a 401 renews once and retries once; a second 401
is an AuthenticationError with a plain message (no loop).

services.py imports this module (token cache, state mapping), so the hooks below
import services and tasks when they run, never at module level.
"""

from __future__ import annotations

import datetime as dt
import hashlib
import re
from collections.abc import Callable
from dataclasses import dataclass, field
from typing import Any, ClassVar, Generic, TypeVar

from kyc.contract import (
    Delivery,
    FieldValue,
    Provider,
    StartRequest,
    StartResult,
    StatusUpdate,
    Verdict,
    json_object,
)
from kyc.errors import AuthenticationError, InvalidInput, SignatureError
from kyc.renewal import call_with_renewal
from providers.portmone import client
from providers.portmone.forms import PortmoneSettingsForm
from providers.portmone.schemas import (
    APPROVED,
    DECLINED,
    EXPIRED,
    PENDING,
    SHARE_STATES,
    SharedFacts,
    ShareStatus,
    Token,
)

T = TypeVar("T")

# Renew a little before the stated expiry: a token valid "for 2 more seconds" fails mid-call.
TOKEN_SKEW = dt.timedelta(seconds=30)
FACT_NAME = re.compile(r"^[A-Za-z][A-Za-z0-9_.-]{0,63}$")
MAX_FACTS = 30

# Portmone's own order of states; provider_status never moves backwards.
RANK = {PENDING: 1, APPROVED: 2, "facts_received": 3, DECLINED: 3, EXPIRED: 3}

AUTH_REFUSED_TWICE = (
    "Portmone refused the partner token twice (401), even right after issuing a new one. "
    "Check the partner login, password and base URL in the Portmone settings."
)


@dataclass
class Authed(Generic[T]):
    """A result plus what to merge into the account state (a renewed token)."""

    value: T
    state_updates: dict[str, Any] = field(default_factory=dict)


def _utcnow(now: dt.datetime | None) -> dt.datetime:
    return now or dt.datetime.now(dt.UTC)


def credentials_fingerprint(cfg: client.ClientConfig) -> str:
    """A token is only reused for the credentials it was issued to (settings may change)."""
    raw = f"{cfg.base_url}|{cfg.paths['auth_path']}|{cfg.login}|{cfg.password}"
    return hashlib.sha256(raw.encode()).hexdigest()[:24]


def token_state(token: Token, cfg: client.ClientConfig, now: dt.datetime) -> dict[str, Any]:
    return {
        "token": token.value,
        "token_expires_at": token.expires_at.isoformat(),
        "token_for": credentials_fingerprint(cfg),
        "token_renewed_at": now.isoformat(),
        "auth_error": "",
    }


def cached_token(state: dict[str, Any], cfg: client.ClientConfig, now: dt.datetime) -> str | None:
    token = state.get("token")
    expires = client.parse_time(state.get("token_expires_at"))
    if not token or expires is None or state.get("token_for") != credentials_fingerprint(cfg):
        return None
    return str(token) if expires - TOKEN_SKEW > now else None


def _authed(
    settings: dict[str, Any],
    state: dict[str, Any],
    call: Callable[[client.ClientConfig, str], T],
    now: dt.datetime | None = None,
) -> Authed[T]:
    cfg = client.ClientConfig.from_settings(settings)
    now = _utcnow(now)
    updates: dict[str, Any] = {}
    token = cached_token(state, cfg, now)
    if token is None:
        fresh = client.authenticate(cfg, now=now)
        token, updates = fresh.value, token_state(fresh, cfg, now)

    def renew(_refused: str) -> str:
        fresh = client.authenticate(cfg, now=now)
        updates.clear()
        updates.update(token_state(fresh, cfg, now))
        return fresh.value

    value = call_with_renewal(
        lambda t: call(cfg, t),
        current=token,
        renew=renew,
        refused_twice=lambda exc: AuthenticationError(AUTH_REFUSED_TWICE, status=exc.status),
    )
    return Authed(value, updates)


def parse_facts(value: str | list[str] | tuple[str, ...]) -> list[str]:
    parts = value.split(",") if isinstance(value, str) else list(value)
    out: list[str] = []
    for raw in parts:
        name = str(raw).strip()
        if name and name not in out:
            out.append(name)
    return out


def status_update(share: ShareStatus) -> StatusUpdate:
    """What a status answer means for the request (approval alone does not complete it:
    the facts still have to be pulled)."""
    if share.status == APPROVED:
        return StatusUpdate(
            status="accepted",
            provider_status=APPROVED,
            provider_rank=RANK[APPROVED],
            detail="Approved in the Portmone app; pulling the shared facts",
        )
    if share.status == DECLINED:
        return StatusUpdate(
            status="declined",
            provider_status=DECLINED,
            provider_rank=RANK[DECLINED],
            failure_code="declined",
            detail="Declined in the Portmone app; no facts were shared.",
        )
    if share.status == EXPIRED:
        return StatusUpdate(
            status="expired",
            provider_status=EXPIRED,
            provider_rank=RANK[EXPIRED],
            failure_code="expired",
            detail="The Portmone request expired before it was approved; no facts were shared.",
        )
    return StatusUpdate(provider_status=PENDING, provider_rank=RANK[PENDING])


def facts_update(shared: SharedFacts) -> StatusUpdate:
    fields = [FieldValue(key=k, value=v) for k, v in sorted(shared.facts.items())]
    return StatusUpdate(
        status="completed",
        provider_status="facts_received",
        provider_rank=RANK["facts_received"],
        detail=f"{len(fields)} shared fact(s) received from Portmone",
        fields=fields,
    )


def app_link(code: str) -> str:
    """The link that opens the Portmone app at this request on a phone (the API answers no
    deep link): the code itself when it already is an https link, else the code put into
    settings.PORTMONE_APP_LINK_FORMAT ({code}, URL-quoted)."""
    from urllib.parse import quote, urlsplit

    from django.conf import settings

    text = (code or "").strip()
    if not text:
        return ""
    if urlsplit(text).scheme in ("https", "http"):
        return text  # the customer page renders it only when kyc.links allows it
    link_format = str(getattr(settings, "PORTMONE_APP_LINK_FORMAT", "") or "")
    return link_format.replace("{code}", quote(text, safe="")) if "{code}" in link_format else ""


class PortmoneProvider(Provider):
    name: ClassVar[str] = "portmone"
    label: ClassVar[str] = "Portmone"
    starts_transfers: ClassVar[bool] = True
    # No documented callback: approval is learned by polling, so the page poll triggers checks.
    poll_on_page: ClassVar[bool] = True
    form_class = PortmoneSettingsForm
    urls = "providers.portmone.urls"
    sandbox = "providers.portmone.sandbox"

    def sandbox_settings(self, *, sandbox_url: str) -> dict[str, Any]:
        return {
            "base_url": sandbox_url.rstrip("/"),
            "login": "demo-partner",
            "password": "demo-partner-password",
            **client.DEFAULT_PATHS,
            "default_facts": "age_over_18, full_name",
        }

    def validate_start(
        self, *, subject: str, items: list[str], settings: dict[str, Any]
    ) -> tuple[str, list[str]]:
        facts = parse_facts(items) or parse_facts(
            settings.get("default_facts") or ",".join(client.DEFAULT_FACTS)
        )
        if len(facts) > MAX_FACTS:
            raise InvalidInput(f"at most {MAX_FACTS} facts per request", field="items")
        for fact in facts:
            if not FACT_NAME.match(fact):
                raise InvalidInput(f"{fact!r} is not a fact name", field="items")
        # Portmone shares facts about a person, not about a given subject id.
        return "", facts

    def start_transfer(self, request: StartRequest) -> StartResult:
        facts = list(request.items) or parse_facts(
            request.settings.get("default_facts") or ",".join(client.DEFAULT_FACTS)
        )
        callback = request.webhook_url if request.settings.get("webhook_enabled") else ""
        result = _authed(
            request.settings,
            request.state,
            lambda cfg, token: client.create_share_request(
                cfg, token, facts=facts, reference=request.transfer_id, callback_url=callback
            ),
            request.now,
        )
        share = result.value
        return StartResult(
            provider_ref=share.id,
            qr_payload=share.code,
            deep_link=app_link(share.code),
            expires_at=share.expires_at,
            provider_status=share.status,
            status="pending",
            items=tuple(share.facts or facts),
            data={"webhook": bool(callback)},
            state_updates=result.state_updates,
            detail="Data share request created; waiting for the customer",
        )

    def check_status(
        self,
        *,
        settings: dict[str, Any],
        state: dict[str, Any],
        share_id: str,
        now: dt.datetime | None = None,
    ) -> Authed[ShareStatus]:
        return _authed(settings, state, lambda cfg, t: client.get_status(cfg, t, share_id), now)

    def fetch_facts(
        self,
        *,
        settings: dict[str, Any],
        state: dict[str, Any],
        share_id: str,
        now: dt.datetime | None = None,
    ) -> Authed[SharedFacts]:
        return _authed(settings, state, lambda cfg, t: client.pull_facts(cfg, t, share_id), now)

    def test_connection(self, *, settings: dict[str, Any], state: dict[str, Any]) -> str:
        cfg = client.ClientConfig.from_settings(settings)
        token = client.authenticate(cfg)
        minutes = max(int((token.expires_at - _utcnow(None)).total_seconds() // 60), 0)
        return f"signed in to Portmone as {cfg.login}; the partner token is valid for {minutes} min"

    def describe_state(self, *, state: dict[str, Any]) -> list[tuple[str, str]]:
        lines: list[tuple[str, str]] = []
        expires = client.parse_time(state.get("token_expires_at"))
        if state.get("token") and expires:
            when = expires.strftime("%Y-%m-%d %H:%M UTC")
            valid = expires > _utcnow(None)
            lines.append(
                ("Partner token", f"cached, valid until {when}" if valid else f"expired at {when}")
            )
        else:
            lines.append(("Partner token", "none cached; one is fetched on the next request"))
        if state.get("token_renewed_at"):
            lines.append(("Token last issued", str(state["token_renewed_at"])[:19] + " UTC"))
        if state.get("auth_error"):
            at = str(state.get("auth_error_at") or "")[:19]
            lines.append(("Authentication error", f"{state['auth_error']} ({at} UTC)"))
        return lines

    def parse_hint(self, body: bytes) -> tuple[str, str]:
        """A webhook says which request changed; it is only a hint (unsigned), so the
        caller confirms by asking Portmone. Returns (share id, status)."""
        data = json_object(body or b"{}", SignatureError)
        share_id = str(data.get(client.F_ID) or "")
        status = str(data.get(client.F_STATUS) or "").lower()
        if not share_id or len(share_id) > 200:
            raise SignatureError(f"missing {client.F_ID!r}")
        if status and status not in SHARE_STATES:
            raise SignatureError(f"unknown status {status!r}")
        return share_id, status

    def transfer_started(self, *, transfer_id: str) -> None:
        from providers.portmone import services

        services.transfer_started(transfer_id=transfer_id)

    def account_auth_failed(self, *, account_id: int, message: str) -> bool:
        from providers.portmone import services

        services.account_auth_failed(account_id=account_id, message=message)
        return True

    def inbound_check(self, delivery: Delivery) -> Verdict:
        from providers.portmone import services

        return services.webhook_check(delivery)

    def process_delivery(self, *, event_id: int) -> bool:
        from providers.portmone import services

        services.inbound_process(event_id=event_id)
        return True

    def reconcile(self) -> int:
        from providers.portmone import services

        return services.reconcile()

    def check_on_page_poll(self, *, page_token: str) -> None:
        from providers.portmone import tasks

        tasks.check_transfer_by_page_token.delay(page_token)
