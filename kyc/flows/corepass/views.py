"""Connector-facing endpoints. They parse and hand over to services; never a 500."""

from __future__ import annotations

import logging

from django.http import HttpRequest, HttpResponse
from django.views.decorators.csrf import csrf_exempt
from django.views.decorators.http import require_POST

from kyc import services as core
from kyc.flows.corepass import services
from kyc.models import InboundEvent, TransferRequest
from kyc.webhooks import BodyTooLarge, answer, headers_of, read_body, remote_addr, too_many

log = logging.getLogger(__name__)


def _receive(request: HttpRequest, token: str, kind: str) -> HttpResponse:
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
        log.exception("corepass callback #%s failed", event.pk)
        return answer(503, "could not process now, retry later")
    return answer(status, message)


@csrf_exempt
@require_POST
def status_callback(request: HttpRequest, token: str) -> HttpResponse:
    return _receive(request, token, "status")


@csrf_exempt
@require_POST
def data_callback(request: HttpRequest, token: str) -> HttpResponse:
    # Same URL for data and error callbacks; services tell them apart by the `error` key.
    return _receive(request, token, "data")
