"""CorePass flow: verify and apply connector callbacks, confirm error hints, reconcile.

Writes go through kyc.services (transfer_apply, inbound_store/mark). Every delivery
is already stored in the inbox when it reaches `callback_process`.
"""

from __future__ import annotations

import datetime as dt
import logging
import time
from typing import Any

from django.conf import settings
from django.core.cache import cache
from django.db import transaction
from django.utils import timezone

from kyc import services as core
from kyc.models import IdentityField, InboundEvent, TransferRequest
from kyc.status import TERMINAL, Status
from providers.base import FieldValue, StatusUpdate
from providers.corepass import adapter as cp
from providers.corepass import callbacks, client
from providers.corepass import items as catalogue
from providers.corepass import signature as sig
from providers.corepass.schemas import StatusEntry
from providers.errors import PermanentError, ProviderError, RetryableError, SignatureError

log = logging.getLogger(__name__)
State = InboundEvent.State

# Once the customer accepted, the connector may take longer than the QR's expiration
# (which only bounds the time to accept): keep the request alive this long.
PROCESSING_GRACE = dt.timedelta(minutes=30)
_ACTIVE = (Status.PENDING, Status.ACCEPTED, Status.PROCESSING)


def now_ts() -> int:
    """The clock callbacks are checked against (tests patch this)."""
    return int(time.time())


class Refused(Exception):
    def __init__(self, status: int, reason: str) -> None:
        super().__init__(reason)
        self.status = status
        self.reason = reason


def _refuse(
    event: InboundEvent, status: int, reason: str, *, kind: str | None = None
) -> tuple[int, str]:
    core.inbound_mark(event=event, state=State.REFUSED, error=reason, verified=False, kind=kind)
    return status, reason


def callback_process(*, event_id: int, now: int) -> tuple[int, str]:
    """Verify and apply one stored delivery. Returns (HTTP status, short reason)."""
    event = InboundEvent.objects.select_related("transfer__account").get(pk=event_id)
    if event.state != State.RECEIVED:
        return 200, f"already {event.state}"
    transfer = event.transfer
    if transfer is None:
        return _refuse(event, 404, "unknown callback URL")
    try:
        key = cp.connector_key(transfer.account.settings or {})
    except PermanentError:
        # Our configuration, not the connector's fault: keep it RECEIVED so a
        # retry (connector) or the sweeper succeeds once the key is set.
        core.inbound_mark(event=event, state=State.RECEIVED, error="connector key not configured")
        return 503, "connector key not configured"
    try:
        doc = callbacks.parse_body(event.headers.get("content-type", ""), bytes(event.body or b""))
    except callbacks.MalformedCallback as exc:
        return _refuse(event, 400, str(exc))
    try:
        if event.kind == "status":
            return _status(event, transfer, doc, key=key, now=now)
        if "error" in doc:
            return _error_hint(event, transfer, doc, key=key, now=now)
        return _data(event, transfer, doc, key=key, now=now)
    except callbacks.MalformedCallback as exc:
        return _refuse(event, 400, str(exc))
    except SignatureError as exc:
        return _refuse(event, 403, exc.reason)
    except Refused as exc:
        return _refuse(event, exc.status, exc.reason)


def _check_user(transfer: TransferRequest, user: str) -> None:
    if user.lower() != (transfer.subject or "").lower():
        raise Refused(400, "user does not match this request's CoreID")


def _extend_expiry(transfer_id: Any) -> None:
    until = timezone.now() + PROCESSING_GRACE
    TransferRequest.objects.filter(
        pk=transfer_id, status__in=(Status.ACCEPTED, Status.PROCESSING), expires_at__lt=until
    ).update(expires_at=until)


def _has_data(transfer_id: Any) -> bool:
    return IdentityField.objects.filter(transfer_id=transfer_id).exists()


def _followers(transfer: TransferRequest) -> list[TransferRequest]:
    """Later requests for the same customer and items that the connector answered with
    `alreadySent`: they share this request's QR, so its callbacks speak for them too."""
    candidates = TransferRequest.objects.filter(
        account_id=transfer.account_id,
        provider="corepass",
        status__in=_ACTIVE,
        provider_data__already_sent=True,
        created_at__gt=transfer.created_at,
    ).exclude(pk=transfer.pk)[:20]
    return [
        t
        for t in candidates
        if t.subject == transfer.subject and sorted(t.items) == sorted(transfer.items)
    ]


def apply_status(
    transfer: TransferRequest,
    entry: StatusEntry,
    *,
    source: str,
    inbound: InboundEvent | None = None,
    detail: str = "",
) -> bool:
    """Apply one connector status through the status machine."""
    update = cp.status_update(entry, detail=detail)
    if entry.status == "FINISH_SUCCESS" and not _has_data(transfer.pk):
        # Success means our data callback was answered 200; until the data is here
        # (late or lost callback) the request is not complete for the merchant.
        update.status = Status.PROCESSING
        update.detail = "CorePass finished; waiting for the data."
    changed = core.transfer_apply(
        transfer_id=transfer.pk, update=update, source=source, inbound=inbound
    )
    if update.status in (Status.ACCEPTED, Status.PROCESSING):
        _extend_expiry(transfer.pk)
    return changed


def _status(
    event: InboundEvent, transfer: TransferRequest, doc: dict[str, Any], *, key: bytes, now: int
) -> tuple[int, str]:
    cb = callbacks.status_callback(doc)
    sig.verify_status(doc, public_key=key, now=now)
    _check_user(transfer, cb.user)
    # Any-document candidates count too: the PENDING callback can arrive before the
    # request row holds the concrete items the adapter chose.
    asked = catalogue.to_ask(list(transfer.items))
    known = cp.item_hashes(asked)
    # The seed's prose calls `fields` "the items" while its sample carries their SHA3
    # hashes; accept either, as long as each names something this request asked for.
    unknown = [h for h in cb.fields if h.lower() not in known and h not in asked]
    if unknown:
        raise Refused(400, f"unknown field hash {unknown[0][:16]}…")
    if cb.status not in cp.RANK:
        raise Refused(400, f"unknown status {cb.status[:40]}")
    changed = apply_status(
        transfer,
        StatusEntry(status=cb.status, tx_hash=cb.tx_hash),
        source="callback",
        inbound=event,
    )
    core.inbound_mark(
        event=event,
        state=State.PROCESSED,
        error="" if changed else "no change (late or repeated)",
        verified=True,
        kind=f"status:{cb.status}",
    )
    return 200, "ok"


def _data(
    event: InboundEvent, transfer: TransferRequest, doc: dict[str, Any], *, key: bytes, now: int
) -> tuple[int, str]:
    cb = callbacks.data_callback(doc)
    sig.verify_data(doc, public_key=key, now=now)
    _check_user(transfer, cb.user)
    requested = set(catalogue.to_ask(list(transfer.items)))
    for info in cb.infos:
        if info.field_id not in requested:
            raise Refused(400, f"field {info.field_id[:60]} was not requested")
        if not callbacks.pepper_matches(info.pepper, user=transfer.subject, field_id=info.field_id):
            raise Refused(
                400, f"pepper of {info.field_id[:60]} does not belong to this user and field"
            )
    missing = sorted(set(transfer.items) - {i.field_id for i in cb.infos})
    with transaction.atomic():
        # The row lock serialises concurrent deliveries of the same data: the second
        # one waits, then sees the stored fields and only records a duplicate.
        TransferRequest.objects.select_for_update().only("pk").get(pk=transfer.pk)
        if _has_data(transfer.pk):
            core.inbound_mark(
                event=event,
                state=State.DUPLICATE,
                error="data already stored",
                verified=True,
                kind="data",
            )
            return 200, "already stored"
        fields = [FieldValue(key=i.field_id, value=i.value, pepper=i.pepper) for i in cb.infos]
        detail = "Data received"
        if missing:
            detail += "; not sent: " + ", ".join(missing)
        core.transfer_apply(
            transfer_id=transfer.pk,
            update=StatusUpdate(
                status=Status.COMPLETED,
                detail=detail,
                fields=fields,
            ),
            source="callback",
            inbound=event,
        )
        for follower in _followers(transfer):
            if not _has_data(follower.pk):
                core.transfer_apply(
                    transfer_id=follower.pk,
                    update=StatusUpdate(
                        status=Status.COMPLETED,
                        detail=detail + " (through the earlier request sharing its QR code)",
                        fields=fields,
                    ),
                    source="callback",
                    inbound=event,
                )
        core.inbound_mark(event=event, state=State.PROCESSED, verified=True, kind="data")
    # Committed: only now may the connector hear 200 (it will not send this again).
    return 200, "stored"


def _error_hint(
    event: InboundEvent, transfer: TransferRequest, doc: dict[str, Any], *, key: bytes, now: int
) -> tuple[int, str]:
    """The error callback's signed message is unknown, so it cannot be verified: keep it
    as a hint and let a task confirm the failure with the connector's /kyc/status."""
    cb = callbacks.error_callback(doc)
    sig.verify_origin_hint(doc, public_key=key, now=now)
    _check_user(transfer, cb.user)
    core.inbound_mark(event=event, state=State.RECEIVED, error="", kind="error")
    event_id = event.pk
    from kyc.tasks import process_inbound

    transaction.on_commit(lambda: process_inbound.delay(event_id))
    return 200, "stored; confirming with the connector"


def error_confirm(*, event: InboundEvent) -> None:
    """Fail the request only if the connector itself reports a failed status."""
    transfer = event.transfer
    if transfer is None:
        core.inbound_mark(event=event, state=State.REFUSED, error="no request")
        return
    try:
        doc = callbacks.parse_body(event.headers.get("content-type", ""), bytes(event.body or b""))
        error = str(doc.get("error") or "")[:100]
        entry = client.status(
            transfer.account.settings.get("connector_url", ""),
            user=transfer.subject,
            items=list(transfer.items),
        )
    except callbacks.MalformedCallback as exc:
        core.inbound_mark(event=event, state=State.REFUSED, error=str(exc))
        return
    except RetryableError as exc:
        # Stays RECEIVED: the inbox sweeper tries again (bounded by attempts).
        core.inbound_mark(
            event=event, state=State.RECEIVED, error=f"cannot confirm yet: {exc.message}"
        )
        return
    except ProviderError as exc:
        core.inbound_mark(event=event, state=State.IGNORED, error=f"not confirmed: {exc.message}")
        return
    if entry.status in cp.FAILED:
        detail = f"{cp.failure_detail(entry.status)} (CorePass error: {error or entry.status})"
        apply_status(transfer, entry, source="callback", inbound=event, detail=detail)
        core.inbound_mark(
            event=event, state=State.PROCESSED, verified=True, error="confirmed by /kyc/status"
        )
        return
    apply_status(transfer, entry, source="poll")
    core.inbound_mark(
        event=event, state=State.IGNORED, error=f"not confirmed: connector reports {entry.status}"
    )


def inbound_process(*, event_id: int) -> None:
    """Process a stored delivery again (sweeper, admin reprocess). Idempotent."""
    event = InboundEvent.objects.select_related("transfer__account").filter(pk=event_id).first()
    if event is None or event.state != State.RECEIVED:
        return
    if event.kind == "error":
        error_confirm(event=event)
        return
    # The deadline is judged against when the delivery arrived, not when we retry it.
    callback_process(event_id=event_id, now=int(event.received_at.timestamp()))


# --- reconciliation ------------------------------------------------------------------


def transfer_check(*, transfer_id: Any) -> int:
    """Ask the connector for every status of a request and apply them in order."""
    transfer = TransferRequest.objects.select_related("account").get(pk=transfer_id)
    if transfer.status in TERMINAL:
        return 0
    try:
        entries = client.all_statuses(
            transfer.account.settings.get("connector_url", ""),
            user=transfer.subject,
            items=list(transfer.items),
        )
    except ProviderError as exc:
        log.info("corepass check %s: %s", transfer_id, exc.code)
        return 0
    # Older statuses first: each adds its tx hash to the timeline; rank keeps order.
    for entry in entries:
        apply_status(transfer, entry, source="poll")
    return len(entries)


def reconcile(*, now: dt.datetime | None = None, limit: int = 50) -> int:
    """Ask /kyc/all-statuses about active requests that heard nothing for a while
    (callbacks get lost). Expiry itself is kyc.services.transfer_expire_overdue's job."""
    now = now or timezone.now()
    stale_after = dt.timedelta(seconds=settings.TRANSFER_STALE_AFTER_SECONDS)
    ids = list(
        TransferRequest.objects.filter(
            provider="corepass", status__in=_ACTIVE, last_heard_at__lt=now - stale_after
        )
        .order_by("last_heard_at")
        .values_list("pk", flat=True)[:limit]
    )
    from kyc.flows.corepass import tasks

    enqueued = 0
    for pk in ids:
        # One check per request per stale period, even when the connector is down;
        # each check is its own task so one slow connector never stalls the beat.
        if not cache.add(f"corepass-reconcile:{pk}", 1, settings.TRANSFER_STALE_AFTER_SECONDS):
            continue
        tasks.check_transfer.delay(str(pk))
        enqueued += 1
    return enqueued
