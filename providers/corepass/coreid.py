"""CoreID (ICAN) validation: network prefix, mod-97 check digits, 40 hex digits."""

from __future__ import annotations

import re

# Network prefixes of Core Blockchain addresses. `cb` mainnet and `ab` the Devin
# testnet are in CorePass's document and Core's docs; `ce` is go-core's prefix for private
# (enterprise) networks.
NETWORKS: dict[str, str] = {
    "cb": "Core mainnet",
    "ab": "Devin testnet",
    "ce": "private Core network",
}
LENGTH = 44
_HEX = re.compile(r"^[0-9a-f]{40}$")


class CoreIDError(ValueError):
    """The text is not a valid CoreID; the message names the problem."""


def _digits(text: str) -> str:
    # ISO 13616: letters become base-36 numbers (a=10 … z=35), digits stay.
    return "".join(str(int(c, 36)) for c in text)


def check_digits(prefix: str, body: str) -> str:
    """The two check digits for a prefix and 40-hex body (as go-core computes them)."""
    remainder = int(_digits(body + prefix + "00")) % 97
    return f"{98 - remainder:02d}"


def normalize(value: str) -> str:
    """Validate a CoreID and return it in canonical (lowercase) form, or raise CoreIDError."""
    text = (value or "").strip().lower()
    if not text:
        raise CoreIDError("CoreID is missing.")
    if len(text) != LENGTH:
        raise CoreIDError(f"CoreID must be {LENGTH} characters long, got {len(text)}.")
    prefix, check, body = text[:2], text[2:4], text[4:]
    if prefix not in NETWORKS:
        known = ", ".join(f"{p} ({n})" for p, n in NETWORKS.items())
        raise CoreIDError(f"CoreID network prefix {prefix!r} is unknown; expected one of {known}.")
    if not check.isdigit():
        raise CoreIDError("CoreID characters 3-4 must be the two check digits.")
    if not _HEX.match(body):
        raise CoreIDError("CoreID must end with 40 hexadecimal characters (0-9, a-f).")
    if int(_digits(body + prefix + check)) % 97 != 1:
        raise CoreIDError("CoreID check digits do not match: it is probably mistyped.")
    return text


def is_valid(value: str) -> bool:
    try:
        normalize(value)
    except CoreIDError:
        return False
    return True


def network(value: str) -> str:
    return NETWORKS.get((value or "")[:2].lower(), "")


# The CorePass sandbox knows every valid CoreID (each has the default verified
# items), so this one fixed Devin-testnet address works in the demo, the README's
# quick start and the tests without computing check digits by hand.
SAMPLE_BODY = "5a4db0c0ffee0000000000000000000000000042"


def sample_coreid(body: str = SAMPLE_BODY, prefix: str = "ab") -> str:
    """A valid CoreID (ICAN check digits computed) that the CorePass sandbox accepts."""
    return prefix + check_digits(prefix, body.lower()) + body.lower()
