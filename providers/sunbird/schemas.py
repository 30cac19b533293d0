"""What crosses the Sunbird boundary: small dataclasses, no Django."""

from __future__ import annotations

import datetime as dt
from dataclasses import dataclass


@dataclass(frozen=True)
class TokenInfo:
    access_token: str
    expires_at: dt.datetime


@dataclass(frozen=True)
class RootOrg:
    id: str
    name: str
    channel: str = ""


@dataclass(frozen=True)
class CertRecord:
    """One issued certificate as the registry lists it."""

    id: str
    recipient_id: str
    recipient_name: str
    course_id: str
    batch_id: str
    download_url: str
    # Registry createdAt in epoch milliseconds (None when the registry does not say).
    created_at_ms: int | None = None
