"""Portmone flow: learn the share request's fate by asking Portmone, pull the facts.

Every check goes through `transfer_check`, whoever triggers it (the poll chain,
the customer page's poll, reconcile, a webhook hint). One check per request runs
at a time (a cache lock), so two triggers never pull and store the facts twice.
"""

from __future__ import annotations

import datetime as dt
import hashlib
import logging
from typing import Any

from django.conf import settings
from django.core.cache import cache
from django.db import transaction
from django.db.models import Q
from django.utils import timezone

from kyc import registry, services
from kyc.contract import Delivery, Verdict
from kyc.errors import AuthenticationError, NotFoundError, ProviderError, SignatureError
from kyc.models import InboundEvent, ProviderAccount, TransferRequest
from kyc.status import Status, is_terminal
from providers.portmone.provider import PortmoneProvider, facts_update, status_update
from providers.portmone.schemas import APPROVED

log = logging.getLogger(__name__)

PROVIDER = "portmone"
LOCK_SECONDS = 60
# Reconcile picks up open requests nobody asked Portmone about for this long.
STALE_AFTER = dt.timedelta(seconds=90)
OPEN = (Status.PENDING, Status.ACCEPTED, Status.PROCESSING)
# Poll chain: 2 s, 4 s, 8 s … capped at a minute; after MAX_POLLS reconcile() takes over.
POLL_BASE_SECONDS = 2
POLL_MAX_INTERVAL = 60
MAX_POLLS = 30


def provider() -> PortmoneProvider:
    return registry.get(PROVIDER)  # type: ignore[return-value]


def poll_backoff(attempt: int) -> int:
    return int(
        min(POLL_BASE_SECONDS * 2**attempt, POLL_MAX_INTERVAL, settings.CELERY_MAX_COUNTDOWN)
    )


def _keep_token(account_id: int, updates: dict[str, Any]) -> None:
    """Cache a renewed token. A token just issued proves the credentials work: clear the error."""
    if updates:
        services.provider_account_set_state(account_id=account_id, updates=updates, error="")


def account_auth_failed(*, account_id: int, message: str) -> None:
    """Drop the refused token and say why on the settings page (last_error + state)."""
    services.provider_account_set_state(
        account_id=account_id,
        updates={
            "token": "",
            "token_expires_at": "",
            "auth_error": message,
            "auth_error_at": timezone.now().isoformat(),
        },
        error=message,
    )


def transfer_started(*, transfer_id: str) -> None:
    """Hook (kyc.services.transfer_create, after commit): start the status-poll chain."""
    from providers.portmone import tasks

    tasks.start_polling(transfer_id)


def transfer_check(*, transfer_id: Any, source: str = "poll") -> str:
    """Ask Portmone about one request and apply the answer. Returns the status after."""
    lock = f"portmone-check:{transfer_id}"
    if not cache.add(lock, 1, LOCK_SECONDS):
        return "busy"
    try:
        return _check(transfer_id, source)
    finally:
        cache.delete(lock)


def _check(transfer_id: Any, source: str) -> str:
    t = (
        TransferRequest.objects.select_related("account")
        .filter(pk=transfer_id, provider=PROVIDER)
        .first()
    )
    if t is None:
        return "missing"
    if is_terminal(t.status):
        return t.status
    if not t.provider_ref:
        return "not_started"
    account: ProviderAccount = t.account
    try:
        answer = provider().check_status(
            settings=account.settings, state=account.state or {}, share_id=t.provider_ref
        )
        _keep_token(account.pk, answer.state_updates)
        services.transfer_apply(transfer_id=t.pk, update=status_update(answer.value), source=source)
        if answer.value.status == APPROVED:
            account.refresh_from_db(fields=["state"])
            shared = provider().fetch_facts(
                settings=account.settings, state=account.state or {}, share_id=t.provider_ref
            )
            _keep_token(account.pk, shared.state_updates)
            # Stored encrypted (IdentityField.value) in the same transaction as completion.
            services.transfer_apply(
                transfer_id=t.pk, update=facts_update(shared.value), source=source
            )
    except AuthenticationError as exc:
        # Already renewed once inside the provider call: stop here, with the reason in both places.
        account_auth_failed(account_id=account.pk, message=exc.message)
        services.transfer_fail(transfer_id=t.pk, code=exc.code, detail=exc.message, source=source)
    except NotFoundError:
        services.transfer_fail(
            transfer_id=t.pk,
            code="provider_not_found",
            detail="Portmone no longer knows this data share request.",
            source=source,
        )
    except ProviderError as exc:
        if exc.retryable:
            log.warning("portmone check of %s failed, will retry: %s", t.pk, exc.code)
            return "retry"
        services.transfer_fail(transfer_id=t.pk, code=exc.code, detail=exc.message, source=source)
    return str(TransferRequest.objects.values_list("status", flat=True).get(pk=t.pk))


def reconcile(*, now: dt.datetime | None = None) -> int:
    """Ask again about open requests nobody checked lately (poll chain ended, worker lost)."""
    from providers.portmone import tasks

    cutoff = (now or timezone.now()) - STALE_AFTER
    ids = list(
        TransferRequest.objects.filter(provider=PROVIDER, status__in=OPEN)
        .exclude(provider_ref="")
        .filter(Q(last_heard_at__lt=cutoff) | Q(last_heard_at__isnull=True))
        .values_list("pk", flat=True)[:200]
    )
    for pk in ids:
        _enqueue_check(tasks.check_transfer, str(pk))
    return len(ids)


def _enqueue_check(task: Any, transfer_id: str) -> None:
    transaction.on_commit(lambda: task.delay(transfer_id))


def webhook_check(delivery: Delivery) -> Verdict:
    """A webhook is only a hint (unsigned): checked in memory, stored once; identical
    deliveries (retries) are one event; a worker confirms it by asking Portmone."""
    try:
        provider().parse_hint(delivery.body)
    except SignatureError as exc:
        return Verdict(
            400, exc.reason, state=InboundEvent.State.REFUSED, error=exc.reason, kind="share.hint"
        )
    digest = hashlib.sha256(delivery.body).hexdigest()[:40]
    return Verdict(
        202,
        "received; confirming with Portmone",
        kind="share.hint",
        dedupe_key=f"portmone:{delivery.account.pk}:{digest}",
        process=True,
        duplicate_message="duplicate, already received",
    )


def inbound_process(*, event_id: int) -> None:
    """A webhook is a hint only (unsigned): find the request it names and ask Portmone."""
    event = InboundEvent.objects.filter(pk=event_id).first()
    if event is None or event.state != InboundEvent.State.RECEIVED:
        return
    try:
        share_id, status = provider().parse_hint(bytes(event.body or b""))
    except SignatureError as exc:
        services.inbound_mark(event=event, state=InboundEvent.State.REFUSED, error=exc.reason)
        return
    t = TransferRequest.objects.filter(
        provider=PROVIDER, account_id=event.account_id, provider_ref=share_id
    ).first()
    if t is None:
        services.inbound_mark(
            event=event,
            state=InboundEvent.State.IGNORED,
            error="no request with this id for this account",
        )
        return
    if event.transfer_id is None:
        InboundEvent.objects.filter(pk=event.pk).update(transfer=t)
    after = transfer_check(transfer_id=t.pk, source="callback")
    services.inbound_mark(
        event=event,
        state=InboundEvent.State.PROCESSED,
        error="" if after != "retry" else "Portmone did not answer; the poll will retry",
        kind=f"share.{status or 'changed'}",
    )
