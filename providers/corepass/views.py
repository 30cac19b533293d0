"""Connector-facing endpoints. They parse and hand over to services; never a 500.

The URL carries the request's callback token (whoever holds it can post deliveries),
so nothing here logs the path or the URL: Django's request logger would print the path
of every 4xx/5xx ("Bad Request: /hooks/corepass/t/<token>/data"), so these views log
their own line instead, naming the stored delivery, and mark the response as logged.
"""

from __future__ import annotations

import functools
import logging
import sys
from collections.abc import Callable
from typing import Any

from django.http import HttpRequest, HttpResponse
from django.views.decorators.csrf import csrf_exempt

from kyc import services as core
from kyc.models import InboundEvent, TransferRequest
from kyc.webhooks import (
    BodyTooLarge,
    answer,
    guard_inbound,
    headers_of,
    limit_per_token,
    read_body,
    remote_addr,
    too_many,
)
from providers.corepass import services

log = logging.getLogger(__name__)


def token_quiet(view: Callable[..., HttpResponse]) -> Callable[..., HttpResponse]:
    """Outermost wrapper of a callback view: no response or error of it reaches Django's
    request logger (which logs the path, token included); one line without it instead."""

    @functools.wraps(view)
    def wrapper(request: HttpRequest, *args: Any, **kwargs: Any) -> HttpResponse:
        try:
            response = view(request, *args, **kwargs)
        except Exception:  # never a 500 (whose log line would carry the path)
            log_failure("corepass callback failed", str(kwargs.get("token") or ""))
            response = answer(503, "could not process now, retry later")
        if response.status_code >= 400:
            log.warning("corepass callback answered %s", response.status_code)
        # Django's log_response skips responses already logged.
        response._has_been_logged = True  # type: ignore[attr-defined]
        return response

    return wrapper


def log_failure(message: str, token: str) -> None:
    """Log the exception being handled with its traceback, the token blanked out of it
    (an exception's text may quote the path or the URL)."""
    trace = logging.Formatter().formatException(sys.exc_info())
    if token:
        trace = trace.replace(token, "[token]")
    log.error("%s\n%s", message, trace)


def callback_view(view: Callable[..., HttpResponse]) -> Callable[..., HttpResponse]:
    """The guards kyc/urls.py gives every hook (rate limit per token, bounded body, database
    down -> 503), applied here so that `token_quiet` is outside them and also covers their
    answers (kyc/urls.py leaves views it finds already guarded alone)."""
    return token_quiet(limit_per_token(guard_inbound(csrf_exempt(view))))


def _receive(request: HttpRequest, token: str, kind: str) -> HttpResponse:
    if request.method != "POST":
        # Not require_POST: it logs the path (token included) itself.
        response = answer(405, "only POST")
        response["Allow"] = "POST"
        return response
    transfer = (
        TransferRequest.objects.filter(callback_token=token, provider="corepass")
        .select_related("account")
        .first()
    )
    # Only guesses are rate limited: a busy connector must never be slowed down, but
    # junk aimed at random URLs must not fill the inbox.
    if transfer is None and too_many(request, "corepass-callback"):
        return answer(429, "too many requests")
    try:
        body = read_body(request)
    except BodyTooLarge as exc:
        core.inbound_store(
            provider="corepass",
            path=request.path,
            headers=headers_of(request),
            body=None,
            remote_addr=remote_addr(request),
            kind=kind,
            transfer=transfer,
            state=InboundEvent.State.REFUSED,
            error=str(exc),
        )
        return answer(413, "body too large")
    # Stored first (encrypted), whatever it is: the inbox keeps every delivery.
    event, _ = core.inbound_store(
        provider="corepass",
        path=request.path,
        headers=headers_of(request),
        body=body,
        remote_addr=remote_addr(request),
        kind=kind,
        transfer=transfer,
    )
    if transfer is None:
        core.inbound_mark(
            event=event, state=InboundEvent.State.REFUSED, error="unknown callback URL"
        )
        return answer(404, "unknown callback URL")
    try:
        status, message = services.callback_process(event_id=event.pk, now=services.now_ts())
    except Exception:  # never a 500: keep the delivery for the sweeper / staff reprocess
        log_failure(f"corepass {kind} callback #{event.pk} failed", token)
        return answer(503, "could not process now, retry later")
    if status >= 400:
        log.info("corepass %s callback #%s refused: %s", kind, event.pk, message)
    return answer(status, message)


@callback_view
def status_callback(request: HttpRequest, token: str) -> HttpResponse:
    return _receive(request, token, "status")


@callback_view
def data_callback(request: HttpRequest, token: str) -> HttpResponse:
    # Same URL for data and error callbacks; services tell them apart by the `error` key.
    return _receive(request, token, "data")
