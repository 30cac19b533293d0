"""Shared pieces of every inbound endpoint: bounded body, stored first, short answers."""

from __future__ import annotations

import functools
import json
import threading
from collections.abc import Callable
from typing import Any

from django.conf import settings
from django.db.models.signals import post_save
from django.http import Http404, HttpRequest, HttpResponse, JsonResponse

from kyc import ratelimit


class BodyTooLarge(Exception):
    pass


def read_body(request: HttpRequest) -> bytes:
    """The raw body, refused before reading when it is larger than MAX_BODY_BYTES."""
    try:
        declared = int(request.META.get("CONTENT_LENGTH") or 0)
    except ValueError:
        declared = 0
    if declared > settings.MAX_BODY_BYTES:
        raise BodyTooLarge(f"body of {declared} bytes is larger than {settings.MAX_BODY_BYTES}")
    body = request.read(settings.MAX_BODY_BYTES + 1)
    if len(body) > settings.MAX_BODY_BYTES:
        raise BodyTooLarge(f"body is larger than {settings.MAX_BODY_BYTES} bytes")
    return body


def headers_of(request: HttpRequest) -> dict[str, str]:
    return {k.lower(): v for k, v in request.headers.items()}


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
            return fn  # already limited (kyc/urls.py wraps every hooks/ view once)
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


def _keep_refusal(
    request: HttpRequest, kwargs: dict[str, Any], reason: str, body: bytes | None = None
) -> None:
    """Keep a record (no body) of a delivery refused before its view ran."""
    from kyc import services
    from kyc.models import InboundEvent, ProviderAccount, TransferRequest

    parts = request.path.strip("/").split("/")
    provider = parts[1] if len(parts) > 1 and parts[0] == "hooks" else ""
    tokens = [str(v) for k, v in kwargs.items() if "token" in k]
    account = ProviderAccount.objects.filter(webhook_token__in=tokens).first() if tokens else None
    transfer = (
        TransferRequest.objects.filter(callback_token__in=tokens).first()
        if tokens and account is None
        else None
    )
    services.inbound_store(
        provider=provider[:20],
        path=request.path,
        headers=headers_of(request),
        body=body,
        remote_addr=remote_addr(request),
        account=account,
        transfer=transfer,
        state=InboundEvent.State.REFUSED,
        error=reason,
    )


# Which request thread stored an InboundEvent: guard_inbound keeps a refusal only when
# the view did not (counted by a post_save receiver, no extra query per request).
_stored = threading.local()


def _count_store(sender: Any, instance: Any, created: bool, **kwargs: Any) -> None:
    if created and getattr(_stored, "active", False):
        _stored.count += 1


post_save.connect(_count_store, sender="kyc.InboundEvent", dispatch_uid="guard_inbound_count")


def _ensure_kept(request: HttpRequest, kwargs: dict[str, Any], response: HttpResponse) -> None:
    """A refused delivery the view did not store is stored here, with the view's reason."""
    reason = ""
    try:
        data = json.loads(response.content)
        if isinstance(data, dict):
            reason = str(data.get("message") or data.get("msg") or data.get("detail") or "")
    except ValueError:
        reason = response.content[:200].decode("utf-8", "replace")
    try:
        body: bytes | None = request.body
    except Exception:  # the view consumed the stream itself
        body = None
    _keep_refusal(request, kwargs, f"{response.status_code} {reason}".strip()[:2000], body=body)


def guard_inbound(view: Callable[..., HttpResponse]) -> Callable[..., HttpResponse]:
    """What every provider-facing view gets from kyc/urls.py, whatever its flow does:

    - a body declared larger than MAX_BODY_BYTES is refused with 413 before a byte
      of it is read, and the refusal is kept as a REFUSED InboundEvent;
    - a 4xx the view answered without storing the delivery is stored (REFUSED, with
      the view's reason), so every refusal leaves a record;
    - the database being unreachable answers 503 with Retry-After (the provider
      retries later), never a 500 and never a half-written delivery (PostgreSQL
      rolled the statement back).
    """
    if getattr(view, "inbound_guarded", False):
        return view

    @functools.wraps(view)
    def wrapper(request: HttpRequest, *args: Any, **kwargs: Any) -> HttpResponse:
        from django.db import InterfaceError, OperationalError

        try:
            declared = declared_length(request)
            if declared > settings.MAX_BODY_BYTES:
                _keep_refusal(
                    request,
                    kwargs,
                    f"body of {declared} bytes refused unread (limit {settings.MAX_BODY_BYTES})",
                )
                return answer(413, f"Body too large: the limit is {settings.MAX_BODY_BYTES} bytes.")
            _stored.active, _stored.count = True, 0
            try:
                response = view(request, *args, **kwargs)
            except Http404 as exc:  # a short JSON answer, kept like any other refusal
                response = answer(404, str(exc) or "Not found.")
            finally:
                _stored.active, stored = False, _stored.count
            if 400 <= response.status_code < 500 and response.status_code != 429 and not stored:
                _ensure_kept(request, kwargs, response)
            return response
        except (OperationalError, InterfaceError) as exc:
            return database_unavailable(exc)

    wrapper.inbound_guarded = True  # type: ignore[attr-defined]
    return wrapper


def database_unavailable(exc: Exception) -> HttpResponse:
    """503 with Retry-After: the provider retries later; nothing was half-written."""
    import logging

    logging.getLogger(__name__).error("database unavailable: %s", type(exc).__name__)
    response = answer(503, "Temporarily unavailable; retry later.")
    response["Retry-After"] = "30"
    return response
