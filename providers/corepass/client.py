"""Thin functions over a CorePass connector's HTTP API (all POST + JSON, no auth header).

No retries here (a retried qrcode POST could start a second request); errors are
typed by kyc/http.py and the connector's documented 400 texts become specific codes.
"""

from __future__ import annotations

from collections.abc import Sequence
from typing import Any

import requests

from kyc import http
from kyc.errors import PermanentError
from providers.corepass.schemas import QRCodeRequest, QRCodeResult, StatusEntry, VerifiedResult

PROVIDER = "corepass"


def _call(method: str, url: str, **kwargs: Any) -> Any:
    """Every call of this module goes through the outbound policy as corepass."""
    return http.call(method, url, provider=PROVIDER, **kwargs)


# The connector accepts an expiration 5 to 15 minutes ahead.
MIN_EXPIRATION = 5 * 60
MAX_EXPIRATION = 15 * 60

# The connector's 400 bodies (its integration document), lowercased fragment -> (code, merchant text).
_KNOWN_400: tuple[tuple[str, str, str], ...] = (
    (
        "ongoing request",
        "ongoing_request",
        "There is already an ongoing CorePass request for this customer and these items. "
        "Wait until it finishes or fails before asking again.",
    ),
    (
        "does not have the requested items verified",
        "items_not_verified",
        "The customer has not verified the requested items in CorePass. "
        "They need to complete KYC in the CorePass app first.",
    ),
    (
        "expiration time is invalid",
        "invalid_expiration",
        "The connector refused the expiration time (it must be 5 to 15 minutes ahead); "
        "check the server clock.",
    ),
)


def _url(base: str, path: str) -> str:
    return base.rstrip("/") + path


def _post(base: str, path: str, body: dict[str, Any], sess: requests.Session | None = None) -> Any:
    try:
        return _call("POST", _url(base, path), json=body, sess=sess)
    except PermanentError as exc:
        if exc.status == 400:
            # The connector's words live in `detail` (never shown); the merchant gets ours.
            text = f"{exc.detail} {exc.message}".lower()
            for fragment, code, message in _KNOWN_400:
                if fragment in text:
                    raise PermanentError(message, code=code, status=400) from exc
        raise


def check_expiration(expiration: int, *, now: int) -> None:
    ahead = expiration - now
    if not MIN_EXPIRATION <= ahead <= MAX_EXPIRATION:
        raise PermanentError(
            f"Expiration must be 5 to 15 minutes ahead, is {ahead} s.",
            code="invalid_expiration",
        )


def verified(
    base: str, *, user: str, items: Sequence[str], sess: requests.Session | None = None
) -> VerifiedResult:
    data = _post(base, "/api/v1/blockchain/verified", {"user": user, "items": list(items)}, sess)
    if not isinstance(data, dict):
        raise PermanentError(
            "connector answered an unexpected /verified body", code="provider_bad_answer"
        )
    return VerifiedResult(
        verified=tuple(str(i) for i in data.get("verifiedItems") or ()),
        unverified=tuple(str(i) for i in data.get("unVerifiedItems") or ()),
    )


def qrcode(
    base: str, req: QRCodeRequest, *, now: int, sess: requests.Session | None = None
) -> QRCodeResult:
    """Ask for the QR/link. The expiration window is checked here first: a request the
    connector would refuse is never sent."""
    check_expiration(req.expiration, now=now)
    body: dict[str, Any] = {
        "user": req.user,
        "items": list(req.items),
        "callback": req.callback,
        "statusCallback": req.status_callback,
        "expiration": req.expiration,
    }
    if req.without_qr_code:
        body["withoutQRCode"] = True
    data = _post(base, "/api/v1/kyc/qrcode", body, sess)
    if not isinstance(data, dict) or not data.get("link"):
        raise PermanentError("connector answered without a link", code="provider_bad_answer")
    try:
        expiration = int(data.get("expiration") or req.expiration)
    except (TypeError, ValueError):
        expiration = req.expiration
    return QRCodeResult(
        link=str(data["link"]),
        expiration=expiration,
        qrcode=str(data.get("qrcode") or ""),
        already_sent=bool(data.get("alreadySent")),
    )


def _entry(data: Any) -> StatusEntry:
    if not isinstance(data, dict) or not data.get("status"):
        raise PermanentError("connector answered without a status", code="provider_bad_answer")
    try:
        created = int(data.get("created_at") or 0)
    except (TypeError, ValueError):
        created = 0
    return StatusEntry(
        status=str(data["status"]), created_at=created, tx_hash=str(data.get("tx_hash") or "")
    )


def status(
    base: str, *, user: str, items: Sequence[str], sess: requests.Session | None = None
) -> StatusEntry:
    return _entry(_post(base, "/api/v1/kyc/status", {"user": user, "items": list(items)}, sess))


def all_statuses(
    base: str, *, user: str, items: Sequence[str], sess: requests.Session | None = None
) -> list[StatusEntry]:
    """Every status of the latest request, oldest first (the connector answers newest first)."""
    data = _post(base, "/api/v1/kyc/all-statuses", {"user": user, "items": list(items)}, sess)
    rows = data.get("AllStatuses") if isinstance(data, dict) else None
    entries = [_entry(r) for r in reversed(rows or [])]
    return sorted(entries, key=lambda e: e.created_at)
