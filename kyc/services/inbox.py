"""Deliveries from providers, stored before anything else (encrypted), deduplicated by key."""

from __future__ import annotations

from collections.abc import Mapping
from typing import Any

from django.db import IntegrityError, transaction
from django.utils import timezone

from kyc import metrics, prepared
from kyc.models import InboundEvent, ProviderAccount, TransferRequest

# Headers never stored with a delivery: they carry credentials, not facts.
_DROP_HEADERS = frozenset({"authorization", "cookie", "proxy-authorization", "x-api-key"})


def inbound_store(
    *,
    provider: str,
    path: str,
    headers: Mapping[str, str],
    body: bytes | None,
    remote_addr: str | None,
    kind: str = "",
    dedupe_key: str | None = None,
    account: ProviderAccount | None = None,
    transfer: TransferRequest | None = None,
    state: str = InboundEvent.State.RECEIVED,
    error: str = "",
    verified: bool = False,
    attempts: int = 0,
) -> tuple[InboundEvent, InboundEvent | None]:
    """Store a delivery before anything else. Returns (row, original) where original is
    the earlier delivery with the same dedupe key (the new row is then a duplicate).
    `attempts=1`: it is processed on arrival, in the caller's transaction."""
    metrics.delivery_stored(provider, state)
    fields: dict[str, Any] = {
        "provider": provider,
        # Ids, not rows: no query for a merchant or account the caller did not load.
        "merchant_id": (
            account.merchant_id if account else (transfer.merchant_id if transfer else None)
        ),
        "account_id": account.pk if account else (transfer.account_id if transfer else None),
        "transfer": transfer,
        "kind": kind[:60],
        "path": path[:500],
        "headers": {k: v for k, v in headers.items() if k.lower() not in _DROP_HEADERS},
        "body": body,
        "body_size": len(body or b""),
        "remote_addr": remote_addr or None,
        "state": state,
        "error": error,
        "verified": verified,
        "attempts": attempts,
    }
    if state == InboundEvent.State.PROCESSED:
        fields["processed_at"] = timezone.now()
    if dedupe_key:
        try:
            if transaction.get_connection().in_atomic_block:
                with transaction.atomic():  # a savepoint: a duplicate must not spoil the caller's
                    return _insert(InboundEvent(dedupe_key=dedupe_key, **fields)), None
            # Autocommit: one round trip, committed by itself; a duplicate key just fails.
            return _insert(InboundEvent(dedupe_key=dedupe_key, **fields)), None
        except IntegrityError:
            original = InboundEvent.objects.get(dedupe_key=dedupe_key)
            fields.update(state=InboundEvent.State.DUPLICATE, error=f"duplicate of #{original.pk}")
            return _insert(InboundEvent(duplicate_of=original, **fields)), original
    return _insert(InboundEvent(**fields)), None


def _insert(event: InboundEvent) -> InboundEvent:
    """Store one delivery: what Model.save() does for a new row, in an INSERT built once per
    process (kyc.prepared): compiling it cost a webhook more CPU than anything but the HTTP
    server itself."""
    prepared.insert(event)
    return event


def inbound_mark(
    *,
    event: InboundEvent,
    state: str,
    error: str = "",
    verified: bool | None = None,
    kind: str | None = None,
) -> None:
    metrics.delivery_marked(event.provider, event.state, state)
    event.state = state
    event.error = error[:2000]
    event.attempts += 1
    update = ["state", "error", "attempts"]
    if state in (InboundEvent.State.PROCESSED, InboundEvent.State.IGNORED):
        event.processed_at = timezone.now()
        update.append("processed_at")
    if verified is not None:
        event.verified = verified
        update.append("verified")
    if kind is not None:
        event.kind = kind[:60]
        update.append("kind")
    event.save(update_fields=update)
