"""Small pieces of every inbound endpoint: bounded body, short answers, rate limits.

The intake itself (guards, store, verify, apply) is kyc.intake."""

from __future__ import annotations

import functools
from collections.abc import Callable
from typing import Any

from django.conf import settings
from django.http import HttpRequest, HttpResponse, JsonResponse

from kyc import ratelimit


class BodyTooLarge(Exception):
    pass


def read_body(request: HttpRequest) -> bytes:
    """The raw body, refused before reading when it is larger than MAX_BODY_BYTES."""
    declared = declared_length(request)
    if declared > settings.MAX_BODY_BYTES:
        raise BodyTooLarge(f"body of {declared} bytes is larger than {settings.MAX_BODY_BYTES}")
    body = request.read(settings.MAX_BODY_BYTES + 1)
    if len(body) > settings.MAX_BODY_BYTES:
        raise BodyTooLarge(f"body is larger than {settings.MAX_BODY_BYTES} bytes")
    return body


# The two headers the WSGI environ carries without the HTTP_ prefix (as HttpHeaders has it).
_UNPREFIXED = {"CONTENT_TYPE": "content-type", "CONTENT_LENGTH": "content-length"}


def headers_of(request: HttpRequest) -> dict[str, str]:
    """Every request header, its name lower-cased: what request.headers holds, read from
    META in one pass (building request.headers first cost a delivery more than this)."""
    out: dict[str, str] = {}
    for key, value in request.META.items():
        if key.startswith("HTTP_"):
            out[key[5:].replace("_", "-").lower()] = value
        elif key in _UNPREFIXED:
            out[_UNPREFIXED[key]] = value
    return out


def remote_addr(request: HttpRequest) -> str | None:
    return request.META.get("REMOTE_ADDR") or None


def answer(status: int, message: str, **extra: object) -> JsonResponse:
    """Short JSON answers: providers log them, so they say why without echoing input."""
    return JsonResponse({"ok": status < 300, "message": message, **extra}, status=status)


def too_many(request: HttpRequest, bucket: str) -> bool:
    return not ratelimit.hit(f"{bucket}:{remote_addr(request)}")


def limit_per_token(
    view: Callable[..., HttpResponse] | None = None,
    *,
    kwarg: str = "token",
    limit: int | None = None,
    window: int = 60,
) -> Any:
    """Rate-limit a provider-facing view per URL token, in the shared cache; over it: 429.

    Use as `@limit_per_token` or `@limit_per_token(kwarg="callback_token", limit=120)`,
    outermost after csrf_exempt. The bucket is the view plus the token (a merchant's
    webhook token or a request's callback token), so one noisy or hostile sender never
    throttles other merchants. Without the kwarg the sender's address is the key.
    Default limit: settings.WEBHOOK_RATE_LIMIT_PER_MINUTE, else PUBLIC_RATE_LIMIT_PER_MINUTE.
    Refusals are not stored as deliveries: storing a flood is what the limit prevents.
    """

    def decorate(fn: Callable[..., HttpResponse]) -> Callable[..., HttpResponse]:
        if getattr(fn, "rate_limited", False):
            return fn  # already limited
        name = f"hook:{fn.__module__}.{fn.__name__}"

        @functools.wraps(fn)
        def wrapper(request: HttpRequest, *args: Any, **kwargs: Any) -> HttpResponse:
            who = kwargs.get(kwarg) or remote_addr(request) or "-"
            most = limit or getattr(settings, "WEBHOOK_RATE_LIMIT_PER_MINUTE", None)
            if not ratelimit.hit(f"{name}:{who}", limit=most, window=window):
                response = answer(429, "Too many deliveries for this endpoint; retry later.")
                response["Retry-After"] = str(window)
                return response
            return fn(request, *args, **kwargs)

        wrapper.rate_limited = True  # type: ignore[attr-defined]
        return wrapper

    return decorate(view) if view is not None else decorate


def declared_length(request: HttpRequest) -> int:
    """The body size the sender declares (0 when absent or garbled); read before the body."""
    try:
        return max(0, int(request.META.get("CONTENT_LENGTH") or 0))
    except ValueError:
        return 0


def database_unavailable(exc: Exception) -> HttpResponse:
    """503 with Retry-After: the provider retries later; nothing was half-written."""
    import logging

    logging.getLogger(__name__).error("database unavailable: %s", type(exc).__name__)
    response = answer(503, "Temporarily unavailable; retry later.")
    response["Retry-After"] = "30"
    return response
