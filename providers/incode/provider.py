"""Incode as the core sees it: the one class the core talks to (settings form, start an
onboarding, stored webhooks, reconcile, page-poll check, review images, cancel, review
decision, erasure), with the admin token's state it keeps in the account.

The API key and the admin token stay on the server: the customer only ever gets
the onboarding URL (which carries neither) and SDK frontends only the session token.

services.py imports this module (the admin token's state), so the hooks below import
services and tasks when they run, never at module level.
"""

from __future__ import annotations

import datetime as dt
import hashlib
from typing import Any, ClassVar

from django.urls import reverse

from kyc.contract import (
    Delivery,
    Provider,
    ReviewImage,
    StartRequest,
    StartResult,
    Verdict,
    time_from_iso,
)
from kyc.errors import InvalidInput, PermanentError
from kyc.links import safe_href
from kyc.models import InboundEvent, TransferRequest
from providers.incode import client, schemas
from providers.incode.forms import IncodeSettingsForm

# Refresh an admin token this long before it expires: with the hourly beat task a
# 24 h token is replaced at 22-23 h, and a token used later than that is replaced first.
REFRESH_MARGIN = dt.timedelta(hours=2)

# Keys of ProviderAccount.state (encrypted as a whole).
ADMIN_TOKEN = "admin_token"
ADMIN_TOKEN_ISSUED_AT = "admin_token_issued_at"
ADMIN_TOKEN_EXPIRES_AT = "admin_token_expires_at"
REFRESH_ERROR = "admin_token_error"
REFRESH_ERROR_AT = "admin_token_error_at"


ADMIN_TOKEN_FOR = "admin_token_for"


def credentials_fingerprint(settings: dict[str, Any]) -> str:
    """Which API URL, key and executive a token was issued for (a hash, never the values)."""
    raw = "\n".join(str(settings.get(k) or "") for k in ("api_url", "api_key", "executive_email"))
    return hashlib.sha256(raw.encode()).hexdigest()[:32]


def usable_admin_token(
    state: dict[str, Any], *, now: dt.datetime, settings: dict[str, Any]
) -> str | None:
    """The cached admin token if it is not due for refresh and was issued for the current
    settings (a token is never sent to a changed API URL or used for another key), else None."""
    token = state.get(ADMIN_TOKEN)
    expires = time_from_iso(state.get(ADMIN_TOKEN_EXPIRES_AT))
    if not token or expires is None or now >= expires - REFRESH_MARGIN:
        return None
    if state.get(ADMIN_TOKEN_FOR) != credentials_fingerprint(settings):
        return None
    return str(token)


def token_state(
    token: schemas.AdminToken, *, now: dt.datetime, settings: dict[str, Any]
) -> dict[str, Any]:
    return {
        ADMIN_TOKEN: token.token,
        ADMIN_TOKEN_FOR: credentials_fingerprint(settings),
        ADMIN_TOKEN_ISSUED_AT: now.isoformat(),
        ADMIN_TOKEN_EXPIRES_AT: token.expires_at.isoformat(),
        REFRESH_ERROR: "",
        REFRESH_ERROR_AT: "",
    }


def error_state(reason: str, *, now: dt.datetime) -> dict[str, Any]:
    return {REFRESH_ERROR: reason[:500], REFRESH_ERROR_AT: now.isoformat()}


def require(settings: dict[str, Any], *names: str) -> None:
    missing = [n for n in names if not settings.get(n)]
    if missing:
        raise PermanentError(
            f"Incode settings incomplete: {', '.join(missing)} not set", code="not_configured"
        )


def executive_login(settings: dict[str, Any], *, now: dt.datetime) -> schemas.AdminToken:
    """Log in as the merchant's executive: a fresh admin token. Settings without the API
    URL, key or executive credentials raise PermanentError (not_configured)."""
    require(settings, "api_url", "api_key", "executive_email", "executive_password")
    return client.executive_login(
        api_url=settings["api_url"],
        api_key=settings["api_key"],
        email=settings["executive_email"],
        password=settings["executive_password"],
        now=now,
    )


class IncodeProvider(Provider):
    name: ClassVar[str] = "incode"
    label: ClassVar[str] = "Incode"
    starts_transfers: ClassVar[bool] = True
    # Webhooks can be lost or unconfigured: the customer page's poll also asks Incode.
    poll_on_page: ClassVar[bool] = True
    form_class = IncodeSettingsForm
    urls = "providers.incode.urls"
    sandbox = "providers.incode.sandbox"

    def validate_start(
        self, *, subject: str, items: list[str], settings: dict[str, Any]
    ) -> tuple[str, list[str]]:
        if (
            not settings.get("api_url")
            or not settings.get("api_key")
            or not settings.get("flow_id")
        ):
            raise InvalidInput(
                "Incode is not configured (API URL, API key, flow id)", field="provider"
            )
        return "", []  # Incode asks for nothing up front: the flow id decides the steps

    def start_transfer(self, request: StartRequest) -> StartResult:
        s = request.settings
        require(s, "api_url", "api_key", "flow_id")
        session = client.omni_start(
            api_url=s["api_url"],
            api_key=s["api_key"],
            flow_id=s["flow_id"],
            external_customer_id=request.reference,
            # Where the phone goes at the end of the flow: the merchant's URL (https only,
            # like every link we show), else our page.
            redirection_url=safe_href(request.redirect_url) or request.page_url,
        )
        url = client.onboarding_url(
            api_url=s["api_url"],
            api_key=s["api_key"],
            token=session.token,
            client_id=s.get("client_id") or session.client_id,
        )
        return StartResult(
            provider_ref=session.interview_id,
            qr_payload=url,
            deep_link=url,
            provider_status="ONBOARDING_STARTED",
            data={"client_id": session.client_id or s.get("client_id", "")},
            secrets={"session_token": session.token},
            detail="Onboarding started at Incode; waiting for the customer",
        )

    def test_connection(self, *, settings: dict[str, Any], state: dict[str, Any]) -> str:
        """Log in as the executive: proves the API URL, the API key and the credentials."""
        token = executive_login(settings, now=dt.datetime.now(tz=dt.UTC))
        return f"API key and executive login accepted (admin token valid until {token.expires_at:%Y-%m-%d %H:%M} UTC)."

    def describe_state(self, *, state: dict[str, Any]) -> list[tuple[str, str]]:
        lines: list[tuple[str, str]] = []
        expires = time_from_iso(state.get(ADMIN_TOKEN_EXPIRES_AT))
        issued = time_from_iso(state.get(ADMIN_TOKEN_ISSUED_AT))
        if expires and state.get(ADMIN_TOKEN):
            lines.append(("Admin token expires", f"{expires:%Y-%m-%d %H:%M} UTC"))
            if issued:
                lines.append(("Admin token refreshed", f"{issued:%Y-%m-%d %H:%M} UTC"))
        else:
            lines.append(("Admin token", "not fetched yet"))
        if state.get(REFRESH_ERROR):
            at = time_from_iso(state.get(REFRESH_ERROR_AT))
            when = f" at {at:%Y-%m-%d %H:%M} UTC" if at else ""
            lines.append(("Last admin token refresh failed", f"{state[REFRESH_ERROR]}{when}"))
        else:
            lines.append(("Last admin token refresh", "succeeded" if expires else "not tried yet"))
        return lines

    def sandbox_settings(self, *, sandbox_url: str) -> dict[str, Any]:
        return {
            "api_url": sandbox_url.rstrip("/"),
            "api_key": "demo-api-key",
            "client_id": "demo-client",
            "flow_id": "demo-flow",
            "executive_email": "exec@example.com",
            "executive_password": "demo-exec-password",
            "auto_approve": True,
        }

    def sandbox_console(self, *, settings: dict[str, Any], webhook_url: str) -> None:
        from providers.incode import sandbox

        sandbox.webhook_configure(api_key=settings["api_key"], url=webhook_url)

    def inbound_check(self, delivery: Delivery) -> Verdict:
        """The onboarding-status webhook is unsigned: only a hint to go and look."""
        from providers.incode import services

        try:
            hook = schemas.parse_webhook(delivery.body)
        except schemas.BadPayload as exc:
            return Verdict(400, str(exc), state=InboundEvent.State.REFUSED, error=str(exc))
        account = delivery.account
        transfer = services.find_transfer(account=account, interview_id=hook.interview_id)
        if transfer is None:
            # Kept (staff can reprocess it once the interview is known), nothing changes.
            return Verdict(
                200,
                "kept: unknown interview",
                state=InboundEvent.State.IGNORED,
                error="unknown interview; nothing changed",
                kind=hook.onboarding_status,
            )
        return Verdict(
            200,
            "received",
            kind=hook.onboarding_status,
            transfer=transfer,
            dedupe_key=services.webhook_dedupe_key(
                account_id=account.pk, interview_id=hook.interview_id, status=hook.onboarding_status
            ),
            process=True,
            duplicate_message="duplicate: no effect",
        )

    def process_delivery(self, *, event_id: int) -> bool:
        from providers.incode import services

        services.inbound_process(event_id=event_id)
        return True

    def reconcile(self) -> int:
        from providers.incode import services

        return services.reconcile()

    def check_on_page_poll(self, *, page_token: str) -> None:
        from providers.incode import tasks

        tasks.check_transfer_by_page_token.delay(page_token)

    def record_erased(self, *, record_id: int) -> None:
        from providers.incode import services

        services.record_erased(record_id=record_id)

    def review_images(self, *, record_id: int) -> list[ReviewImage]:
        from providers.incode import services

        # ID front/back and selfie, served by the Incode admin's image view after a reveal.
        return [
            ReviewImage(
                label=row.label,
                url=reverse("admin:kyc_incode_image", args=[row.pk]),
                fetched_at=row.fetched_at,
            )
            for row in services.review_images(record_id=record_id)
        ]

    def transfer_cancel(self, *, transfer_id: str) -> bool:
        from providers.incode import services

        # Incode has no cancel call; deleting the interview ends the onboarding session
        # (its URL stops working) and erases what the customer sent so far.
        return services.transfer_cancelled(transfer_id=transfer_id)

    def review_decide(self, *, transfer_id: str, approve: bool, reason: str, actor: Any) -> bool:
        from providers.incode import services

        # The staff decision, and an approval is also sent to Incode (after commit).
        transfer = TransferRequest.objects.get(pk=transfer_id)
        services.transfer_decide(transfer=transfer, approve=approve, reason=reason, actor=actor)
        return True
