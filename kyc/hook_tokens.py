"""Posts to /hooks/ URLs whose token matches nothing: limited per address, kept light.

Anyone can post to /hooks/<provider>/<random>/. Without this, each such post was
stored with its body (up to MAX_BODY_BYTES), so a script could fill the database.
Now, before the flow's view runs (and before anything is written):

- over UNKNOWN_HOOK_RATE_LIMIT_PER_MINUTE for the sender's address: 429, nothing stored;
- otherwise one REFUSED InboundEvent with metadata only (path, a few short headers,
  the declared size, the sender's address): no body is read or kept.

Known tokens go straight to the view (their own per-token limit still applies).
"""

from __future__ import annotations

import functools
from collections.abc import Callable
from typing import Any

from django.conf import settings
from django.http import HttpRequest, HttpResponse

from kyc import ratelimit
from kyc.webhooks import (
    answer,
    database_unavailable,
    declared_length,
    headers_of,
    remote_addr,
)

# What is worth keeping of a stranger's headers, each value cut short.
_KEPT_HEADERS = ("content-type", "content-length", "user-agent", "x-forwarded-for")
_HEADER_CHARS = 200


def token_is_known(*, provider: str, per_request: bool, token: str) -> bool:
    from kyc.models import ProviderAccount, TransferRequest

    if per_request:  # /hooks/<provider>/t/<callback token>/...: one request's own URL
        return TransferRequest.objects.filter(callback_token=token, provider=provider).exists()
    return ProviderAccount.objects.filter(webhook_token=token, provider=provider).exists()


def unknown_hook_keep(*, request: HttpRequest, provider: str) -> None:
    """Keep metadata of a post to an unknown hook URL; its body is never read."""
    from kyc import services
    from kyc.models import InboundEvent

    headers = headers_of(request)
    services.inbound_store(
        provider=provider[:20],
        path=request.path,
        headers={k: headers[k][:_HEADER_CHARS] for k in _KEPT_HEADERS if k in headers},
        body=None,
        remote_addr=remote_addr(request),
        state=InboundEvent.State.REFUSED,
        error=f"unknown token; body of {declared_length(request)} bytes not kept",
    )


def _within_limits(request: HttpRequest, *, route: str, tokens: list[str]) -> bool:
    """Per sender address, and per token like known tokens get (limit_per_token's
    budget), so neither a spray of random tokens nor one repeated token is stored
    more than a few times a minute. Both are counted before anything is written."""
    per_token = getattr(settings, "WEBHOOK_RATE_LIMIT_PER_MINUTE", None)
    results = [
        ratelimit.hit(
            f"hook-unknown:{remote_addr(request) or '-'}",
            limit=settings.UNKNOWN_HOOK_RATE_LIMIT_PER_MINUTE,
        ),
        *(ratelimit.hit(f"hook-unknown:{route}:{t}", limit=per_token) for t in tokens),
    ]
    return all(results)


def refuse_unknown_tokens(
    view: Callable[..., HttpResponse], *, route: str
) -> Callable[..., HttpResponse]:
    """Wrap a hooks/ view (kyc/urls.py does it for every one) as described above."""
    if getattr(view, "unknown_tokens_refused", False):
        return view
    parts = route.split("/")
    provider = parts[1] if len(parts) > 1 else ""
    per_request = len(parts) > 2 and parts[2] == "t"

    @functools.wraps(view)
    def wrapper(request: HttpRequest, *args: Any, **kwargs: Any) -> HttpResponse:
        from django.db import InterfaceError, OperationalError

        tokens = [str(v) for k, v in kwargs.items() if "token" in k]
        try:
            known = all(
                token_is_known(provider=provider, per_request=per_request, token=t)
                for t in tokens
            )
        except (OperationalError, InterfaceError) as exc:  # the provider retries later
            return database_unavailable(exc)
        if known:
            return view(request, *args, **kwargs)
        if not _within_limits(request, route=route, tokens=tokens):
            response = answer(429, "Too many requests to unknown URLs; retry later.")
            response["Retry-After"] = "60"
            return response
        unknown_hook_keep(request=request, provider=provider)
        return answer(404, "unknown webhook URL")

    wrapper.unknown_tokens_refused = True  # type: ignore[attr-defined]
    return wrapper
