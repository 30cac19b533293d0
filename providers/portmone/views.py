"""Optional Portmone webhook: stored first, treated as a hint, confirmed by asking Portmone."""

from __future__ import annotations

import hashlib
from typing import Any

from django.db import transaction
from django.http import HttpRequest, JsonResponse
from django.views.decorators.csrf import csrf_exempt
from django.views.decorators.http import require_POST

from kyc import services
from kyc.models import InboundEvent, ProviderAccount
from kyc.webhooks import BodyTooLarge, answer, headers_of, read_body, remote_addr, too_many
from providers.errors import SignatureError
from providers.portmone.services import PROVIDER, adapter


@csrf_exempt
@require_POST
def webhook(request: HttpRequest, token: str) -> JsonResponse:
    if too_many(request, "portmone-hook"):
        return answer(429, "too many requests")
    try:
        body = read_body(request)
    except BodyTooLarge as exc:
        return answer(413, str(exc))
    account = ProviderAccount.objects.filter(webhook_token=token, provider=PROVIDER).first()
    store: dict[str, Any] = {
        "provider": PROVIDER,
        "path": request.path,
        "headers": headers_of(request),
        "body": body,
        "remote_addr": remote_addr(request),
        "kind": "share.hint",
    }
    if account is None:
        services.inbound_store(
            **store, state=InboundEvent.State.REFUSED, error="unknown webhook token"
        )
        return answer(404, "unknown webhook URL")
    # Identical deliveries (retries) are one event.
    digest = hashlib.sha256(body).hexdigest()[:40]
    event, original = services.inbound_store(
        **store, account=account, dedupe_key=f"portmone:{account.pk}:{digest}"
    )
    if original is not None:
        return answer(200, "duplicate, already received")
    try:
        adapter().parse_hint(body)
    except SignatureError as exc:
        services.inbound_mark(event=event, state=InboundEvent.State.REFUSED, error=exc.reason)
        return answer(400, exc.reason)
    from kyc.tasks import process_inbound

    pk = event.pk
    transaction.on_commit(lambda: process_inbound.delay(pk))
    return answer(202, "received; confirming with Portmone")
