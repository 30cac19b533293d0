"""What crosses the wire to and from Portmone, as small dataclasses (no Django)."""

from __future__ import annotations

import datetime as dt
from dataclasses import dataclass, field

# Share request states as Portmone names them; everything else is unknown to us.
PENDING = "pending"
APPROVED = "approved"
DECLINED = "declined"
EXPIRED = "expired"
SHARE_STATES = frozenset({PENDING, APPROVED, DECLINED, EXPIRED})


@dataclass(frozen=True)
class Token:
    """A partner access token. Secret: kept only in the account's encrypted state."""

    value: str
    expires_at: dt.datetime


@dataclass(frozen=True)
class ShareRequest:
    """A data share request just created: `code` is what the QR code encodes."""

    id: str
    code: str
    status: str
    expires_at: dt.datetime | None
    facts: tuple[str, ...] = ()


@dataclass(frozen=True)
class ShareStatus:
    id: str
    status: str
    expires_at: dt.datetime | None = None


@dataclass(frozen=True)
class SharedFacts:
    """The facts the customer shared: name -> value (always text). PII."""

    facts: dict[str, str] = field(default_factory=dict)
