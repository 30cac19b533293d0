"""What crosses the wire with a CorePass connector, as small dataclasses."""

from __future__ import annotations

from dataclasses import dataclass, field


@dataclass(frozen=True)
class VerifiedResult:
    verified: tuple[str, ...] = ()
    unverified: tuple[str, ...] = ()


@dataclass(frozen=True)
class QRCodeRequest:
    user: str
    items: tuple[str, ...]
    callback: str
    status_callback: str
    expiration: int
    without_qr_code: bool = True


@dataclass(frozen=True)
class QRCodeResult:
    link: str
    expiration: int
    qrcode: str = ""  # base64 PNG when asked for
    already_sent: bool = False


@dataclass(frozen=True)
class StatusEntry:
    status: str
    created_at: int = 0
    tx_hash: str = ""


@dataclass(frozen=True)
class Info:
    field_id: str
    value: str
    pepper: str


@dataclass(frozen=True)
class DataCallback:
    user: str
    infos: tuple[Info, ...]
    deadline: int
    expiration: int
    signature: str


@dataclass(frozen=True)
class StatusCallback:
    user: str
    fields: tuple[str, ...]
    status: str
    expiration: int
    deadline: int
    signature: str
    tx_hash: str = ""


@dataclass(frozen=True)
class ErrorCallback:
    user: str
    items: tuple[str, ...]
    error: str
    deadline: int
    signature: str
    extra: dict[str, str] = field(default_factory=dict)
