"""Webhook signatures: `x-blockpass-signature` is the hex HMAC-SHA256 of the raw body.

The SDK example never checks it; we do, in constant time, against the current
secret and (during a rotation grace period) the previous one.

Replays (a provider limitation): Blockpass signs the raw body only, and neither the body
(`{action, env, isPing, data: {certPromisesId, blockpassID}}`) nor the headers
(`x-blockpass-event`, `x-blockpass-delivery`, `x-blockpass-signature`) carry a time (Blockpass
certificate-promise guide, "Appendix - Webhook Payload format"); the delivery id is not signed.
So an old signed body sent again with a fresh delivery id cannot be refused by age. It is
contained instead: delivery ids are deduplicated per account; a certificate promise is pulled
at most once and a pulled or gone one is final (a replay can at most re-arm a failed promise
for one more pull, which Blockpass answers 404 once the data was consumed); and
serviceInfo.updated only notes what changed and when.

Merchant-signed refIds: the `refId` the Blockpass app sends to register/login comes from the
merchant's page, i.e. through the customer's hands. It names the new record's reference only
when the merchant signed it: `<reference>.<hex HMAC-SHA256(client secret, "blockpass-refid:" +
reference)>` (see `sign_ref`).
"""

from __future__ import annotations

import datetime as dt
import hashlib
import hmac
from collections.abc import Iterable, Mapping
from typing import Any

from kyc.errors import SignatureError

HEADER = "x-blockpass-signature"
ROTATION_GRACE = dt.timedelta(hours=24)
# Domain separation: a refId MAC can never double as a webhook body signature or vice versa.
REF_CONTEXT = b"blockpass-refid:"
_MAC_HEX_LEN = 64
# Codec names, named once at module level (which mutation testing leaves alone): codec
# lookup ignores case, so "ascii" -> "ASCII" inside a function is a change no test can see.
_HEX = "ascii"  # hex digests
_UTF8 = "utf-8"


def sign(body: bytes, secret: str) -> str:
    return hmac.new(secret.encode(_UTF8), body, hashlib.sha256).hexdigest()


def verify(body: bytes, signature: str | None, secrets: Iterable[str]) -> None:
    """Raise SignatureError unless `signature` is the HMAC of `body` under one of `secrets`."""
    usable = [s for s in secrets if s]
    if not usable:
        raise SignatureError("no webhook secret configured")
    if not signature:
        raise SignatureError("missing x-blockpass-signature")
    given = signature.strip().lower().encode(_HEX, "replace")
    # Check every secret (no early exit) so timing says nothing about which one matched.
    ok = False
    for secret in usable:
        ok |= hmac.compare_digest(sign(body, secret).encode(_HEX), given)
    if not ok:
        raise SignatureError("signature does not match")


def active_secrets(settings: Mapping[str, Any], *, now: dt.datetime) -> list[str]:
    """The current webhook secret, plus the previous one while its grace period runs."""
    secrets = [str(settings.get("webhook_secret") or "")]
    previous = str(settings.get("webhook_secret_previous") or "")
    until = settings.get("webhook_secret_previous_until")
    if until:  # an empty previous secret is dropped below, with every other empty one
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


def _ref_mac(reference: str, secret: str) -> str:
    msg = REF_CONTEXT + reference.encode(_UTF8)
    return hmac.new(secret.encode(_UTF8), msg, hashlib.sha256).hexdigest()


def sign_ref(reference: str, secret: str) -> str:
    """The refId a merchant's server hands the Blockpass app for its own customer `reference`."""
    return f"{reference}.{_ref_mac(reference, secret)}"


def verify_ref(ref_id: str, secrets: Iterable[str]) -> str | None:
    """The reference a merchant-signed refId vouches for; None when unsigned or forged."""
    reference, _, mac = ref_id.rpartition(".")  # no dot: the reference is empty
    if not reference:
        return None
    # Only saves the HMACs: a MAC of another length never compares equal below.
    if len(mac) != _MAC_HEX_LEN:  # pragma: no mutate
        return None
    usable = [s for s in secrets if s]  # an empty key is no secret
    given = mac.lower().encode(_HEX, "replace")
    ok = False
    for secret in usable:  # no early exit, as in verify()
        ok |= hmac.compare_digest(_ref_mac(reference, secret).encode(_HEX), given)
    return reference if ok else None
