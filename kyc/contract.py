"""The provider contract: what the core asks of a provider, and what crosses between them.

The core (`kyc`) never imports a provider. It loads each one from
`settings.PORTAL_PROVIDERS` through `kyc.registry` and talks to it only through a
`Provider` instance: every hook below is typed and, unless a provider overrides
it, does nothing. A provider subclasses `Provider` once, in
`providers/<name>/provider.py`.

This module imports no Django at run time, so a provider's wire modules
(client, schemas) may use its dataclasses.
"""

from __future__ import annotations

import datetime as dt
import importlib
import json
from collections.abc import Callable, Mapping
from dataclasses import dataclass, field
from typing import TYPE_CHECKING, Any, ClassVar

if TYPE_CHECKING:
    from django.urls import URLPattern, URLResolver

    from kyc.forms import ProviderSettingsForm

    UrlPatterns = list[URLPattern | URLResolver]


# --- what crosses the boundary ------------------------------------------------


@dataclass(frozen=True)
class StartRequest:
    """Everything a provider needs to start one verification."""

    transfer_id: str
    reference: str
    settings: dict[str, Any]
    state: dict[str, Any]
    # Unguessable per-request base URL for callbacks (ends with "/"), e.g.
    # https://portal/hooks/corepass/t/<callback_token>/ ; the provider appends paths.
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
    items: tuple[str, ...] | None = None  # items actually requested, when the provider chose them
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


@dataclass(frozen=True)
class Delivery:
    """One delivery as the intake (kyc.intake.receive) hands it to its provider: read,
    bounded and addressed (the URL's token already resolved), not stored yet."""

    provider: str
    kind: str  # what the endpoint receives ("status", "data"; "" for a provider's webhook)
    path: str
    headers: Mapping[str, str]
    body: bytes
    remote_addr: str | None
    account: Any = None  # kyc.models.ProviderAccount the webhook token names, if any
    transfer: Any = None  # kyc.models.TransferRequest the callback token names, if any


@dataclass
class Verdict:
    """What a provider says of a delivery, checked in memory before it is stored: the
    intake stores it once (encrypted) with these fields and answers `status`/`message`."""

    status: int = 200
    message: str = "received"
    state: str = "received"  # kyc.models.InboundEvent.State of the stored row
    error: str = ""
    kind: str = ""  # InboundEvent.kind; "" keeps the delivery's own
    verified: bool = False
    dedupe_key: str | None = None  # the same key twice: the second is a duplicate
    transfer: Any = None  # the request it is about, when the provider found it
    # Once committed, hand the stored delivery to process_delivery (a worker task).
    process: bool = False
    # Apply it now, in the intake's transaction (Provider.inbound_apply).
    apply: bool = False
    parsed: Any = None  # what inbound_apply needs of the parsed delivery
    duplicate_message: str = "duplicate delivery, no effect"


@dataclass(frozen=True)
class ReviewImage:
    """An image a provider captured (ID front/back, selfie), listed on the review page.
    `url` serves it only to a session with an active reveal of the record."""

    label: str
    url: str
    fetched_at: Any = None


# --- reading what crosses ----------------------------------------------------


def time_from_iso(value: Any) -> dt.datetime | None:
    """A time kept as ISO text in JSON (an account's state, the customer page's state);
    None when it is absent or unreadable, so a bad stored value never breaks its reader."""
    if not value:
        return None
    try:
        return dt.datetime.fromisoformat(str(value))
    except ValueError:
        return None


def json_object(body: bytes, error: Callable[[str], Exception]) -> dict[str, Any]:
    """An inbound body that must be one JSON object; anything else raises `error(reason)`
    with a short reason that is safe to answer and to store."""
    try:
        data = json.loads(body)
    except ValueError:
        raise error("body is not JSON") from None
    if not isinstance(data, dict):
        raise error("body is not a JSON object")
    return data


# --- the contract -------------------------------------------------------------


class Provider:
    """One provider as the core sees it. Subclasses override what they support."""

    name: ClassVar[str] = ""
    label: ClassVar[str] = ""
    # Whether merchants (API, "New verification") can start requests with it.
    starts_transfers: ClassVar[bool] = False
    # Whether the customer page's poll should trigger a (rate-limited) provider check.
    poll_on_page: ClassVar[bool] = False
    # The merchant's settings form (secrets write-only).
    form_class: ClassVar[type[ProviderSettingsForm]]
    # Dotted paths of its URL module (inbound endpoints, its own pages) and of its sandbox
    # module, each with `urlpatterns`; the sandbox is imported only when SANDBOX mounts it.
    urls: ClassVar[str] = ""
    sandbox: ClassVar[str] = ""

    # Starting a request (kyc.services.transfer_create).

    def validate_start(
        self, *, subject: str, items: list[str], settings: dict[str, Any]
    ) -> tuple[str, list[str]]:
        """Check merchant input before anything is stored; raise InvalidInput."""
        return subject, items

    def start_transfer(self, request: StartRequest) -> StartResult:
        raise NotImplementedError(f"{self.name} does not start verifications")

    def transfer_started(self, *, transfer_id: str) -> None:
        """After the started request is committed (e.g. begin a poll chain)."""

    # Settings page.

    def describe_state(self, *, state: dict[str, Any]) -> list[tuple[str, str]]:
        """Non-secret facts for the settings page (token expiry, last refresh error)."""
        return []

    def test_connection(self, *, settings: dict[str, Any], state: dict[str, Any]) -> str:
        """Raise a ProviderError with the exact failure, or return a short success text."""
        return "Nothing to test for this provider."

    def account_auth_failed(self, *, account_id: int, message: str) -> bool:
        """The provider refused the merchant's credentials. Return True when handled here
        (e.g. cached tokens dropped); False lets the core just record the message."""
        return False

    # Deliveries, reconciliation, pages, erasure.

    def inbound_check(self, delivery: Delivery) -> Verdict:
        """Verify and parse a delivery in memory (kyc.intake.receive stores it once, with
        the verdict's state). The default keeps it for staff: nothing processes it."""
        return Verdict(status=202, message="kept", state="ignored", error="no processor")

    def inbound_apply(self, *, event: Any, delivery: Delivery, verdict: Verdict) -> Verdict:
        """Apply a stored delivery now (`verdict.apply`), inside the intake's transaction;
        returns the answer (and final state) for it. Raising rolls the transaction back:
        the intake then keeps the delivery RECEIVED for the sweeper and answers 503."""
        return verdict

    def inbound_received(self, *, event_id: int) -> None:
        """A delivery was stored to be processed (`verdict.process`): by default a worker
        gets it once committed (kyc.tasks.process_inbound -> process_delivery; a burst
        publishes one task, which takes the others with it)."""
        from django.db import transaction

        from kyc.tasks import process_inbound

        transaction.on_commit(lambda: process_inbound.hand_over(event_id))

    def inbound_duplicate(self, *, original_id: int, original_state: str) -> None:
        """A delivery arrived again (same dedupe key) and was stored as a duplicate."""

    def process_delivery(self, *, event_id: int) -> bool:
        """Process one stored InboundEvent (idempotent). False: this provider has no
        processor, and the core marks the delivery ignored."""
        return False

    def reconcile(self) -> int:
        """Beat: catch up with requests the provider went quiet about. Returns how many moved."""
        return 0

    def delivery_choose(self, *, event_id: int, actor: Any) -> bool:
        """Compliance staff settle a conflict: apply this kept delivery to its request in
        review (audited by the provider). False: nothing to settle with this delivery."""
        return False

    # Compliance review (kyc.review): whether staff may ask the customer to send data
    # again (the provider's app re-uploads), and the provider's own decision code.
    review_resubmit: ClassVar[bool] = False

    def review_decide(self, *, transfer_id: str, approve: bool, reason: str, actor: Any) -> bool:
        """Staff approve or reject a request waiting for review (`reason`: what the customer
        is shown). True when the provider decided it (e.g. also at the provider); False:
        the core's kyc.services.transfer_review decides."""
        return False

    def review_images(self, *, record_id: int) -> list[ReviewImage]:
        """Images of the record this provider keeps (encrypted), for the review page."""
        return []

    def check_on_page_poll(self, *, page_token: str) -> None:
        """The customer page polled (rate-limited by the core, `poll_on_page` only)."""

    def record_erased(self, *, record_id: int) -> None:
        """A KYC record was erased (after commit): erase what the provider keeps too."""

    def transfer_cancel(self, *, transfer_id: str) -> bool:
        """The merchant cancelled a request (after commit): tell the provider where it has a
        call for it. True when the provider is being told; False: cancelled here only."""
        return False

    # URLs.

    def urlpatterns(self) -> UrlPatterns:
        """Inbound endpoints and pages of its own (`urls`), mounted at the site root. Views
        under hooks/ are guarded by the core (unknown tokens, rate limit, body size)."""
        return list(importlib.import_module(self.urls).urlpatterns) if self.urls else []

    def sandbox_urlpatterns(self) -> UrlPatterns:
        """The vendor's sandbox, mounted under /sandbox/<name>/ only when SANDBOX is on."""
        if not self.sandbox:
            return []
        return list(importlib.import_module(self.sandbox).urlpatterns)

    # Sandbox (`manage.py demo`).

    def sandbox_settings(self, *, sandbox_url: str) -> dict[str, Any]:
        """Settings that point an account at the built-in sandbox."""
        return {}

    def sandbox_console(self, *, settings: dict[str, Any], webhook_url: str) -> None:
        """Fill in the built-in sandbox's own console, as a merchant would in the vendor's
        (used by `manage.py demo`, so `make run` works end to end with no manual step)."""
