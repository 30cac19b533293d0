"""Webhook signatures: `x-blockpass-signature` is the hex HMAC-SHA256 of the raw body.

The SDK example never checks it; we do, in constant time, against the current
secret and (during a rotation grace period) the previous one.
"""

from __future__ import annotations

import datetime as dt
import hashlib
import hmac
from collections.abc import Iterable, Mapping
from typing import Any

from providers.errors import SignatureError

HEADER = "x-blockpass-signature"
ROTATION_GRACE = dt.timedelta(hours=24)


def sign(body: bytes, secret: str) -> str:
    return hmac.new(secret.encode("utf-8"), body, hashlib.sha256).hexdigest()


def verify(body: bytes, signature: str | None, secrets: Iterable[str]) -> None:
    """Raise SignatureError unless `signature` is the HMAC of `body` under one of `secrets`."""
    usable = [s for s in secrets if s]
    if not usable:
        raise SignatureError("no webhook secret configured")
    if not signature:
        raise SignatureError("missing x-blockpass-signature")
    given = signature.strip().lower().encode("ascii", "replace")
    # Check every secret (no early exit) so timing says nothing about which one matched.
    ok = False
    for secret in usable:
        ok |= hmac.compare_digest(sign(body, secret).encode("ascii"), given)
    if not ok:
        raise SignatureError("signature does not match")


def active_secrets(settings: Mapping[str, Any], *, now: dt.datetime) -> list[str]:
    """The current webhook secret, plus the previous one while its grace period runs."""
    secrets = [str(settings.get("webhook_secret") or "")]
    previous = str(settings.get("webhook_secret_previous") or "")
    until = settings.get("webhook_secret_previous_until")
    if previous and until:
        try:
            if dt.datetime.fromisoformat(str(until)) > now:
                secrets.append(previous)
        except ValueError:
            pass
    return [s for s in secrets if s]


def rotate(stored: Mapping[str, Any], new_secret: str, *, now: dt.datetime) -> dict[str, Any]:
    """Settings after the merchant changed the webhook secret: the old one stays valid a while,
    because Blockpass may still sign deliveries in flight (and retries) with it."""
    merged = dict(stored)
    old = str(stored.get("webhook_secret") or "")
    if new_secret and new_secret != old:
        merged["webhook_secret"] = new_secret
        if old:
            merged["webhook_secret_previous"] = old
            merged["webhook_secret_previous_until"] = (now + ROTATION_GRACE).isoformat()
    return merged
