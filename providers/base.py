"""What crosses the boundary between kyc and a provider: small dataclasses.

Providers differ (DESIGN.md): only what is really shared lives here. An adapter
that starts verifications implements `start_transfer`; one that does not
(Blockpass, Sunbird) leaves `starts_transfers = False`.
"""

from __future__ import annotations

import datetime as dt
from dataclasses import dataclass, field
from typing import Any, ClassVar, Protocol

from providers.forms import ProviderSettingsForm


@dataclass(frozen=True)
class StartRequest:
    """Everything an adapter needs to start one verification."""

    transfer_id: str
    reference: str
    settings: dict[str, Any]
    state: dict[str, Any]
    # Unguessable per-request base URL for callbacks (ends with "/"), e.g.
    # https://portal/hooks/corepass/t/<callback_token>/ ; the adapter appends paths.
    callback_url: str
    # The account's webhook URL (per merchant), for providers that use one.
    webhook_url: str
    page_url: str
    subject: str = ""  # e.g. a CoreID
    items: tuple[str, ...] = ()
    redirect_url: str = ""
    now: dt.datetime | None = None


@dataclass
class StartResult:
    """What the provider answered when a verification started."""

    provider_ref: str = ""  # the provider's id of this request (interview id, share id, ...)
    qr_payload: str = ""  # text the customer page encodes as a QR code
    deep_link: str = ""  # link for the "open in app" button on phones
    expires_at: dt.datetime | None = None
    provider_status: str = ""
    status: str = "pending"  # portal status after starting
    items: tuple[str, ...] | None = None  # items actually requested, when the adapter chose them
    data: dict[str, Any] = field(default_factory=dict)  # non-secret facts to keep
    secrets: dict[str, Any] = field(default_factory=dict)  # kept encrypted (session tokens)
    state_updates: dict[str, Any] = field(default_factory=dict)  # account state (cached tokens)
    detail: str = ""


@dataclass(frozen=True)
class FieldValue:
    key: str
    value: str
    pepper: str = ""


@dataclass
class StatusUpdate:
    """One thing the provider told us about a request."""

    status: str | None = None  # portal status it implies, None = unchanged
    provider_status: str = ""
    provider_rank: int = 0  # the provider's own order; provider_status never goes backwards
    tx_hash: str = ""
    detail: str = ""
    failure_code: str = ""
    fields: list[FieldValue] = field(default_factory=list)
    occurred_at: dt.datetime | None = None


class Adapter(Protocol):
    name: ClassVar[str]
    label: ClassVar[str]
    starts_transfers: ClassVar[bool]
    poll_on_page: ClassVar[bool]
    form_class: ClassVar[type[ProviderSettingsForm]]

    def start_transfer(self, request: StartRequest) -> StartResult: ...

    def validate_start(
        self, *, subject: str, items: list[str], settings: dict[str, Any]
    ) -> tuple[str, list[str]]: ...

    def describe_state(self, *, state: dict[str, Any]) -> list[tuple[str, str]]: ...

    def sandbox_console(self, *, settings: dict[str, Any], webhook_url: str) -> None: ...

    def sandbox_settings(self, *, sandbox_url: str) -> dict[str, Any]:
        """Settings that point an account at the built-in sandbox (used by `manage.py demo`)."""
        ...

    def test_connection(self, *, settings: dict[str, Any], state: dict[str, Any]) -> str:
        """Raise a ProviderError with the exact failure, or return a short success text."""
        ...


class BaseAdapter:
    """Defaults shared by adapters; subclasses override what they support."""

    name: ClassVar[str] = ""
    label: ClassVar[str] = ""
    starts_transfers: ClassVar[bool] = False
    # Whether the customer page's poll should trigger a (rate-limited) provider check.
    poll_on_page: ClassVar[bool] = False
    form_class: ClassVar[type[ProviderSettingsForm]]

    def sandbox_settings(self, *, sandbox_url: str) -> dict[str, Any]:
        return {}

    def test_connection(self, *, settings: dict[str, Any], state: dict[str, Any]) -> str:
        return "Nothing to test for this provider."

    def sandbox_console(self, *, settings: dict[str, Any], webhook_url: str) -> None:
        """Fill in the built-in sandbox's own console, as a merchant would in the vendor's
        (used by `manage.py demo`, so `make run` works end to end with no manual step)."""

    def start_transfer(self, request: StartRequest) -> StartResult:
        raise NotImplementedError(f"{self.name} does not start verifications")

    def describe_state(self, *, state: dict[str, Any]) -> list[tuple[str, str]]:
        """Non-secret facts for the settings page (token expiry, last refresh error)."""
        return []

    def validate_start(
        self, *, subject: str, items: list[str], settings: dict[str, Any]
    ) -> tuple[str, list[str]]:
        """Check merchant input before anything is stored; raise InvalidInput."""
        return subject, items
