"""Webhook deliveries: checked before they are stored, then applied by a worker."""

from __future__ import annotations

import hashlib
import json
from collections.abc import Mapping
from typing import Any

from django.db import transaction
from django.utils import timezone

from kyc import services as kyc_services
from kyc.contract import Delivery, Verdict
from kyc.errors import SignatureError
from kyc.models import CertPromise, InboundEvent, ProviderAccount
from providers.blockpass import signature
from providers.blockpass.schemas import (
    ACTION_CERT_PROMISE_RESOLVED,
    ACTION_SERVICE_INFO_UPDATED,
    WebhookEvent,
)
from providers.blockpass.services.common import log
from providers.blockpass.services.merchant import cert_promise_note, record_for_blockpass_id


def _dedupe_key(account: ProviderAccount, headers: Mapping[str, str], body: bytes) -> str:
    """Scoped to the account: InboundEvent.dedupe_key is unique across all tenants, and a
    delivery id is only the sender's word, so one tenant's deliveries (or a forger with that
    tenant's secret) must not burn another tenant's ids."""
    delivery = (headers.get("x-blockpass-delivery") or "").strip()
    if delivery:
        return f"blockpass:{account.pk}:{delivery}"[:200]
    # No delivery id: the same body twice is the same event.
    return f"blockpass:{account.pk}:body:{hashlib.sha256(body).hexdigest()}"


def webhook_check(delivery: Delivery) -> Verdict:
    """Verify and parse a webhook delivery in memory, before it is stored (kyc.intake).

    One durable write per delivery, committed before the answer: a refused one is
    stored REFUSED without its delivery id (a forgery must not burn the id of the
    genuine delivery that may follow); an accepted one is stored verified and
    processed by a worker (kyc.tasks.process_inbound -> inbound_process), which the
    inbox sweeper re-enqueues if the broker was down.
    """
    account = delivery.account
    headers, body = delivery.headers, delivery.body
    kind = headers.get("x-blockpass-event", "")
    try:
        signature.verify(
            body,
            headers.get(signature.HEADER),
            signature.active_secrets(account.settings or {}, now=timezone.now()),
        )
    except SignatureError as exc:
        return Verdict(
            401, exc.reason, state=InboundEvent.State.REFUSED, error=exc.reason, kind=kind
        )
    try:
        parsed = WebhookEvent.parse(json.loads(body))
    except ValueError as exc:
        return Verdict(
            400,
            "body is not a Blockpass event",
            state=InboundEvent.State.REFUSED,
            error=f"bad body: {exc}"[:200],
            verified=True,
            kind=kind,
        )
    # A ping needs no processing: it is kept as IGNORED in the same single write.
    return Verdict(
        200,
        "pong" if parsed.is_ping else "accepted",
        dedupe_key=_dedupe_key(account, headers, body),
        verified=True,
        kind=parsed.action or kind,
        state=InboundEvent.State.IGNORED if parsed.is_ping else InboundEvent.State.RECEIVED,
        error="ping" if parsed.is_ping else "",
        process=not parsed.is_ping,
        duplicate_message="duplicate delivery, no effect",
    )


def webhook_duplicate(*, original_id: int, original_state: str) -> None:
    """Blockpass retried a delivery we failed to apply: try the original again."""
    if original_state == InboundEvent.State.FAILED:
        InboundEvent.objects.filter(pk=original_id, state=InboundEvent.State.FAILED).update(
            state=InboundEvent.State.RECEIVED
        )
        from providers.blockpass import services  # looked up when called: see __init__

        services._enqueue_process(original_id)


def enqueue_process(event_pk: int) -> None:
    """Hand a stored delivery to a worker once committed."""
    from providers.blockpass import services  # looked up when called: see __init__

    services._enqueue_process(event_pk)


def _enqueue_process(event_pk: int) -> None:
    from kyc.tasks import process_inbound

    transaction.on_commit(lambda: process_inbound.hand_over(event_pk))


def inbound_process(*, event_id: int) -> None:
    """Apply one stored delivery. Idempotent: only a RECEIVED event is processed."""
    try:
        with transaction.atomic():
            event = (
                InboundEvent.objects.select_for_update(of=("self",))
                .select_related("account__merchant")
                .filter(pk=event_id)
                .first()
            )
            if event is None or event.state != InboundEvent.State.RECEIVED:
                return
            account = event.account
            if account is None:
                kyc_services.inbound_mark(
                    event=event, state=InboundEvent.State.REFUSED, error="no account"
                )
                return
            body = event.body or b""
            if not event.verified:  # stored but never verified (crash, sweeper): verify now
                try:
                    signature.verify(
                        body,
                        (event.headers or {}).get(signature.HEADER),
                        signature.active_secrets(account.settings or {}, now=timezone.now()),
                    )
                except SignatureError as exc:
                    kyc_services.inbound_mark(
                        event=event, state=InboundEvent.State.REFUSED, error=exc.reason
                    )
                    return
            try:
                parsed = WebhookEvent.parse(json.loads(body))
            except ValueError as exc:
                kyc_services.inbound_mark(
                    event=event,
                    state=InboundEvent.State.REFUSED,
                    error=f"bad body: {exc}"[:200],
                    verified=True,
                )
                return
            _dispatch(event=event, account=account, parsed=parsed)
    except Exception as exc:  # keep it RECEIVED: the sweeper tries again later
        log.exception("blockpass: processing delivery %s failed", event_id)
        event = InboundEvent.objects.filter(pk=event_id).first()
        if event is not None and event.state == InboundEvent.State.RECEIVED:
            kyc_services.inbound_mark(
                event=event, state=InboundEvent.State.RECEIVED, error=f"{type(exc).__name__}"
            )


def _dispatch(*, event: InboundEvent, account: ProviderAccount, parsed: WebhookEvent) -> None:
    kind = parsed.action or event.kind
    if parsed.is_ping:
        kyc_services.inbound_mark(
            event=event, state=InboundEvent.State.IGNORED, error="ping", verified=True, kind=kind
        )
        return
    if parsed.action == ACTION_CERT_PROMISE_RESOLVED:
        error = cert_promise_resolve(account=account, data=parsed.data)
        kyc_services.inbound_mark(
            event=event,
            state=InboundEvent.State.FAILED if error else InboundEvent.State.PROCESSED,
            error=error,
            verified=True,
            kind=kind,
        )
        return
    if parsed.action == ACTION_SERVICE_INFO_UPDATED:
        from providers.blockpass import services  # looked up when called: see __init__

        services.service_info_update(account=account, parsed=parsed)
        kyc_services.inbound_mark(
            event=event, state=InboundEvent.State.PROCESSED, verified=True, kind=kind
        )
        return
    kyc_services.inbound_mark(
        event=event,
        state=InboundEvent.State.IGNORED,
        error=f"unknown action {parsed.action!r}, kept"[:200],
        verified=True,
        kind=kind,
    )


def service_info_update(*, account: ProviderAccount, parsed: WebhookEvent) -> None:
    """Blockpass changed the service (KYC requirements, endpoints, plan): note what it said and
    when, so staff and the settings page see that the console changed."""
    info = {
        "client_id": str(parsed.data.get("clientId", ""))[:200],
        "env": parsed.env[:40],
        "updated_at": timezone.now().isoformat(),
        "data": {k: v for k, v in parsed.data.items() if isinstance(v, (str, int, bool))},
    }
    kyc_services.provider_account_set_state(account_id=account.pk, updates={"service_info": info})


def cert_promise_resolve(*, account: ProviderAccount, data: Mapping[str, Any]) -> str:
    """Create or update the promise and enqueue its pull after commit. Returns an error text
    for staff ("" when fine)."""
    promise_id = str(data.get("certPromisesId") or data.get("certPromiseId") or "").strip()
    bpid = str(data.get("blockpassID") or "").strip()
    if not promise_id or not bpid:
        return "certPromisesId or blockpassID missing"
    record = record_for_blockpass_id(account=account, blockpass_id=bpid)
    if record is None:
        return "no record with this blockpassID: the customer never registered with this merchant"
    now = timezone.now()
    promise = cert_promise_note(account=account, record=record, promise_id=promise_id)
    with transaction.atomic():
        p = CertPromise.objects.select_for_update().get(pk=promise.pk)
        if p.state in (CertPromise.State.PULLED, CertPromise.State.GONE):
            return ""  # already consumed: pulling again could only 404
        p.record = record
        if p.state == CertPromise.State.FAILED:  # a fresh resolution re-arms a failed promise
            p.state, p.attempts = CertPromise.State.PENDING, 0
        p.next_attempt_at = now
        p.save()
    pk = p.pk
    from providers.blockpass import services  # looked up when called: see __init__

    transaction.on_commit(lambda: services._enqueue_pull(pk))
    return ""


def _enqueue_pull(promise_pk: int, countdown: int | None = None) -> None:
    from providers.blockpass.tasks import pull_cert_promise

    if countdown:
        pull_cert_promise.apply_async((promise_pk,), countdown=countdown)
    else:
        pull_cert_promise.delay(promise_pk)
