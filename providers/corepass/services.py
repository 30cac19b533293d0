"""CorePass flow: verify and apply connector callbacks, confirm error hints, reconcile.

Writes go through kyc.services (transfer_apply, inbound_store/mark). A callback is
verified in memory (`callback_process`), stored once by kyc.intake.receive and applied
in the same transaction (`callback_apply`), on the request row the intake locked.
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

from kyc import queued
from kyc import services as core
from kyc.contract import FieldValue, StatusUpdate, Verdict
from kyc.errors import PermanentError, ProviderError, RetryableError, SignatureError
from kyc.models import IdentityField, InboundEvent, TransferEvent, TransferRequest
from kyc.status import TERMINAL, Status, can_move
from providers.corepass import callbacks, client
from providers.corepass import items as catalogue
from providers.corepass import provider as cp
from providers.corepass import signature as sig
from providers.corepass.schemas import DataCallback, Info, StatusCallback, StatusEntry

log = logging.getLogger(__name__)
State = InboundEvent.State

# Once the customer accepted, the connector may take longer than the QR's expiration
# (which only bounds the time to accept): keep the request alive this long.
PROCESSING_GRACE = dt.timedelta(minutes=30)
_ACTIVE = (Status.PENDING, Status.ACCEPTED, Status.PROCESSING)

# The data callback's signature covers only its deadline, as documented: a data
# delivery proves neither whose data it is nor that the connector sent it for this
# request. The connector sends the data once the transfer is CONFIRMED and moves
# to CALLBACK_SUCCEED when we answered its delivery 200, then FINISH_SUCCESS. Deliveries
# are therefore only kept until one of these is shown for this request (by a status
# callback signed over user, field hashes and expiration, or by the connector's own
# answer): from then on the connector's own delivery is certainly among those we kept,
# so a single distinct delivery is it, and two different ones are a conflict for staff.
# Deciding at CONFIRMED instead would let a forgery that arrives before the genuine data
# win; deciding here never does.
DELIVERED = frozenset({"CALLBACK_SUCCEED", "FINISH_SUCCESS"})
# Statuses after which the connector's delivery is on its way: worth asking again soon.
IN_FLIGHT = frozenset({"CONFIRMED", "CALLBACK_FAILED"})
# /kyc/status answers about the latest request for a user + items: an answer dated
# before our request (minus this clock skew) is about an earlier request.
STATUS_SKEW = 300
# Throttle of the /kyc/status question a kept data delivery triggers (the inbox sweeper
# asks again later), so a flood of deliveries never floods the connector.
CONFIRM_THROTTLE = 10
# How long a held data delivery waits before the connector is asked. Asked at once, it
# would answer CONFIRMED (it learns of our 200 only when the answer reaches it) and be
# asked again; by then its CALLBACK_SUCCEED status callback has usually come, the data is
# applied and the question is not asked at all. A lost status is asked about then.
CONFIRM_DELAY = 10
HELD = "held: waiting for the connector to show it delivered this request's data"
CONFLICT = "data:conflict"  # InboundEvent.kind of deliveries kept for staff review


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


def _refused(status: int, reason: str) -> Verdict:
    return Verdict(status, reason, state=State.REFUSED, error=reason)


def callback_process(
    *, transfer: TransferRequest, kind: str, content_type: str, body: bytes, now: int
) -> Verdict:
    """Verify and parse one callback in memory, before it is stored (kyc.intake.receive
    stores it once, with this verdict's state; `callback_apply` applies it after)."""
    try:
        key = cp.connector_key(transfer.account.settings or {})
    except PermanentError:
        # Our configuration, not the connector's fault: keep it RECEIVED so a
        # retry (connector) or the sweeper succeeds once the key is set.
        reason = "connector key not configured"
        return Verdict(503, reason, state=State.RECEIVED, error=reason)
    try:
        doc = callbacks.parse_body(content_type, body)
        if kind == "status":
            cb = _status_check(transfer, doc, key=key, now=now)
            return Verdict(
                200,
                "ok",
                state=State.PROCESSED,
                verified=True,
                kind=f"status:{cb.status}",
                apply=True,
                parsed=cb,
            )
        if "error" in doc:
            _error_check(transfer, doc, key=key, now=now)
            return Verdict(
                200,
                "stored; confirming with the connector",
                state=State.RECEIVED,
                kind="error",
                process=True,
            )
        data = _data_check(transfer, doc, key=key, now=now)
        return Verdict(
            200,
            "stored",
            state=State.RECEIVED,
            error=HELD,
            verified=True,
            kind="data",
            apply=True,
            parsed=data,
        )
    except callbacks.MalformedCallback as exc:
        return _refused(400, str(exc))
    except SignatureError as exc:
        return _refused(403, exc.reason)
    except Refused as exc:
        return _refused(exc.status, exc.reason)


def callback_apply(*, event: InboundEvent, transfer: TransferRequest, verdict: Verdict) -> Verdict:
    """Apply a verified callback, stored as `event`, in the current transaction; `transfer`
    is its row, locked by the caller. Returns the answer for the connector."""
    if isinstance(verdict.parsed, StatusCallback):
        _status_apply(event, transfer, verdict.parsed)
        return Verdict(200, "ok")
    held = data_settle(transfer_id=transfer.pk, locked=transfer)
    mine = next((e for e in held if e.pk == event.pk), event)
    if mine.state == State.PROCESSED:
        return Verdict(200, "stored")
    if mine.state == State.DUPLICATE:
        return Verdict(200, "already stored")
    if mine.kind == CONFLICT:
        return Verdict(200, "stored; kept for staff review")
    return Verdict(200, "stored; waiting for the connector to confirm the transfer")


def _stored_process(*, event: InboundEvent, now: int) -> None:
    """Verify and apply a delivery stored earlier and still RECEIVED (sweeper, staff)."""
    transfer = event.transfer
    if transfer is None:
        _refuse(event, 404, "unknown callback URL")
        return
    with transaction.atomic():
        transfer = (
            TransferRequest.objects.select_for_update(of=("self",))
            .select_related("account")
            .get(pk=transfer.pk)
        )
        kind = "status" if event.kind.startswith("status") else "data"
        verdict = callback_process(
            transfer=transfer,
            kind=kind,
            content_type=(event.headers or {}).get("content-type", ""),
            body=bytes(event.body or b""),
            now=now,
        )
        if verdict.state == State.REFUSED:
            _refuse(event, verdict.status, verdict.error)
            return
        if verdict.status >= 500:
            core.inbound_mark(event=event, state=State.RECEIVED, error=verdict.error)
            return
        if verdict.kind == "error":
            _error_hint(event)
            return
        core.inbound_mark(
            event=event,
            state=verdict.state,
            error=verdict.error,
            verified=True,
            kind=verdict.kind,
        )
        callback_apply(event=event, transfer=transfer, verdict=verdict)


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
    locked: TransferRequest | None = None,
) -> bool:
    """Apply one connector status through the status machine (`locked`: the row, locked
    by the caller in the current transaction; its expiry is extended in the same write)."""
    update = cp.status_update(entry, detail=detail)
    if entry.status == "FINISH_SUCCESS" and not _has_data(transfer.pk):
        # Success means our data callback was answered 200; until the data is here
        # (late or lost callback) the request is not complete for the merchant.
        update.status = Status.PROCESSING
        update.detail = "CorePass finished; waiting for the data."
    alive = update.status in (Status.ACCEPTED, Status.PROCESSING)
    if locked is not None and alive and update.status:
        until = timezone.now() + PROCESSING_GRACE
        stays = locked.status in (Status.ACCEPTED, Status.PROCESSING)
        if locked.expires_at and locked.expires_at < until:
            if stays or can_move(locked.status, update.status):
                locked.expires_at = until
        alive = False
    changed = core.transfer_apply(
        transfer_id=transfer.pk, update=update, source=source, inbound=inbound, locked=locked
    )
    if alive:
        _extend_expiry(transfer.pk)
    return changed


def _status_check(
    transfer: TransferRequest, doc: dict[str, Any], *, key: bytes, now: int
) -> StatusCallback:
    cb = callbacks.status_callback(doc)
    sig.verify_status(doc, public_key=key, now=now)
    _check_user(transfer, cb.user)
    # Any-document candidates count too: the PENDING callback can arrive before the
    # request row holds the concrete items the provider chose.
    asked = catalogue.to_ask(list(transfer.items))
    known = cp.item_hashes(asked)
    # CorePass's document's prose calls `fields` "the items" while its sample carries their SHA3
    # hashes; accept either, as long as each names something this request asked for.
    unknown = [h for h in cb.fields if h.lower() not in known and h not in asked]
    if unknown:
        raise Refused(400, f"unknown field hash {unknown[0][:16]}…")
    if cb.status not in cp.RANK:
        raise Refused(400, f"unknown status {cb.status[:40]}")
    expected = (transfer.provider_data or {}).get("expiration")
    if expected and str(expected) != str(cb.expiration):
        # The connector echoes the expiration we asked with: another one means another request.
        raise Refused(400, "expiration does not match this request")
    return cb


def _status_apply(event: InboundEvent, transfer: TransferRequest, cb: StatusCallback) -> None:
    """The status machine, on the locked row; the event was stored PROCESSED already."""
    changed = apply_status(
        transfer,
        StatusEntry(status=cb.status, tx_hash=cb.tx_hash),
        source="callback",
        inbound=event,
        locked=transfer,
    )
    note = "" if changed else "no change (late or repeated)"
    ready = False
    if cb.status in DELIVERED:
        if _names_exactly(cb.fields, list(transfer.items)):
            transfer_data_ready(
                transfer_id=transfer.pk, by=f"signed {cb.status} status callback", locked=transfer
            )
            ready = True
        else:
            note = "fields are not exactly this request's items: not proof of its data delivery"
    if note:
        InboundEvent.objects.filter(pk=event.pk).update(error=note)
        event.error = note
    if ready:
        data_settle(transfer_id=transfer.pk, locked=transfer)


def _names_exactly(fields: tuple[str, ...], items: list[str]) -> bool:
    """True when a status callback's `fields` name exactly this request's items."""
    known = cp.item_hashes(items)
    named = {known.get(f.lower(), f) for f in fields}
    return bool(items) and named == set(items)


def _data_check(
    transfer: TransferRequest, doc: dict[str, Any], *, key: bytes, now: int
) -> DataCallback:
    """Check a data delivery; it is kept (verified, encrypted) for `data_settle`, which
    applies it only once the connector has shown this transfer CONFIRMED."""
    cb = callbacks.data_callback(doc)
    sig.verify_data(doc, public_key=key, now=now)
    _check_user(transfer, cb.user)
    requested = set(catalogue.to_ask(list(transfer.items)))
    for info in cb.infos:
        if info.field_id not in requested:
            raise Refused(400, f"field {info.field_id[:60]} was not requested")
        problem = callbacks.pepper_problem(
            info.pepper, user=transfer.subject, field_id=info.field_id
        )
        if problem:
            raise Refused(400, problem)
    return cb


# --- data deliveries: held until CONFIRMED is shown, conflicts go to staff -------------


def transfer_data_ready(
    *, transfer_id: Any, by: str, locked: TransferRequest | None = None
) -> None:
    """Record that the connector showed it delivered this request's data (DELIVERED).
    `locked`: the row, locked by the caller in the current transaction."""
    with transaction.atomic(savepoint=locked is None):
        t = locked or (
            TransferRequest.objects.select_for_update()
            .only("pk", "provider_data")
            .get(pk=transfer_id)
        )
        data = dict(t.provider_data or {})
        if not data.get("data_ready"):
            data["data_ready"] = {"by": by[:120], "at": timezone.now().isoformat()}
            TransferRequest.objects.filter(pk=t.pk).update(provider_data=data)
            t.provider_data = data


def _parsed(event: InboundEvent) -> DataCallback | None:
    try:
        doc = callbacks.parse_body(event.headers.get("content-type", ""), bytes(event.body or b""))
        return callbacks.data_callback(doc)
    except callbacks.MalformedCallback:
        return None


def _fields(cb: DataCallback) -> list[FieldValue]:
    return [FieldValue(key=i.field_id, value=i.value, pepper=i.pepper) for i in cb.infos]


def data_settle(*, transfer_id: Any, locked: TransferRequest | None = None) -> list[InboundEvent]:
    """Decide on the verified data deliveries of a request that are not decided yet.

    Until the connector has shown it delivered this request's data (DELIVERED) they stay
    held and the connector is asked (task). Then its own delivery is among them: one
    distinct delivery is applied (its retries are duplicates); two different ones go to
    staff review with every delivery kept, never first-wins. A delivery that differs
    from data already applied is kept and flagged the same way. Runs under the row lock
    (`locked`: taken by the caller in the current transaction). Returns the deliveries it
    looked at, each with the state it was left in."""
    with transaction.atomic(savepoint=locked is None):
        t = locked or TransferRequest.objects.select_for_update().get(pk=transfer_id)
        waiting = InboundEvent.objects.filter(
            transfer_id=t.pk, verified=True, state=State.RECEIVED, kind="data"
        ).order_by("pk")
        if not (t.provider_data or {}).get("data_ready"):
            # They stay held: which ones is all anyone needs (no body or headers decrypted).
            held = list(waiting.only("pk", "transfer_id", "state", "kind"))
            if held:
                _ask_connector_on_commit(t.pk)
            return held
        held = list(waiting)
        if not held:
            return []
        applied = InboundEvent.objects.filter(
            transfer_id=t.pk, verified=True, state=State.PROCESSED, kind="data"
        ).first()
        in_review = list(
            InboundEvent.objects.filter(transfer_id=t.pk, verified=True, kind=CONFLICT).order_by(
                "pk"
            )
        )
        _decide(t, held, applied=applied, in_review=in_review)
        return held


def _decide(
    t: TransferRequest,
    held: list[InboundEvent],
    *,
    applied: InboundEvent | None,
    in_review: list[InboundEvent],
) -> None:
    parsed: dict[int, DataCallback] = {}
    for e in [*held, *in_review, *([applied] if applied else [])]:
        cb = _parsed(e)
        if cb is None:  # verified once, so only a corrupted row gets here
            core.inbound_mark(event=e, state=State.REFUSED, error="cannot be read again")
        else:
            parsed[e.pk] = cb
    held = [e for e in held if e.pk in parsed]
    prints = {pk: callbacks.fingerprint(cb) for pk, cb in parsed.items()}
    # What is already decided (applied, or kept for review) is what new deliveries are
    # compared with: the same data again is a harmless duplicate.
    known = {
        prints[e.pk]: e.pk for e in [*in_review, *([applied] if applied else [])] if e.pk in prints
    }
    if applied is None and _has_data(t.pk):
        # Stored without an applied delivery of its own (an applied one sent through
        # staff reprocessing, or data shared from an earlier request): compare with it.
        known.setdefault(_stored_print(t), 0)
    if known:
        for e in held:
            if prints[e.pk] in known:
                same = known[prints[e.pk]]
                core.inbound_mark(
                    event=e,
                    state=State.DUPLICATE,
                    error=f"same data as #{same}" if same else "same data as stored",
                )
            else:
                _keep_for_review(t, [e], reason="differs from data delivered earlier", others=known)
        return
    groups: dict[str, list[InboundEvent]] = {}
    for e in held:
        groups.setdefault(prints[e.pk], []).append(e)
    if len(groups) == 1:
        first = held[0]
        _apply(t, first, parsed[first.pk])
        for e in held[1:]:
            core.inbound_mark(event=e, state=State.DUPLICATE, error=f"same data as #{first.pk}")
        return
    reason = f"{len(groups)} different data deliveries for one request"
    _keep_for_review(t, held, reason=reason, others={})


def _stored_print(t: TransferRequest) -> str:
    infos = tuple(
        Info(field_id=f.key, value=f.value or "", pepper=f.pepper or "")
        for f in IdentityField.objects.filter(transfer_id=t.pk)
    )
    return callbacks.fingerprint(
        DataCallback(user=t.subject, infos=infos, deadline=0, expiration=0, signature="")
    )


def _keep_for_review(
    t: TransferRequest, events: list[InboundEvent], *, reason: str, others: dict[str, int]
) -> None:
    """Keep deliveries for staff (nothing applied) and put the request in review when its
    status allows; a request already finished keeps its status and gets a timeline entry."""
    ids = sorted({e.pk for e in events} | {pk for pk in others.values() if pk})
    listed = ", ".join(f"#{i}" for i in ids)
    for e in events:
        core.inbound_mark(
            event=e,
            state=State.IGNORED,
            error=f"kept for staff review: {reason} (deliveries {listed})",
            kind=CONFLICT,
        )
    detail = f"CorePass data conflict: {reason}; deliveries {listed} kept for staff review."
    if can_move(t.status, Status.REVIEW):
        core.transfer_apply(
            transfer_id=t.pk,
            update=StatusUpdate(status=Status.REVIEW, detail=detail),
            source="callback",
            inbound=events[-1],
        )
    else:
        TransferEvent.objects.create(
            transfer=t,
            kind="error",
            status=t.status,
            detail=detail,
            source="callback",
            inbound=events[-1],
        )


def _apply(t: TransferRequest, event: InboundEvent, cb: DataCallback) -> None:
    fields = _fields(cb)
    missing = sorted(set(t.items) - {i.field_id for i in cb.infos})
    detail = "Data received"
    if missing:
        detail += "; not sent: " + ", ".join(missing)
    core.transfer_apply(
        transfer_id=t.pk,
        update=StatusUpdate(status=Status.COMPLETED, detail=detail, fields=fields),
        source="callback",
        inbound=event,
    )
    for follower in _followers(t):
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
    core.inbound_mark(event=event, state=State.PROCESSED, error="", verified=True, kind="data")


def _ask_connector_on_commit(transfer_id: Any) -> None:
    """After the commit, ask the connector in CONFIRM_DELAY seconds (task) unless it was
    asked about this request in the last CONFIRM_THROTTLE seconds; in a callback the
    throttle's flag goes with the delivery's one Redis round trip (kyc.queued.together)."""
    from providers.corepass import tasks

    pk = str(transfer_id)

    def ask() -> None:
        tasks.confirm_data.apply_async((pk,), countdown=CONFIRM_DELAY)

    transaction.on_commit(
        lambda: queued.flag_then(f"corepass-confirm:{pk}", ask, seconds=CONFIRM_THROTTLE),
        robust=True,
    )


class NotYet(RetryableError):
    """The connector's delivery is on its way (CONFIRMED): ask again shortly."""


def data_confirm(*, transfer_id: Any) -> str:
    """Ask the connector's /kyc/status whether it delivered the data of a request that
    holds data deliveries (its status callback may be late or lost), then settle.
    Raises RetryableError (NotYet while the connector's delivery is in flight)."""
    if not InboundEvent.objects.filter(
        transfer_id=transfer_id, verified=True, state=State.RECEIVED, kind="data"
    ).exists():
        return "nothing held"  # the status callback came first: the usual case
    t = TransferRequest.objects.select_related("account").get(pk=transfer_id)
    if not (t.provider_data or {}).get("data_ready"):
        try:
            entry = client.status(
                t.account.settings.get("connector_url", ""),
                user=t.subject,
                items=list(t.items),
            )
        except RetryableError:
            raise
        except ProviderError as exc:
            log.info("corepass confirm %s: %s", t.pk, exc.code)
            return "not confirmed"
        apply_status(t, entry, source="poll")
        if not _ready_from_connector(t, [entry], by="connector /kyc/status"):
            if entry.status in IN_FLIGHT:
                raise NotYet(f"connector reports {entry.status}")
            return f"connector reports {entry.status}"
    data_settle(transfer_id=t.pk)
    return "settled"


def _ready_from_connector(t: TransferRequest, entries: list[StatusEntry], *, by: str) -> bool:
    """Record DELIVERED if the connector's own answer says so for a status dated after
    this request was made (an older one is about an earlier request)."""
    since = int(t.created_at.timestamp()) - STATUS_SKEW
    fresh = [e for e in entries if e.status in DELIVERED and e.created_at >= since]
    if not fresh:
        return False
    transfer_data_ready(transfer_id=t.pk, by=f"{by} answered {fresh[-1].status}")
    return True


def data_delivery_accept(*, event_id: int, actor: Any) -> bool:
    """Staff settle a conflict: apply the chosen kept delivery and complete the request
    (from review only); the other kept deliveries stay, marked as not chosen."""
    with transaction.atomic():
        event = InboundEvent.objects.select_for_update().get(pk=event_id)
        if event.kind != CONFLICT or not event.verified or event.transfer_id is None:
            return False
        t = TransferRequest.objects.select_for_update().get(pk=event.transfer_id)
        cb = _parsed(event)
        if t.status != Status.REVIEW or cb is None or _has_data(t.pk):
            return False
        core.transfer_apply(
            transfer_id=t.pk,
            update=StatusUpdate(
                status=Status.COMPLETED,
                detail=f"Data delivery #{event.pk} chosen in review",
                fields=_fields(cb),
            ),
            source="staff",
            inbound=event,
            actor=actor,  # the record's review status change names the reviewer
        )
        core.inbound_mark(event=event, state=State.PROCESSED, verified=True, kind="data")
        for other in InboundEvent.objects.filter(transfer_id=t.pk, kind=CONFLICT).exclude(
            pk=event.pk
        ):
            core.inbound_mark(
                event=other, state=State.IGNORED, error=f"not chosen in review (#{event.pk} was)"
            )
        core.audit_log(
            actor=actor, action="corepass.data_chosen", obj=t, detail={"delivery": event.pk}
        )
    return True


def _error_check(transfer: TransferRequest, doc: dict[str, Any], *, key: bytes, now: int) -> None:
    """The error callback's signed message is unknown, so it cannot be verified: it is
    kept as a hint and a task confirms the failure with the connector's /kyc/status."""
    cb = callbacks.error_callback(doc)
    sig.verify_origin_hint(doc, public_key=key, now=now)
    _check_user(transfer, cb.user)


def _error_hint(event: InboundEvent) -> None:
    core.inbound_mark(event=event, state=State.RECEIVED, error="", kind="error")
    event_id = event.pk
    from kyc.tasks import process_inbound

    transaction.on_commit(lambda: process_inbound.delay(event_id))


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
    if _ready_from_connector(transfer, [entry], by="connector /kyc/status"):
        data_settle(transfer_id=transfer.pk)


def inbound_process(*, event_id: int) -> None:
    """Process a stored delivery again (sweeper, admin reprocess). Idempotent."""
    event = InboundEvent.objects.select_related("transfer__account").filter(pk=event_id).first()
    if event is None or event.state != State.RECEIVED:
        return
    if event.kind == "error":
        error_confirm(event=event)
        return
    # The deadline is judged against when the delivery arrived, not when we retry it.
    _stored_process(event=event, now=int(event.received_at.timestamp()))


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
    if _ready_from_connector(transfer, entries, by="connector /kyc/all-statuses"):
        data_settle(transfer_id=transfer.pk)
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
    from providers.corepass import tasks

    enqueued = 0
    for pk in ids:
        # One check per request per stale period, even when the connector is down;
        # each check is its own task so one slow connector never stalls the beat.
        if not cache.add(f"corepass-reconcile:{pk}", 1, settings.TRANSFER_STALE_AFTER_SECONDS):
            continue
        tasks.check_transfer.delay(str(pk))
        enqueued += 1
    return enqueued
