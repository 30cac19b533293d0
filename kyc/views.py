"""Customer pages: the page a customer opens, the status fragment htmx polls, the merchant's
logo, and the error pages (404, 410, 500) in the same style."""

from __future__ import annotations

import hashlib
import logging
import re
from typing import Any

from django.core.cache import cache
from django.http import HttpRequest, HttpResponse, HttpResponseNotModified
from django.template import loader
from django.utils import timezone, translation
from django.views.decorators.http import require_GET
from django_htmx.http import HttpResponseStopPolling

from kyc import customer, ratelimit, selectors
from kyc.links import safe_href
from kyc.models import TransferRequest
from kyc.sessionless import sessionless
from kyc.status import Status
from kyc.webhooks import remote_addr

log = logging.getLogger(__name__)
_PHONE = re.compile(r"Mobi|Android|iPhone|iPad|iPod", re.I)
# The image types a logo may have (checked on upload by their first bytes, portal/branding.py).
LOGO_TYPES = ("image/png", "image/jpeg", "image/webp")

# What the page and a re-rendered fragment load of a request (never the provider's data).
_PAGE_FIELDS = (
    "id",
    "page_token",
    "provider",
    "qr_svg",
    "deep_link",
    "items",
    "status",
    "failure_code",
    "redirect_url",
    "expires_at",
    "merchant__name",
    "merchant__logo_type",
    "merchant__brand_color",
    "merchant__support_contact",
    "merchant__privacy_url",
    "merchant__restart_url",
    "merchant__default_language",
    "merchant__review_sla_hours",
)


def _limited(request: HttpRequest) -> bool:
    return not ratelimit.hit(f"page:{remote_addr(request)}")


def _is_phone(request: HttpRequest) -> bool:
    # META, not request.headers: that builds a dict of every header first (the poll's cost).
    return bool(_PHONE.search(request.META.get("HTTP_USER_AGENT", "")))


def _private(response: HttpResponse) -> HttpResponse:
    response["Cache-Control"] = "no-store"
    # The page URL carries the token: never sent to another origin (provider, merchant).
    # Same-origin keeps a real Origin on the language switcher's POST (CSRF checks it;
    # "no-referrer" would make it "null").
    response["Referrer-Policy"] = "same-origin"
    return response


def error_page(
    request: HttpRequest | None, status: int, *, language: str | None = None
) -> HttpResponse:
    """404 / 410 / 500 in the customer page's style (no request data, no merchant)."""
    lang = language or (customer.customer_language(request, "") if request is not None else "en")
    with translation.override(lang):
        html = loader.render_to_string(f"{status}.html", {"LANGUAGE_CODE": lang})
    return _private(HttpResponse(html, status=status))


def not_found(request: HttpRequest, exception: Exception | None = None) -> HttpResponse:
    """handler404: the same page for every unknown URL, also with DEBUG on."""
    return error_page(request, 404)


def server_error(request: HttpRequest) -> HttpResponse:
    """handler500: renders without the request's context (nothing that could fail again)."""
    return error_page(None, 500, language=translation.get_language() or "en")


def _load(token: str) -> TransferRequest | None:
    return (
        TransferRequest.objects.filter(page_token=token)
        .select_related("merchant")
        .only(*_PAGE_FIELDS)
        .first()
    )


def _render_fragment(
    request: HttpRequest, transfer: TransferRequest, state: dict[str, Any], language: str
) -> tuple[str, dict[str, Any]]:
    context = customer.page_context(transfer, state, is_phone=_is_phone(request), language=language)
    with translation.override(language):
        html = loader.render_to_string("kyc/customer/_status.html", context, request=None)
    return html, context


def _cached(key: str) -> Any:
    try:
        return cache.get(key)
    except Exception:  # cache down: render from the database
        return None


def transfer_opened(*, transfer_id: Any) -> bool:
    """The customer opened the page (the dashboard's funnel): stamped once, by one
    conditional UPDATE, so concurrent first views cannot move it."""
    return bool(
        TransferRequest.objects.filter(pk=transfer_id, opened_at__isnull=True).update(
            opened_at=timezone.now()
        )
    )


@require_GET
def transfer_page(request: HttpRequest, token: str) -> HttpResponse:
    if _limited(request):
        return HttpResponse("Too many requests, slow down.", status=429)
    transfer = _load(token)
    if transfer is None:
        return error_page(request, 404)
    state = selectors.transfer_page_state(page_token=token)
    if state is None:
        return error_page(request, 404)
    transfer_opened(transfer_id=transfer.pk)
    merchant = transfer.merchant
    language = customer.customer_language(request, merchant.default_language)
    is_phone = _is_phone(request)
    context = customer.page_context(transfer, state, is_phone=is_phone, language=language)
    brand, brand_ink = customer.button_colors(merchant.brand_color)
    context.update(
        brand=brand,
        brand_ink=brand_ink,
        privacy=safe_href(merchant.privacy_url),
        has_logo=bool(merchant.logo_type),
        language=language,
        next_url=request.path,
    )
    with translation.override(language):
        html = loader.render_to_string("kyc/customer/page.html", context, request=request)
    # An expired link says so in its status code too (the page still shows what to do).
    response = HttpResponse(html, status=410 if state["status"] == Status.EXPIRED else 200)
    response["Content-Language"] = language
    return _private(response)


@sessionless
@require_GET
def transfer_status(request: HttpRequest, token: str) -> HttpResponse:
    """Polled by the page. One Redis round trip reads the rate limit, the state and the
    rendered fragment: unchanged, it answers 304 (or the cached fragment) without touching
    the database; terminal, 286 so htmx stops."""
    is_phone = _is_phone(request)
    # The language needs the merchant's default, which lives in the state: read both
    # fragment variants the browser may get (its stated language, or none).
    stated = customer.stated_language(request)
    guess = stated or customer.site_language()
    allowed, (state, cached) = ratelimit.hit_and_get_many(
        f"page:{remote_addr(request)}",
        [selectors.page_state_key(token), selectors.page_html_key(token, guess, is_phone)],
    )
    if not allowed:
        return HttpResponse("Too many requests", status=429)
    if state is None:  # not cached yet (or the cache is down): from the database
        state = selectors.transfer_page_state(page_token=token)
    if state is None:
        return error_page(request, 404)
    language = stated or customer.site_language(state.get("language") or "")
    from kyc import page_hooks

    page_hooks.on_poll(token=token, provider=state["provider"], terminal=state["terminal"])
    interval = customer.poll_interval(state)
    tag = customer.etag(state, language=language, interval=interval, is_phone=is_phone)
    stop = interval is None
    if not stop and request.META.get("HTTP_IF_NONE_MATCH") == tag:
        response: HttpResponse = HttpResponseNotModified()
        response["ETag"] = tag
        return _private(response)
    if language != guess:  # the merchant's default applies: its own fragment
        cached = _cached(selectors.page_html_key(token, language, is_phone))
    if isinstance(cached, dict) and cached.get("etag") == tag:
        html = str(cached["html"])
    else:
        transfer = _load(token)
        if transfer is None:
            return error_page(request, 404)
        html, _context = _render_fragment(request, transfer, state, language)
        try:
            cache.set(
                selectors.page_html_key(token, language, is_phone),
                {"etag": tag, "html": html},
                selectors.PAGE_STATE_TTL,
            )
        except Exception as exc:  # cache down: rendered again next time, still right
            log.warning("fragment not cached, cache unavailable: %s", type(exc).__name__)
    response = HttpResponseStopPolling(html) if stop else HttpResponse(html)
    response["ETag"] = tag
    response["Content-Language"] = language
    response["Vary"] = "Accept-Language, Cookie, User-Agent"
    return _private(response)


@require_GET
def transfer_logo(request: HttpRequest, token: str) -> HttpResponse:
    """The merchant's logo for a customer page (kept in the database, at most 200 KB)."""
    if _limited(request):
        return HttpResponse("Too many requests", status=429)
    transfer = (
        TransferRequest.objects.filter(page_token=token)
        .select_related("merchant")
        .only("id", "merchant__logo", "merchant__logo_type")
        .first()
    )
    logo = bytes(transfer.merchant.logo or b"") if transfer is not None else b""
    if transfer is None or not logo or transfer.merchant.logo_type not in LOGO_TYPES:
        return error_page(request, 404)
    tag = '"' + hashlib.sha256(logo).hexdigest()[:20] + '"'
    if request.headers.get("If-None-Match") == tag:
        response: HttpResponse = HttpResponseNotModified()
    else:
        response = HttpResponse(logo, content_type=transfer.merchant.logo_type)
        response["X-Content-Type-Options"] = "nosniff"
    response["ETag"] = tag
    # Revalidated on every page load (a 304 while unchanged): a new logo shows at once.
    response["Cache-Control"] = "private, no-cache"
    response["Referrer-Policy"] = "no-referrer"
    return response
