"""Login paths: one rate limit (per address and per account) on every one of them."""

from __future__ import annotations

import functools
from collections.abc import Callable
from typing import Any

from django.http import HttpRequest, HttpResponse, HttpResponseBase

from kyc import ratelimit

TOO_MANY = (
    "Too many login attempts for this account or from this address. Wait a minute and try again."
)


def too_many_attempts() -> HttpResponse:
    response = HttpResponse(TOO_MANY, status=429, content_type="text/plain; charset=utf-8")
    response["Retry-After"] = "60"
    return response


def client_address(request: HttpRequest) -> str:
    return request.META.get("REMOTE_ADDR") or "-"


def login_limited(view: Callable[..., HttpResponseBase]) -> Callable[..., HttpResponseBase]:
    """Wrap a login view: every POST spends budget before the password is checked, so
    once the address or the account is over its limit even the right password gets 429
    until the window passes (the limiter is kyc.ratelimit.login_attempt_allowed)."""

    @functools.wraps(view)
    def wrapper(request: HttpRequest, *args: Any, **kwargs: Any) -> HttpResponseBase:
        if request.method == "POST" and not ratelimit.login_attempt_allowed(
            address=client_address(request), username=str(request.POST.get("username", ""))
        ):
            return too_many_attempts()
        return view(request, *args, **kwargs)

    return wrapper
