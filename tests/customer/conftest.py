"""The customer page as customers meet it: a branded merchant, provider accounts pointed at
the built-in sandboxes (served by live_server), requests started through the real service
and moved to every state with what each provider really sends (raw codes, transaction
hashes, scores, internal URLs, staff notes: all planted, none may reach the page), and
browser contexts for a phone and a desktop, reused across the tests of a run."""

from __future__ import annotations

import datetime as dt
import re
from collections.abc import Callable, Iterator
from dataclasses import dataclass
from typing import Any

import pytest
from django.utils import timezone

from kyc import registry, selectors, services
from kyc.contract import FieldValue, StatusUpdate
from kyc.models import ProviderAccount, TransferRequest
from kyc.status import Status
from providers.corepass.coreid import sample_coreid
from tests import factories
from tests.conftest import SCREENSHOTS

# --- devices ---------------------------------------------------------------------------

PHONE_UA = (
    "Mozilla/5.0 (iPhone; CPU iPhone OS 17_4 like Mac OS X) AppleWebKit/605.1.15 "
    "(KHTML, like Gecko) Version/17.4 Mobile/15E148 Safari/604.1"
)
DESKTOP_UA = (
    "Mozilla/5.0 (X11; Linux x86_64) AppleWebKit/537.36 (KHTML, like Gecko) "
    "Chrome/126.0 Safari/537.36"
)
VIEWPORTS: dict[str, dict[str, Any]] = {
    "phone": {
        "viewport": {"width": 390, "height": 844},
        "user_agent": PHONE_UA,
        "is_mobile": True,
        "has_touch": True,
        "device_scale_factor": 1,
    },
    "desktop": {"viewport": {"width": 1280, "height": 800}, "user_agent": DESKTOP_UA},
}


MERCHANT_SITE = "https://rivne-bank.example"


def _stay(route: Any) -> None:
    # 204 to a navigation: the browser stays on the page it is on (the merchant's site is
    # not reachable from a test; the completed page sends the customer there after a while).
    route.fulfill(status=204, body="")


LOCALES = {"en": "en-US", "uk": "uk-UA", "de": "de-DE"}


@pytest.fixture(scope="session")
def device_contexts(browser: Any) -> Iterator[dict[tuple[str, str], Any]]:
    """One browser context per device and language for the whole run, made when first
    needed (a new page per test). The language is the browser's (Accept-Language)."""
    contexts: dict[tuple[str, str], Any] = {}

    class Lazy(dict):  # type: ignore[type-arg]
        def __missing__(self, key: tuple[str, str]) -> Any:
            device, language = key
            context = browser.new_context(
                locale=LOCALES[language], timezone_id="Europe/Kyiv", **VIEWPORTS[device]
            )
            context.route(f"{MERCHANT_SITE}/**", _stay)
            self[key] = contexts[key] = context
            return context

    yield Lazy()
    for context in contexts.values():
        context.close()


def screenshot_name(request: Any, suffix: str) -> str:
    node = re.sub(r"[^A-Za-z0-9_.-]+", "_", request.node.nodeid.removeprefix("tests/"))
    return f"{node.rstrip('_')}-{suffix}.png"


def snap(page: Any, request: Any, what: str) -> None:
    """What the person sees now: var/screenshots/<test>-<what>.png."""
    SCREENSHOTS.mkdir(parents=True, exist_ok=True)
    page.screenshot(path=str(SCREENSHOTS / screenshot_name(request, what)), full_page=True)


@pytest.fixture
def device_page(
    device_contexts: dict[tuple[str, str], Any], request: Any
) -> Iterator[Callable[..., Any]]:
    """open(device) -> a fresh page in that device's context (closed at the end). Tests save
    what the person saw with `snap` (var/screenshots/<test>-<what>.png)."""
    opened: list[tuple[str, Any]] = []

    def open_page(device: str, language: str = "en") -> Any:
        context = device_contexts[(device, language)]
        context.clear_cookies()
        p = context.new_page()
        opened.append((device, p))
        return p

    yield open_page
    for _, p in opened:
        p.close()


# --- merchant and accounts -------------------------------------------------------------

SUPPORT = "help@rivne-bank.example"


@pytest.fixture
def branded_merchant(merchant: Any) -> Any:
    merchant.name = "Rivne Bank"
    merchant.brand_color = "#0b6e4f"
    merchant.support_contact = SUPPORT
    merchant.privacy_url = f"{MERCHANT_SITE}/privacy"
    merchant.save()
    return merchant


def customer_page_providers() -> list[str]:
    """Every registered provider that starts verifications has a customer page."""
    return sorted(n for n in registry.names() if registry.get(n).starts_transfers)


@pytest.fixture
def sandbox_accounts(branded_merchant: Any, public_url: str) -> dict[str, ProviderAccount]:
    """An enabled account per customer-page provider, pointed at the sandbox (like `demo`)."""
    accounts = {}
    for name in customer_page_providers():
        account = services.provider_account_get_or_create(merchant=branded_merchant, provider=name)
        cfg = registry.get(name).sandbox_settings(sandbox_url=f"{public_url}/sandbox/{name}/")
        accounts[name] = services.provider_account_update(
            account=account, settings_=cfg, enabled=True
        )
    return accounts


# --- requests in every state -----------------------------------------------------------

# What each provider is asked for (its own item codes: the page must say them in words).
ITEMS: dict[str, list[str]] = {
    "corepass": ["SH_EMAIL", "SH_Passport_DOB"],
    "incode": [],
    "portmone": ["full_name", "date_of_birth"],
}
SUBJECTS: dict[str, Callable[[], str]] = {"corepass": sample_coreid}

# Planted internals: provider codes, hashes, scores, URLs, notes. None may be visible.
TX_HASH = "0x9f3c1e7ab44d02c6e1f0aa55b1d3e2c4f6a7b8c9d0e1f2a3b4c5d6e7f8091a2b"
STAFF_NOTE = "Olga checked the selfie against passport scan 7731"
SCORE_DETAIL = "Score not OK (overall score FAIL (41.27)); waiting for review"
UNREACHABLE = "POST http://127.0.0.1:9/down/qrcode: provider unreachable"
SHARED_VALUES = ["ada.lovelace@example.com", "1815-12-10", "Olena Kovalenko", "1990-04-12"]
INTERNAL_WORDS = [
    TX_HASH[:10],
    STAFF_NOTE,
    "7731",
    "41.27",
    "127.0.0.1",
    "localhost",
    "://",
    "/down/",
    "unreachable",
    "facts_received",
    "finish_failed",
    "provider_unavailable",
    "rejected_in_review",
]


def _provider_codes() -> list[str]:
    """Every raw status code the providers report (checked as whole words, as spelled)."""
    from providers.corepass.provider import ORDER
    from providers.incode.schemas import STATUS_RANK

    # Portmone's own statuses are plain English words (pending, approved, declined,
    # expired) that the page may well use; its one code-like status is facts_received.
    items = [code for codes in ITEMS.values() for code in codes]
    return sorted({*ORDER, *STATUS_RANK, "EXPIRED", "facts_received", *items})


RAW_CODES: list[str] = _provider_codes()


def _apply(t: TransferRequest, **update: Any) -> None:
    services.transfer_apply(transfer_id=t.pk, update=StatusUpdate(**update), source="callback")


def _to_accepted(t: TransferRequest) -> None:
    code = {"corepass": "ACCEPTED", "portmone": "APPROVED"}.get(t.provider, "ONBOARDING_STARTED")
    _apply(t, status=Status.ACCEPTED, provider_status=code, provider_rank=2)


def _to_processing(t: TransferRequest) -> None:
    _to_accepted(t)
    _apply(
        t,
        status=Status.PROCESSING,
        provider_status="CALLBACK_SUCCEED",
        provider_rank=7,
        tx_hash=TX_HASH,
    )


def _shared_fields(t: TransferRequest) -> list[FieldValue]:
    return {
        "corepass": [
            FieldValue("SH_EMAIL", SHARED_VALUES[0]),
            FieldValue("SH_Passport_DOB", SHARED_VALUES[1]),
        ],
        "portmone": [
            FieldValue("full_name", SHARED_VALUES[2]),
            FieldValue("date_of_birth", SHARED_VALUES[3]),
        ],
        "incode": [
            FieldValue("full_name", SHARED_VALUES[2]),
            FieldValue("birth_date", SHARED_VALUES[3]),
        ],
    }[t.provider]


def _to_completed(t: TransferRequest) -> None:
    final = {
        "corepass": ("FINISH_SUCCESS", "CorePass transfer finished"),
        "portmone": ("facts_received", "2 shared fact(s) received from Portmone"),
        "incode": ("ONBOARDING_FINISHED", "Approved at Incode: overall score OK (88.1)"),
    }[t.provider]
    _apply(
        t,
        status=Status.COMPLETED,
        provider_status=final[0],
        provider_rank=50,
        tx_hash=TX_HASH if t.provider == "corepass" else "",
        detail=final[1],
        fields=_shared_fields(t),
    )


def _to_review(t: TransferRequest) -> None:
    t.provider_data = {**t.provider_data, "score": {"overall": "FAIL", "value": "41.27"}}
    t.save(update_fields=["provider_data"])
    _apply(
        t,
        status=Status.REVIEW,
        provider_status="ONBOARDING_FINISHED",
        provider_rank=50,
        detail=SCORE_DETAIL,
        fields=_shared_fields(t),
    )


def _reviewed(approve: bool) -> Callable[[TransferRequest], None]:
    def step(t: TransferRequest) -> None:
        _to_review(t)
        staff = factories.staff_user(t.merchant)
        services.transfer_review(transfer=t, approve=approve, reason=STAFF_NOTE, actor=staff)

    return step


def _to_failed(t: TransferRequest) -> None:
    if t.provider == "corepass":  # what the connector says when the customer declines, too
        _apply(
            t,
            status=Status.FAILED,
            provider_status="FINISH_FAILED",
            provider_rank=12,
            tx_hash=TX_HASH,
            failure_code="finish_failed",
            detail="The transfer failed in CorePass.",
        )
    else:
        _to_unreachable(t)


def _to_unreachable(t: TransferRequest) -> None:
    services.transfer_fail(
        transfer_id=t.pk, code="provider_unavailable", detail=UNREACHABLE, source="api"
    )


def _to_declined(t: TransferRequest) -> None:
    _apply(
        t,
        status=Status.DECLINED,
        provider_status="DECLINED",
        provider_rank=3,
        failure_code="declined",
        detail="Declined in the Portmone app; no facts were shared.",
    )


def _to_expired(t: TransferRequest) -> None:
    TransferRequest.objects.filter(pk=t.pk).update(
        expires_at=timezone.now() - dt.timedelta(minutes=1)
    )
    services.transfer_expire_overdue()


def _to_cancelled(t: TransferRequest) -> None:
    services.transfer_cancel(transfer=t, actor=factories.staff_user(t.merchant))


def _in_progress(t: TransferRequest) -> None:
    """Still pending for the portal, but the provider reported a step (its raw code)."""
    code = {"corepass": "PENDING", "portmone": "PENDING"}.get(t.provider, "ID_VALIDATION_FINISHED")
    _apply(t, provider_status=code, provider_rank=20)


@dataclass(frozen=True)
class State:
    name: str  # test id
    status: str  # the portal status it ends in
    steps: Callable[[TransferRequest], None]
    providers: tuple[str, ...] = ("corepass", "incode", "portmone")


STATES: list[State] = [
    State("pending", Status.PENDING, _in_progress),
    State("accepted", Status.ACCEPTED, _to_accepted, ("corepass", "portmone")),
    State("processing", Status.PROCESSING, _to_processing, ("corepass",)),
    State("review", Status.REVIEW, _to_review, ("incode",)),
    State("completed", Status.COMPLETED, _to_completed),
    State("approved_in_review", Status.COMPLETED, _reviewed(True), ("incode",)),
    State("rejected", Status.REJECTED, _reviewed(False), ("incode",)),
    State("declined", Status.DECLINED, _to_declined, ("portmone",)),
    State("failed", Status.FAILED, _to_failed),
    State("provider_down", Status.FAILED, _to_unreachable, ("corepass",)),
    State("expired", Status.EXPIRED, _to_expired),
    State("cancelled", Status.CANCELLED, _to_cancelled),
]


def states_of(provider: str) -> list[State]:
    return [state for state in STATES if provider in state.providers]


def start_request(merchant: Any, provider: str, *, redirect_url: str = "") -> TransferRequest:
    """A request started through the real service against the provider's sandbox."""
    subject = SUBJECTS.get(provider, lambda: "")()
    return services.transfer_create(
        merchant=merchant,
        provider=provider,
        reference=f"customer-{TransferRequest.objects.count() + 1}",
        subject=subject,
        items=ITEMS[provider],
        redirect_url=redirect_url,
    )


# What a started request carries from its provider (QR, link, references, expiry).
_STARTED_FIELDS = (
    "merchant",
    "account",
    "provider",
    "subject",
    "items",
    "provider_status",
    "provider_rank",
    "provider_ref",
    "provider_data",
    "provider_secrets",
    "qr_payload",
    "qr_svg",
    "deep_link",
    "redirect_url",
    "expires_at",
    "last_heard_at",
)


def copy_of(started: TransferRequest) -> TransferRequest:
    """Another pending request exactly as the provider started `started` (its own tokens
    and record): one sandbox start per provider instead of one per state."""
    reference = f"customer-{TransferRequest.objects.count() + 1}"
    return TransferRequest.objects.create(
        **{name: getattr(started, name) for name in _STARTED_FIELDS},
        status=Status.PENDING,
        reference=reference,
        record=services.record_get_or_create(
            merchant=started.merchant, reference=reference, provider=started.provider
        ),
    )


def request_in(
    merchant: Any, provider: str, state: State, *, like: TransferRequest | None = None
) -> TransferRequest:
    """A request in `state`: started through the sandbox, or a copy of `like` (a request
    started that way), then moved on the way the provider moves it."""
    if like is None:
        t = start_request(merchant, provider, redirect_url=f"{MERCHANT_SITE}/kyc/done")
    else:
        t = copy_of(like)
    assert t.status == Status.PENDING, (t.status, t.status_detail)  # the sandbox started it
    state.steps(t)
    t.refresh_from_db()
    assert t.status == state.status, (t.status, t.status_detail)
    selectors.transfer_page_state(page_token=t.page_token, refresh=True)
    return t


def plain_request(
    merchant: Any, provider: str = "portmone", *, status: str = Status.PENDING
) -> TransferRequest:
    """A request row as a started one looks (QR, items, expiry), without calling the
    provider: for tests that use Django's test client, not a browser."""
    from kyc.qr import render_svg

    account = factories.ProviderAccountFactory(merchant=merchant, provider=provider)
    reference = f"customer-{TransferRequest.objects.count() + 1}"
    t = factories.TransferRequestFactory(
        account=account,
        record=services.record_get_or_create(
            merchant=merchant, reference=reference, provider=provider
        ),
        items=ITEMS[provider],
        status=status,
        qr_payload="portmone-share-code-7QX2",
        qr_svg=render_svg("portmone-share-code-7QX2"),
        expires_at=timezone.now() + dt.timedelta(minutes=10),
    )
    selectors.transfer_page_state(page_token=t.page_token, refresh=True)
    return t
