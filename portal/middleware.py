"""Security headers that Django does not set by itself; sessionless views past the
session stack; staff second factor; idle timeout."""

import re
import time
from collections.abc import Callable
from urllib.parse import unquote
from zoneinfo import ZoneInfo, ZoneInfoNotFoundError

from django.conf import settings
from django.contrib import messages
from django.contrib.auth import logout
from django.core.handlers.exception import response_for_exception
from django.http import HttpRequest, HttpResponse
from django.shortcuts import redirect
from django.urls import Resolver404, resolve
from django.utils import timezone

from kyc import sessionless

# Everything is served from our own origin: htmx from static/, QR codes inline SVG.
CSP = (
    "default-src 'self'; img-src 'self' data:; style-src 'self' 'unsafe-inline'; "
    "script-src 'self'; frame-ancestors 'none'; base-uri 'self'; form-action 'self'"
)


class SecurityHeadersMiddleware:
    def __init__(self, get_response: Callable[[HttpRequest], HttpResponse]) -> None:
        self.get_response = get_response

    def __call__(self, request: HttpRequest) -> HttpResponse:
        response = self.get_response(request)
        response.headers.setdefault("Content-Security-Policy", CSP)
        response.headers.setdefault(
            "Permissions-Policy", "camera=(), microphone=(), geolocation=()"
        )
        return response


class SessionlessMiddleware:
    """Views marked kyc.sessionless (provider deliveries, the customer page's poll) skip
    the session stack below this middleware.

    They carry no cookie session, user, message or CSRF token, and choose their language
    themselves: sessions, locale, CSRF, authentication, time zones, OTP, messages and
    htmx had nothing to do for them but cost a webhook delivery more CPU than storing it.
    Sits after the security middleware, so HTTPS redirects, HSTS and the security headers
    still apply. Other paths, unmarked views and paths that resolve to nothing take the
    whole stack.
    """

    def __init__(self, get_response: Callable[[HttpRequest], HttpResponse]) -> None:
        self.get_response = get_response

    def __call__(self, request: HttpRequest) -> HttpResponse:
        if request.path_info.startswith(sessionless.PREFIXES):
            try:
                match = resolve(request.path_info)
            except Resolver404:
                return self.get_response(request)
            if getattr(match.func, sessionless.MARK, False):
                request.resolver_match = match
                response: HttpResponse
                try:
                    response = match.func(request, *match.args, **match.kwargs)
                except Exception as exc:  # the 500 (or 404...) page gets the headers below too
                    response = response_for_exception(request, exc)
                # What XFrameOptionsMiddleware and CommonMiddleware, skipped here, would
                # have added (without a length the server sends the body chunked).
                response.headers.setdefault("X-Frame-Options", settings.X_FRAME_OPTIONS)
                if not response.streaming and not response.has_header("Content-Length"):
                    response.headers["Content-Length"] = str(len(response.content))
                return response
        return self.get_response(request)


# Paths a signed-in but not yet OTP-verified user may reach: the second-factor pages
# themselves, logging in and out, static files, and everything that does not use the
# staff session at all (customer pages, provider hooks, key-authenticated API, sandboxes).
_TWO_FACTOR_EXEMPT = (
    "/2fa/",
    "/login/",
    "/logout/",
    "/admin/login/",
    "/admin/logout/",
    "/static/",
    "/t/",
    "/hooks/",
    "/api/",
    "/sandbox/",
    "/healthz",
)


class StaffTwoFactorMiddleware:
    """With STAFF_REQUIRE_2FA on, merchant and admin pages need an OTP-verified session.

    Goes after django_otp's OTPMiddleware (which adds user.is_verified()). A user with
    no confirmed authenticator is sent to set one up, anyone else to enter a code.
    """

    def __init__(self, get_response: Callable[[HttpRequest], HttpResponse]) -> None:
        self.get_response = get_response

    def __call__(self, request: HttpRequest) -> HttpResponse:
        if settings.STAFF_REQUIRE_2FA and not request.path.startswith(_TWO_FACTOR_EXEMPT):
            user = request.user
            verified = getattr(user, "is_verified", None)
            if user.is_authenticated and not (verified is not None and verified()):
                from django_otp import user_has_device

                from portal.twofactor import with_next

                view = "otp_verify" if user_has_device(user, confirmed=True) else "otp_setup"
                return redirect(with_next(view, request.get_full_path()))
        return self.get_response(request)


LAST_ACTIVITY_KEY = "_last_activity"
# Writing the session on every request would cost a database write per page view;
# the last-activity stamp moves at most once per this many seconds.
_ACTIVITY_GRANULARITY = 60


class SessionIdleTimeoutMiddleware:
    """Log a signed-in user out after SESSION_IDLE_TIMEOUT seconds without a request.

    The time of the last activity is kept in the session. htmx GETs (status polls left
    running in an open tab) do not count as activity, so an unattended tab expires too.
    """

    def __init__(self, get_response: Callable[[HttpRequest], HttpResponse]) -> None:
        self.get_response = get_response

    def __call__(self, request: HttpRequest) -> HttpResponse:
        timeout = int(getattr(settings, "SESSION_IDLE_TIMEOUT", 0) or 0)
        user = getattr(request, "user", None)
        if timeout > 0 and user is not None and user.is_authenticated:
            now = int(time.time())
            last = request.session.get(LAST_ACTIVITY_KEY)
            if isinstance(last, int) and now - last > timeout:
                logout(request)
                messages.info(request, "You were signed out after a period of inactivity.")
            elif not _is_poll(request) and (
                not isinstance(last, int) or now - last >= _ACTIVITY_GRANULARITY
            ):
                request.session[LAST_ACTIVITY_KEY] = now
        return self.get_response(request)


def _is_poll(request: HttpRequest) -> bool:
    return request.method == "GET" and request.headers.get("HX-Request") == "true"


# IANA names only (e.g. "Europe/Kyiv", "America/Argentina/Buenos_Aires", "UTC").
_TZ_NAME = re.compile(r"^[A-Za-z][A-Za-z0-9_+\-]*(/[A-Za-z0-9_+\-]+){0,2}$")


class ReviewerTimeZoneMiddleware:
    """Staff pages show times in the reviewer's own time zone: the browser reports it once
    in the `tz` cookie (static/js/reviewer_tz.js); anything not a known zone name is
    ignored and the portal's TIME_ZONE is used."""

    def __init__(self, get_response: Callable[[HttpRequest], HttpResponse]) -> None:
        self.get_response = get_response

    def __call__(self, request: HttpRequest) -> HttpResponse:
        # The script writes the name URL-encoded ("Europe%2FKyiv").
        zone = reviewer_zone(unquote(request.COOKIES.get("tz", "")))
        if zone is None:
            timezone.deactivate()
        else:
            timezone.activate(zone)
        try:
            return self.get_response(request)
        finally:
            timezone.deactivate()


def reviewer_zone(name: str) -> ZoneInfo | None:
    if not name or len(name) > 64 or not _TZ_NAME.match(name):
        return None
    try:
        return ZoneInfo(name)
    except (ZoneInfoNotFoundError, ValueError):
        return None
