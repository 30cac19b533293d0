"""Ed448 signatures of CorePass connector callbacks.

The `signature` field is base64 of 171 bytes: a 114-byte Ed448 signature followed by
the signer's 57-byte public key. The embedded key is never trusted on its own: we
verify with the key the merchant configured and require the embedded one to equal it.
"""

from __future__ import annotations

import base64
import binascii
import functools
import hashlib
import hmac
import json
from collections.abc import Mapping, Sequence
from typing import Any

from cryptography.exceptions import InvalidSignature
from cryptography.hazmat.primitives.asymmetric.ed448 import Ed448PrivateKey, Ed448PublicKey
from cryptography.hazmat.primitives.serialization import Encoding, PublicFormat

from kyc.errors import SignatureError

SIG_LEN = 114
KEY_LEN = 57
# The connector signs with a deadline 3 minutes after sending.
DEADLINE_WINDOW = 180
# A deadline further ahead than the window (plus this much clock skew) was not made
# by a connector with a sane clock; refusing it bounds how long a capture can be replayed.
CLOCK_SKEW = 60


def parse_public_key(text: str) -> bytes:
    """A 57-byte Ed448 public key from hex (114 chars, optional 0x) or base64; ValueError otherwise."""
    raw_text = (text or "").strip()
    if not raw_text:
        raise ValueError("The connector public key is empty.")
    candidate = raw_text[2:] if raw_text.lower().startswith("0x") else raw_text
    key: bytes | None = None
    if len(candidate) == 2 * KEY_LEN:
        try:
            key = bytes.fromhex(candidate)
        except ValueError:
            key = None
    if key is None:
        try:
            key = base64.b64decode(raw_text + "=" * (-len(raw_text) % 4), validate=True)
        except (binascii.Error, ValueError):
            raise ValueError(
                "The connector public key must be hex (114 characters) or base64."
            ) from None
    if len(key) != KEY_LEN:
        raise ValueError(
            f"The connector public key must be a {KEY_LEN}-byte Ed448 key, got {len(key)} bytes."
        )
    try:
        Ed448PublicKey.from_public_bytes(key)
    except ValueError:
        # A guard for backends that check the point: today's OpenSSL loads any 57 bytes, so
        # no test can reach this line and its mutants cannot be killed.
        raise ValueError(
            "The connector public key is not a valid Ed448 key."  # pragma: no mutate
        ) from None
    return key


@functools.lru_cache(maxsize=256)
def _public_key(raw: bytes) -> Ed448PublicKey:
    """The key object, built once per configured connector key, not once per callback."""
    return Ed448PublicKey.from_public_bytes(raw)


def split_signature(signature: Any) -> tuple[bytes, bytes]:
    """(signature, embedded public key) from the base64 field; SignatureError if malformed."""
    if not signature or not isinstance(signature, str):
        raise SignatureError("signature missing")
    try:
        raw = base64.b64decode(signature.strip(), validate=True)
    except (binascii.Error, ValueError):
        raise SignatureError("signature is not base64") from None
    if len(raw) != SIG_LEN + KEY_LEN:
        raise SignatureError(f"signature must be {SIG_LEN + KEY_LEN} bytes, got {len(raw)}")
    return raw[:SIG_LEN], raw[SIG_LEN:]


def _go_json(value: Any) -> bytes:
    """Compact JSON as Go's json.Marshal writes it (<, >, & escaped; UTF-8 kept)."""
    text = json.dumps(
        value,
        separators=(",", ":"),
        ensure_ascii=False,  # pragma: no mutate (None is as falsy as False; tests pin UTF-8)
    )
    text = text.replace("<", "\\u003c").replace(">", "\\u003e").replace("&", "\\u0026")
    return text.encode()


def status_message(
    *,
    user: str,
    fields: Sequence[str],
    status: str,
    expiration: int,
    deadline: int,
    tx_hash: str | None = None,
) -> bytes:
    """What a status callback signs: SHA3-256 of the compact JSON, in this key order."""
    body: dict[str, Any] = {
        "user": user,
        "fields": list(fields),
        "status": status,
        "expiration": expiration,
        "deadline": deadline,
    }
    if tx_hash is not None:
        body["tx_hash"] = tx_hash
    return hashlib.sha3_256(_go_json(body)).digest()


def data_message(*, deadline: int) -> bytes:
    """What a data callback signs: Go's json.Encoder output of {Deadline}, raw, not hashed."""
    return b'{"Deadline":%d}\n' % deadline


def verify(*, signature: Any, message: bytes, public_key: bytes) -> None:
    """Raise SignatureError unless `signature` is the configured key's signature of `message`."""
    sig, embedded = split_signature(signature)
    if not hmac.compare_digest(embedded, public_key):
        raise SignatureError("signed by a different key than the configured connector key")
    try:
        _public_key(public_key).verify(sig, message)
    except InvalidSignature:
        raise SignatureError("signature does not verify") from None


def check_deadline(deadline: Any, *, now: int) -> int:
    """The deadline as int; SignatureError when it has passed or is implausibly far ahead."""
    try:
        value = int(deadline)
    except (TypeError, ValueError):
        raise SignatureError("deadline missing or not a number") from None
    if now > value:
        raise SignatureError(f"deadline passed {now - value} s ago")
    if value - now > DEADLINE_WINDOW + CLOCK_SKEW:
        raise SignatureError("deadline is too far in the future")
    return value


def verify_status(payload: Mapping[str, Any], *, public_key: bytes, now: int) -> None:
    """Verify a status callback body (deadline first: it is cheaper and says more)."""
    deadline = check_deadline(payload.get("deadline"), now=now)
    try:
        expiration = int(payload["expiration"])
        fields = [str(f) for f in payload["fields"]]
        user, status = str(payload["user"]), str(payload["status"])
    except (KeyError, TypeError, ValueError):
        raise SignatureError(
            "status callback is missing user, fields, status or expiration"
        ) from None
    tx = payload.get("tx_hash")
    candidates: list[str | None] = [None] if tx is None else [str(tx)]
    if tx == "":
        # Go's `omitempty` drops an empty hash from what is signed.
        candidates.append(None)
    errors: list[SignatureError] = []
    for tx_hash in candidates:
        msg = status_message(
            user=user,
            fields=fields,
            status=status,
            expiration=expiration,
            deadline=deadline,
            tx_hash=tx_hash,
        )
        try:
            verify(signature=payload.get("signature"), message=msg, public_key=public_key)
            return
        except SignatureError as exc:
            errors.append(exc)
    raise errors[-1]


def verify_data(payload: Mapping[str, Any], *, public_key: bytes, now: int) -> None:
    deadline = check_deadline(payload.get("deadline"), now=now)
    verify(
        signature=payload.get("signature"),
        message=data_message(deadline=deadline),
        public_key=public_key,
    )


def verify_origin_hint(payload: Mapping[str, Any], *, public_key: bytes, now: int) -> None:
    """For error callbacks, whose signed message is unknown: the signature must be well
    formed, embed the configured key and carry a live deadline. This is NOT proof of
    origin (anyone can copy a public key), so callers treat the delivery only as a hint."""
    check_deadline(payload.get("deadline"), now=now)
    _, embedded = split_signature(payload.get("signature"))
    if not hmac.compare_digest(embedded, public_key):
        raise SignatureError("signed by a different key than the configured connector key")


def field_hash(item: str) -> str:
    """How status callbacks name an item: hex SHA3-256 of its id."""
    return hashlib.sha3_256(item.encode()).hexdigest()


# --- signing (used by the sandbox connector and tests) -----------------------


def public_bytes(private_key: Ed448PrivateKey) -> bytes:
    return private_key.public_key().public_bytes(Encoding.Raw, PublicFormat.Raw)


def sign(private_key: Ed448PrivateKey, message: bytes) -> str:
    """The connector's signature field: base64(signature || public key)."""
    return base64.b64encode(private_key.sign(message) + public_bytes(private_key)).decode()


def sign_status(private_key: Ed448PrivateKey, body: Mapping[str, Any]) -> dict[str, Any]:
    """A status callback `body` (user, fields, status, expiration, deadline, and tx_hash
    when it has one) with the signature the connector adds to it."""
    return {**body, "signature": sign(private_key, status_message(**body))}
