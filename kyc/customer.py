"""What the customer page says: one template per status, per-provider wording, human words
for failure codes and requested items, the customer's language and the poll schedule.

Everything here is copy or pure computation (no provider import, no database): the page
and the status fragment (kyc/views.py) build their context with `page_context`.
Nothing internal reaches the customer: a failure code is shown only through
FAILURE_REASONS, an item only through the item tables, never as it is.
"""

from __future__ import annotations

import datetime as dt
import hashlib
import re
from dataclasses import dataclass
from typing import Any

from django.conf import settings
from django.utils import timezone, translation
from django.utils.text import format_lazy
from django.utils.translation import gettext_lazy as _
from django.utils.translation import ngettext, trans_real

from kyc.contract import time_from_iso
from kyc.links import safe_href
from kyc.status import Status

# Bumped when the fragment's markup changes, so no browser keeps an ETag of the old markup.
MARKUP_VERSION = "3"

# --- one template per status ------------------------------------------------------------

STATE_TEMPLATES: dict[str, str] = {
    Status.CREATED: "kyc/customer/states/processing.html",
    Status.PENDING: "kyc/customer/states/pending.html",
    Status.ACCEPTED: "kyc/customer/states/processing.html",
    Status.PROCESSING: "kyc/customer/states/processing.html",
    Status.REVIEW: "kyc/customer/states/review.html",
    Status.COMPLETED: "kyc/customer/states/completed.html",
    Status.FAILED: "kyc/customer/states/failed.html",
    Status.DECLINED: "kyc/customer/states/declined.html",
    Status.EXPIRED: "kyc/customer/states/expired.html",
    Status.REJECTED: "kyc/customer/states/rejected.html",
    Status.CANCELLED: "kyc/customer/states/cancelled.html",
}


def state_template(status: str) -> str:
    return STATE_TEMPLATES.get(status, "kyc/customer/states/processing.html")


# The status in a word (shown with an icon, so colour never carries it alone).
STATUS_WORDS: dict[str, Any] = {
    Status.CREATED: _("Getting ready"),
    Status.PENDING: _("Waiting for you"),
    Status.ACCEPTED: _("In progress"),
    Status.PROCESSING: _("In progress"),
    Status.REVIEW: _("Being checked"),
    Status.COMPLETED: _("Completed"),
    Status.FAILED: _("Not completed"),
    Status.DECLINED: _("Declined"),
    Status.EXPIRED: _("Expired"),
    Status.REJECTED: _("Not accepted"),
    Status.CANCELLED: _("Cancelled"),
}

# --- failure codes -> one of a few human reasons ----------------------------------------

# Every failure_code the code sets (grep failure_code / code=): provider errors at start,
# CorePass' failed statuses (lower-cased), review and expiry. Unknown codes: "generic".
FAILURE_KINDS: dict[str, str] = {
    "provider_unavailable": "unavailable",
    "provider_timeout": "unavailable",
    "provider_bad_answer": "unavailable",
    "provider_redirect": "unavailable",
    "outbound_refused": "unavailable",
    "not_configured": "setup",
    "provider_not_configured": "setup",
    "provider_auth_failed": "setup",
    "provider_rejected": "setup",
    "provider_not_found": "setup",
    "provider_error": "setup",
    "token_expired": "setup",
    "token_missing": "setup",
    "invalid_expiration": "setup",
    "items_not_verified": "not_verified",
    "initiated_failed": "not_completed",
    "confirm_failed": "not_completed",
    "finish_failed": "not_completed",
    "callback_failed": "not_completed",
    "validity_failed": "invalid",
    "declined": "declined",
    "expired": "expired",
    "rejected_in_review": "rejected",
}

FAILURE_REASONS: dict[str, Any] = {
    "unavailable": _(
        "%(provider)s could not be reached just now. Nothing was shared, "
        "and this link cannot be used again."
    ),
    "setup": _(
        "%(merchant)s could not start this request because of a problem on their side. "
        "Nothing was shared."
    ),
    "not_verified": _(
        "Your %(provider)s account does not have all the verified details asked for yet. "
        "Complete your verification in the %(provider)s app first."
    ),
    "not_completed": _("The sharing was not completed in %(provider)s. Nothing was shared."),
    "invalid": _("%(provider)s could not confirm your details. Nothing was shared."),
    "declined": _("The request was declined. Nothing was shared."),
    "expired": _("The request expired before it was completed. Nothing was shared."),
    "rejected": _("Your details could not be accepted."),
    "generic": _("The request could not be completed."),
}


def failure_reason(code: str, *, provider: str, merchant: str) -> str:
    """The human reason for a failure code (never the code itself, never a provider's text)."""
    kind = FAILURE_KINDS.get((code or "").strip().lower(), "generic")
    return str(FAILURE_REASONS[kind]) % {"provider": provider, "merchant": merchant}


# --- requested items -> human words ------------------------------------------------------

_COMMON: dict[str, Any] = {
    "email": _("Email"),
    "phone": _("Phone number"),
    "full_name": _("Full name"),
    "first_name": _("First name"),
    "given_name": _("First name"),
    "last_name": _("Last name"),
    "family_name": _("Last name"),
    "second_last_name": _("Second last name"),
    "date_of_birth": _("Date of birth"),
    "birth_date": _("Date of birth"),
    "dob": _("Date of birth"),
    "gender": _("Gender"),
    "nationality": _("Nationality"),
    "citizenship": _("Citizenship"),
    "address": _("Address"),
    "document_number": _("Document number"),
    "personal_number": _("Personal number"),
    "issuing_country": _("Country that issued your document"),
    "expiration_date": _("Document expiry date"),
    "age_over_18": _("That you are over 18 (not your date of birth)"),
    "age_over_21": _("That you are over 21 (not your date of birth)"),
    "selfie": _("A selfie"),
    "document_photo": _("A photo of your identity document"),
}

# CorePass: SH_EMAIL, SH_PHONE, SH_<Document>_<Field>, SH_ANY_<Field>.
_COREPASS_FIELDS: dict[str, Any] = {
    "FULLNAME": _("Full name"),
    "DOB": _("Date of birth"),
    "EXPIRYDATE": _("Document expiry date"),
    "ISSUEDATE": _("Document issue date"),
    "DOCUMENTNUMBER": _("Document number"),
    "GENDER": _("Gender"),
    "COUNTRY": _("Country"),
    "DOCUMENTIMAGE": _("Photo of the document"),
    "FACEIMAGE": _("Photo of your face"),
    "AML_CHECK": _("Anti-money-laundering check result"),
    "AML_DETAIL": _("Anti-money-laundering check details"),
}
_COREPASS_DOCUMENTS: dict[str, Any] = {
    "IDCARD": _("ID card"),
    "PASSPORT": _("passport"),
    "RESIDENCEPERMIT": _("residence permit"),
    "DRIVERLICENSE": _("driving licence"),
    "ANY": _("any identity document"),
}
_COREPASS_PLAIN: dict[str, Any] = {"SH_EMAIL": _("Email"), "SH_PHONE": _("Phone number")}

# What a provider that takes no item list collects (Incode: the flow decides).
DEFAULT_ITEMS: dict[str, tuple[str, ...]] = {
    "incode": ("document_photo", "selfie", "full_name", "birth_date", "document_number"),
}

OTHER_DETAILS = _("Other details asked for by %(merchant)s")


def _corepass_words(item: str) -> str | None:
    upper = item.upper()
    if upper in _COREPASS_PLAIN:
        return str(_COREPASS_PLAIN[upper])
    if not upper.startswith("SH_"):
        return None
    rest = upper[3:]
    for doc, doc_words in _COREPASS_DOCUMENTS.items():
        if rest.startswith(doc + "_") and rest[len(doc) + 1 :] in _COREPASS_FIELDS:
            field = _COREPASS_FIELDS[rest[len(doc) + 1 :]]
            # Translators: e.g. "Date of birth (passport)".
            return str(_("%(field)s (%(document)s)")) % {"field": field, "document": doc_words}
    return None


def item_words(provider: str, items: list[str] | tuple[str, ...], *, merchant: str) -> list[str]:
    """The requested items in the customer's words, in order, without repeats; an item no
    table knows becomes one "Other details" line (never a raw key)."""
    keys = list(items) or list(DEFAULT_ITEMS.get(provider, ()))
    out: list[str] = []
    unknown = False
    for key in keys:
        text = str(key or "")
        words = _corepass_words(text) if provider == "corepass" else None
        if words is None:
            common = _COMMON.get(text.strip().lower())
            words = str(common) if common is not None else None
        if words is None:
            unknown = True
        elif words not in out:
            out.append(words)
    if unknown:
        out.append(str(OTHER_DETAILS) % {"merchant": merchant})
    return out


# --- per-provider wording ---------------------------------------------------------------


@dataclass(frozen=True)
class ProviderCopy:
    """How the pending page tells the customer what to do with one provider."""

    title: Any  # the pending heading
    desktop: Any  # next to the QR code
    phone: Any  # above the button on a phone
    button: Any  # the button on a phone
    scan: Any  # the line under the QR code


def _app_copy(app: str) -> ProviderCopy:
    """The wording for a provider whose own phone app approves the sharing: the same
    sentences for each, with the app's name (translated at render time)."""
    return ProviderCopy(
        title=format_lazy(_("Approve in the {app} app"), app=app),
        desktop=format_lazy(
            _(
                "Open the {app} app on your phone, scan this code and approve sharing. "
                "Nothing is shared until you approve."
            ),
            app=app,
        ),
        phone=format_lazy(
            _("Open the {app} app and approve sharing. Nothing is shared until you approve."),
            app=app,
        ),
        button=format_lazy(_("Open {app}"), app=app),
        scan=format_lazy(_("Scan this code with the {app} app."), app=app),
    )


PROVIDER_COPY: dict[str, ProviderCopy] = {
    "corepass": _app_copy("CorePass"),
    "portmone": _app_copy("Portmone"),
    "incode": ProviderCopy(
        title=_("Verify your identity"),
        desktop=_(
            "You will take a photo of your identity document and a selfie. Continue on this "
            "device if it has a camera, or scan this code to continue on your phone."
        ),
        phone=_(
            "You will take a photo of your identity document and a selfie in your browser. "
            "Have your document ready."
        ),
        button=_("Start verification"),
        scan=_("Scan this code with your phone's camera to continue there."),
    ),
}
_DEFAULT_COPY = ProviderCopy(
    title=_("Share your verified details"),
    desktop=_("Scan this code with your phone to continue. Nothing is shared until you approve."),
    phone=_("Tap the button to continue. Nothing is shared until you approve."),
    button=_("Continue"),
    scan=_("Scan this code with your phone."),
)


def provider_copy(provider: str) -> ProviderCopy:
    return PROVIDER_COPY.get(provider, _DEFAULT_COPY)


# --- the customer's language -------------------------------------------------------------


def supported(code: str | None) -> str | None:
    """The supported language for a code ("uk", "de-AT" -> "de"), or None."""
    if not code:
        return None
    try:
        return translation.get_supported_language_variant(code)
    except LookupError:
        return None


def customer_language(request: Any, merchant_default: str) -> str:
    """The language switcher's cookie, else the first supported language the browser
    states, else the merchant's default language, else the site's."""
    return stated_language(request) or site_language(merchant_default)


def stated_language(request: Any) -> str | None:
    """The language switcher's cookie, else the first supported language the browser
    states; None when neither names one we have."""
    chosen = supported(request.COOKIES.get(settings.LANGUAGE_COOKIE_NAME))
    if chosen:
        return chosen
    header = request.META.get("HTTP_ACCEPT_LANGUAGE", "")
    for code, _q in trans_real.parse_accept_lang_header(header):
        if code == "*":
            break
        found = supported(code)
        if found:
            return found
    return None


def site_language(merchant_default: str = "") -> str:
    """The merchant's default language when we have it, else the site's."""
    return supported(merchant_default) or supported(settings.LANGUAGE_CODE) or "en"


# --- the poll schedule -------------------------------------------------------------------

# While a request waits in review, polls thin out: (seconds in review below, poll every).
REVIEW_POLLS: tuple[tuple[int, int], ...] = ((120, 2), (3600, 30), (24 * 3600, 300))
POLL_SECONDS = 2  # every other non-terminal state


def poll_interval(state: dict[str, Any], now: dt.datetime | None = None) -> int | None:
    """Seconds until the next poll, or None: stop polling (terminal, or in review past the
    ceiling: the page offers "Check again" instead)."""
    if state.get("terminal"):
        return None
    if state.get("status") != Status.REVIEW:
        return POLL_SECONDS
    now = now or timezone.now()
    since = time_from_iso(state.get("review_since")) or now
    waited = (now - since).total_seconds()
    for below, every in REVIEW_POLLS:
        if waited < below:
            return every
    return None


def trigger(interval: int | None) -> str:
    return f"every {interval}s" if interval else ""


def etag(state: dict[str, Any], *, language: str, interval: int | None, is_phone: bool) -> str:
    """Changes whenever the fragment would: the state, language, device and poll stage."""
    raw = f"{state.get('v', '')}|{language}|{interval}|{is_phone}|{MARKUP_VERSION}"
    return '"' + hashlib.sha256(raw.encode()).hexdigest()[:20] + '"'


# --- time, brand, contacts ---------------------------------------------------------------


def expires_in_words(expires_at: dt.datetime | None, now: dt.datetime | None = None) -> str:
    """Server-side fallback for the countdown ("in 4 minutes"); the page's script replaces
    it every second from the ISO time, in the customer's time zone and language."""
    if expires_at is None:
        return ""
    left = int((expires_at - (now or timezone.now())).total_seconds())
    if left <= 0:
        return str(_("This code has expired."))
    minutes = (left + 59) // 60
    return ngettext(
        "This code expires in %(n)d minute.", "This code expires in %(n)d minutes.", minutes
    ) % {"n": minutes}


_HEX = re.compile(r"^#[0-9a-fA-F]{6}$")
DEFAULT_BRAND = "#1f4fd1"


def brand_color(value: str | None) -> str:
    return value if value and _HEX.match(value) else DEFAULT_BRAND


def _luminance(hex_color: str) -> float:
    def channel(c: int) -> float:
        s = c / 255
        return s / 12.92 if s <= 0.03928 else ((s + 0.055) / 1.055) ** 2.4

    r, g, b = (int(hex_color[i : i + 2], 16) for i in (1, 3, 5))
    return 0.2126 * channel(r) + 0.7152 * channel(g) + 0.0722 * channel(b)


def contrast(a: str, b: str) -> float:
    la, lb = sorted((_luminance(a), _luminance(b)), reverse=True)
    return (la + 0.05) / (lb + 0.05)


def ink_on(color: str) -> str:
    """Text colour on a brand-coloured button: white when it reads (WCAG AA, 4.5:1), else
    black when that reads better."""
    white, black = contrast(color, "#ffffff"), contrast(color, "#000000")
    return "#ffffff" if white >= 4.5 or white >= black else "#000000"


def button_colors(color: str) -> tuple[str, str]:
    """(background, text) for the merchant's buttons with at least 4.5:1 contrast: the
    brand colour with white or black text, or, when neither reads (mid greys), the brand
    colour darkened until white text does."""
    bg = brand_color(color)
    ink = ink_on(bg)
    r, g, b = (int(bg[i : i + 2], 16) for i in (1, 3, 5))
    while contrast(bg, ink) < 4.5:
        r, g, b = (int(c * 0.92) for c in (r, g, b))
        bg, ink = f"#{r:02x}{g:02x}{b:02x}", "#ffffff"
    return bg, ink


def support(contact: str | None) -> dict[str, str]:
    """The merchant's support contact as a link: mailto for an email, https for a URL."""
    text = (contact or "").strip()
    if not text:
        return {}
    if re.fullmatch(r"[^@\s]+@[^@\s]+\.[^@\s]+", text):
        return {"text": text, "href": f"mailto:{text}"}
    href = safe_href(text)
    return {"text": text, "href": href} if href else {"text": text, "href": ""}


def page_context(
    transfer: Any, state: dict[str, Any], *, is_phone: bool, language: str
) -> dict[str, Any]:
    """Everything a state template shows, from the request (with its merchant) and the
    polled state. No provider code, URL of ours, score or note goes in."""
    merchant = transfer.merchant
    provider_label = transfer.get_provider_display()
    interval = poll_interval(state)
    deep = safe_href(transfer.deep_link, transfer.provider)
    status = state["status"]
    brand, brand_ink = button_colors(merchant.brand_color)
    return {
        "transfer": transfer,
        "state": state,
        "status": status,
        "status_word": STATUS_WORDS.get(status, status),
        "state_template": state_template(status),
        "merchant": merchant,
        "provider_label": provider_label,
        "copy": provider_copy(transfer.provider),
        "is_phone": is_phone,
        "deep_link": deep,
        "items": item_words(transfer.provider, transfer.items or [], merchant=merchant.name),
        "reason": failure_reason(
            transfer.failure_code, provider=provider_label, merchant=merchant.name
        ),
        "redirect": safe_href(transfer.redirect_url),
        "restart": safe_href(merchant.restart_url),
        "support": support(merchant.support_contact),
        # the card carries the colour too, so a poll after a branding save repaints the page
        "brand": brand,
        "brand_ink": brand_ink,
        "expires_words": expires_in_words(transfer.expires_at),
        "review_hours": merchant.review_sla_hours,
        "poll_trigger": trigger(interval),
        "poll_stopped": status == Status.REVIEW and interval is None,
        "etag": etag(state, language=language, interval=interval, is_phone=is_phone),
        "token": transfer.page_token,
    }
