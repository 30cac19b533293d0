"""Incode flow: admin token lifecycle, webhook processing, review, erasure at Incode.

Writes go through kyc.services (state, status machine, fields); this module only
adds what is Incode's: when to log in again, what a finished onboarding means.
"""

from __future__ import annotations

import datetime as dt
import hashlib
import logging
import secrets
from collections.abc import Callable
from dataclasses import dataclass
from typing import Any, TypeVar

from django.db import transaction
from django.db.models import Q
from django.utils import timezone

from kyc import services
from kyc.contract import StatusUpdate
from kyc.errors import ProviderError, RetryableError
from kyc.models import InboundEvent, ProviderAccount, TransferEvent, TransferRequest
from kyc.renewal import call_with_renewal
from kyc.status import TERMINAL, Status
from providers.incode import client, schemas
from providers.incode import provider as incode
from providers.incode.models import IncodeImage

log = logging.getLogger(__name__)

PROVIDER = "incode"
REFRESH_ERROR_PREFIX = "Incode admin token refresh failed"
# An erased record's interview deletion is retried by reconcile() at most this often.
DELETE_MAX_ATTEMPTS = 10

T = TypeVar("T")


# --- admin token ----------------------------------------------------------------


def admin_token_get(*, account_id: int, now: dt.datetime | None = None) -> str:
    """A usable admin token: the cached one, or a new one when it is due (24 h old minus margin)."""
    now = now or timezone.now()
    account = ProviderAccount.objects.get(pk=account_id)
    token = incode.usable_admin_token(account.state or {}, now=now, settings=account.settings or {})
    if token:
        return token
    return admin_token_refresh(account_id=account_id, now=now)


def admin_token_refresh(
    *, account_id: int, now: dt.datetime | None = None, stale: str | None = None
) -> str:
    """Log in as the executive and store the token (encrypted in ProviderAccount.state).

    Runs under the account's row lock, so concurrent workers log in once: a caller
    that waited finds the token the other one stored. `stale` is a token the
    provider refused (401): it is replaced even if it looks unexpired.
    A failure is recorded (state + last_error, shown on the settings page) and raised.
    """
    now = now or timezone.now()
    try:
        with transaction.atomic():
            account = ProviderAccount.objects.select_for_update().get(pk=account_id)
            current = incode.usable_admin_token(
                account.state or {}, now=now, settings=account.settings or {}
            )
            if current and current != stale:
                return current
            s = account.settings or {}
            token = incode.executive_login(s, now=now)
            clear = "" if account.last_error.startswith(REFRESH_ERROR_PREFIX) else None
            services.provider_account_set_state(
                account_id=account_id,
                updates=incode.token_state(token, now=now, settings=s),
                error=clear,
            )
            return token.token
    except ProviderError as exc:
        reason = f"{exc.code}: {exc.message}"
        services.provider_account_set_state(
            account_id=account_id,
            updates=incode.error_state(reason, now=now),
            error=f"{REFRESH_ERROR_PREFIX} ({reason})",
        )
        log.warning("incode admin token refresh failed for account %s: %s", account_id, exc.code)
        raise


def with_admin_token(
    *, account_id: int, call: Callable[[str], T], now: dt.datetime | None = None
) -> T:
    """Make one call with the admin token; on 401 refresh once and retry once."""
    return call_with_renewal(
        call,
        current=admin_token_get(account_id=account_id, now=now),
        renew=lambda stale: admin_token_refresh(account_id=account_id, now=now, stale=stale),
    )


def admin_tokens_refresh_due(*, now: dt.datetime | None = None) -> int:
    """Beat: refresh every enabled account's token that is due. One failure never stops the rest."""
    now = now or timezone.now()
    refreshed = 0
    ids = ProviderAccount.objects.filter(provider=PROVIDER, enabled=True).values_list(
        "pk", flat=True
    )
    for account_id in list(ids):
        try:
            refreshed += admin_token_refresh_if_due(account_id=account_id, now=now)
        except ProviderError:
            continue  # recorded on the account; the next run tries again
        except Exception as exc:  # noqa: BLE001 - one tenant's failure never stops the rest
            # Type only: a message could carry a setting's value.
            log.error(
                "incode admin token refresh crashed for account %s: %s",
                account_id,
                type(exc).__name__,
            )
    return refreshed


def admin_token_refresh_if_due(*, account_id: int, now: dt.datetime) -> bool:
    """Refresh one account's admin token when it is due; False when nothing was due."""
    account = ProviderAccount.objects.get(pk=account_id)
    s = account.settings or {}
    if not (s.get("executive_email") and s.get("executive_password")):
        return False
    if incode.usable_admin_token(account.state or {}, now=now, settings=s):
        return False
    admin_token_refresh(account_id=account_id, now=now)
    return True


# --- start (token-server endpoints reuse the generic start) ----------------------


def find_transfer(*, account: ProviderAccount, interview_id: str) -> TransferRequest | None:
    return (
        TransferRequest.objects.filter(
            account=account, provider=PROVIDER, provider_ref=interview_id
        )
        .order_by("-created_at")
        .first()
    )


def webhook_dedupe_key(*, account_id: int, interview_id: str, status: str) -> str:
    digest = hashlib.sha256(f"{account_id}:{interview_id}:{status}".encode()).hexdigest()
    return f"incode:{digest[:48]}"


# --- webhook processing ---------------------------------------------------------


def inbound_process(*, event_id: int) -> None:
    """Process one stored webhook (idempotent: only RECEIVED events are processed).

    The webhook is unsigned, so it only tells us *when* to look: Incode's own onboarding
    status (and then its score, fetched with the admin token) decides. A status Incode does
    not confirm changes nothing, not even the provider status the customer sees.
    """
    event = InboundEvent.objects.select_related("account", "transfer").filter(pk=event_id).first()
    if event is None or event.state != InboundEvent.State.RECEIVED:
        return
    try:
        hook = schemas.parse_webhook(bytes(event.body or b""))
    except schemas.BadPayload as exc:
        services.inbound_mark(event=event, state=InboundEvent.State.REFUSED, error=str(exc))
        return
    transfer = event.transfer
    if transfer is None and event.account is not None:
        transfer = find_transfer(account=event.account, interview_id=hook.interview_id)
    if transfer is None:
        services.inbound_mark(
            event=event,
            state=InboundEvent.State.IGNORED,
            error="unknown interview; nothing changed",
        )
        return
    if event.transfer_id is None:
        InboundEvent.objects.filter(pk=event.pk).update(transfer=transfer)
    if hook.onboarding_status not in schemas.STATUS_RANK and not schemas.is_final(
        hook.onboarding_status
    ):
        services.inbound_mark(
            event=event, state=InboundEvent.State.IGNORED, error="status not used by the portal"
        )
        return
    onboarding_finish(transfer_id=transfer.pk, event_id=event.pk, claimed=hook.onboarding_status)


# The three Incode calls of a finish (status, score + OCR, approve) take seconds: they run
# with no row lock and no open transaction. A short transaction claims the request first
# (one finisher at work per request; the claim lapses after FINISH_LEASE should a worker
# die), another applies what Incode said after re-reading the row.
FINISH_LEASE = dt.timedelta(minutes=3)
CLAIM_KEY = "incode_finishing"


@dataclass
class _Outcome:
    """What Incode said about an onboarding, applied in one short transaction."""

    result: str
    event_state: str = InboundEvent.State.PROCESSED
    event_error: str = ""
    verified: bool | None = None
    # A change to the request: skipped when the request was decided meanwhile.
    update: StatusUpdate | None = None
    source: str = "callback"
    score: dict[str, str] | None = None
    identity_uuid: str = ""
    # An unconfirmed webhook frees its dedupe key: a forged early "finished" must not make
    # the real one look like a duplicate.
    free_dedupe_key: bool = False
    # A finished onboarding's ID and selfie images (fetched with the other calls), or why
    # not; `images_retry`: the task tries again after commit.
    images: list[schemas.Image] | None = None
    images_error: str = ""
    images_retry: bool = False


def onboarding_finish(
    *,
    transfer_id: Any,
    event_id: int | None = None,
    claimed: str = schemas.ONBOARDING_FINISHED,
    confirmed: str | None = None,
) -> str:
    """Confirm the onboarding status with Incode, then act on what Incode says: finished ->
    score and OCR data, approve at Incode if allowed, complete or send to review; expired ->
    expired; an earlier step -> the provider status only.

    `claimed` is what the (unsigned) webhook said; `confirmed` a status already read from
    Incode by the caller (the poll), which saves asking again. Returns what happened.
    Retryable provider failures leave the event RECEIVED (the inbox sweeper tries again);
    permanent ones mark it FAILED with the reason. Webhook, page poll and reconcile may race:
    one claims the request, a second finds it claimed ("busy", its event stays RECEIVED) or
    decided ("already-decided") and changes nothing.
    """
    event = InboundEvent.objects.filter(pk=event_id).first() if event_id else None
    claim = _finish_claim(transfer_id=transfer_id, event=event)
    if isinstance(claim, str):
        return claim
    transfer, token = claim
    try:
        outcome = _ask_incode(
            transfer=transfer,
            claimed=claimed,
            confirmed=confirmed,
            source="callback" if event else "poll",
        )
    except BaseException:
        _finish_release(transfer_id=transfer.pk, token=token)
        raise
    return _finish_apply(transfer_id=transfer.pk, token=token, event=event, outcome=outcome)


def _decided(transfer: TransferRequest) -> bool:
    return transfer.status in TERMINAL or transfer.status == Status.REVIEW


def _finish_claim(
    *, transfer_id: Any, event: InboundEvent | None
) -> tuple[TransferRequest, str] | str:
    """Short transaction: the request, marked as being finished by us (or why not)."""
    now = timezone.now()
    with transaction.atomic():
        transfer = (
            TransferRequest.objects.select_for_update(of=("self",))
            .select_related("account")
            .get(pk=transfer_id)
        )
        if _decided(transfer):
            if event:
                services.inbound_mark(
                    event=event,
                    state=InboundEvent.State.PROCESSED,
                    error=f"already {transfer.status}",
                )
            return "already-decided"
        held = (transfer.provider_data or {}).get(CLAIM_KEY) or {}
        if str(held.get("until") or "") > now.isoformat():
            if event:
                # Stays RECEIVED: the inbox sweeper brings it back once the other is done.
                services.inbound_mark(
                    event=event,
                    state=InboundEvent.State.RECEIVED,
                    error="another check of this onboarding was at work; tried again later",
                )
            return "busy"
        token = secrets.token_hex(8)
        transfer.provider_data = {
            **(transfer.provider_data or {}),
            CLAIM_KEY: {"token": token, "until": (now + FINISH_LEASE).isoformat()},
        }
        transfer.save(update_fields=["provider_data", "updated_at"])
    return transfer, token


def _drop_claim(transfer: TransferRequest, token: str) -> bool:
    """Remove our claim from the (locked) row in memory; False when it is not ours."""
    held = (transfer.provider_data or {}).get(CLAIM_KEY) or {}
    if held.get("token") != token:
        return False
    transfer.provider_data = {k: v for k, v in transfer.provider_data.items() if k != CLAIM_KEY}
    return True


def _finish_release(*, transfer_id: Any, token: str) -> None:
    with transaction.atomic():
        t = TransferRequest.objects.select_for_update(of=("self",)).get(pk=transfer_id)
        if _drop_claim(t, token):
            t.save(update_fields=["provider_data", "updated_at"])


def _finish_apply(
    *, transfer_id: Any, token: str, event: InboundEvent | None, outcome: _Outcome
) -> str:
    """Short transaction: re-read the row; a decision made meanwhile (another finisher,
    staff, expiry) wins and nothing is applied twice; otherwise apply what Incode said."""
    with transaction.atomic():
        t = TransferRequest.objects.select_for_update(of=("self",)).get(pk=transfer_id)
        _drop_claim(t, token)
        if outcome.update is not None and _decided(t):
            t.save(update_fields=["provider_data", "updated_at"])
            if event:
                services.inbound_mark(
                    event=event, state=InboundEvent.State.PROCESSED, error=f"already {t.status}"
                )
            return "already-decided"
        if outcome.score is not None:
            t.provider_data = {**t.provider_data, "score": outcome.score}
        if outcome.images is not None or outcome.images_error:
            _images_store(transfer=t, outcome=outcome)
        if outcome.identity_uuid:
            t.provider_secrets = {
                **(t.provider_secrets or {}),
                "identity_uuid": outcome.identity_uuid,
            }
        t.save(update_fields=["provider_data", "provider_secrets", "updated_at"])
        if outcome.update is not None:
            services.transfer_apply(
                transfer_id=t.pk,
                update=outcome.update,
                source=outcome.source,
                inbound=event,
                locked=t,
            )
        if event:
            services.inbound_mark(
                event=event,
                state=outcome.event_state,
                error=outcome.event_error,
                verified=outcome.verified,
            )
            if outcome.free_dedupe_key:
                InboundEvent.objects.filter(pk=event.pk).update(dedupe_key=None)
    return outcome.result


def _unconfirmed(*, claimed: str, confirmed: str) -> _Outcome:
    """The webhook said something Incode does not say (early, late or forged): nothing changes."""
    return _Outcome(
        result="not-confirmed",
        event_state=InboundEvent.State.IGNORED,
        event_error=(
            f"{claimed} not confirmed by Incode (it reports {confirmed[:40]}); nothing changed"
        ),
        free_dedupe_key=True,
    )


def _retry_later(exc: RetryableError) -> _Outcome:
    """Incode did not answer: the delivery stays RECEIVED and the inbox sweeper enqueues it
    again (attempts are counted); nothing changes meanwhile."""
    return _Outcome(
        result="retry", event_state=InboundEvent.State.RECEIVED, event_error=exc.message
    )


def _failed(error: str, *, update: StatusUpdate | None = None) -> _Outcome:
    """Incode refused a call for good: the delivery fails with `error`, and the request
    changes only by `update`."""
    return _Outcome(
        result="failed", event_state=InboundEvent.State.FAILED, event_error=error, update=update
    )


def _interview_call(transfer: TransferRequest, call: Callable[..., T]) -> T:
    """`call`, a client function about one interview (get_score, process_approve, ...), for
    the transfer's interview with its account's URL, key and admin token (renewed once
    when Incode refuses it)."""
    s = transfer.account.settings or {}
    return with_admin_token(
        account_id=transfer.account_id,
        call=lambda tok: call(
            api_url=s.get("api_url", ""),
            api_key=s.get("api_key", ""),
            admin_token=tok,
            interview_id=transfer.provider_ref,
        ),
    )


def _confirmed_status(*, transfer: TransferRequest) -> str:
    """`/omni/get/onboarding/status` with the admin token: Incode's word, not the webhook's."""
    s = transfer.account.settings or {}
    return with_admin_token(
        account_id=transfer.account_id,
        call=lambda tok: client.onboarding_status(
            api_url=s.get("api_url", ""),
            api_key=s.get("api_key", ""),
            token=tok,
            interview_id=transfer.provider_ref,
        ),
    )


def _ask_incode(
    *, transfer: TransferRequest, claimed: str, confirmed: str | None, source: str
) -> _Outcome:
    """Every Incode call of a finish; no row lock, no transaction of ours, no writes to the
    request (only the admin token may be renewed, under the account's own lock)."""
    if confirmed is None:
        try:
            confirmed = _confirmed_status(transfer=transfer)
        except RetryableError as exc:
            return _retry_later(exc)
        except ProviderError as exc:
            # Nothing confirmed: the request is left as it was.
            return _failed(f"could not confirm with Incode ({exc.code}); nothing changed")
    if confirmed != claimed:
        return _unconfirmed(claimed=claimed, confirmed=confirmed)
    if schemas.is_final(confirmed):
        return _expire(status=confirmed, source=source)
    if confirmed != schemas.ONBOARDING_FINISHED:
        return _progress(transfer=transfer, status=confirmed, source=source)
    return _score(transfer=transfer)


def _progress(*, transfer: TransferRequest, status: str, source: str) -> _Outcome:
    """A confirmed intermediate step: the provider status moves forward, the status does not."""
    rank = schemas.STATUS_RANK.get(status)
    update = None
    if rank is not None and rank > transfer.provider_rank:
        update = StatusUpdate(provider_status=status, provider_rank=rank)
    return _Outcome(result=status, verified=True, update=update, source=source)


def _expire(*, status: str, source: str) -> _Outcome:
    """Incode confirms the onboarding expired: final, the customer cannot finish it any more."""
    return _Outcome(
        result=Status.EXPIRED,
        verified=True,
        source=source,
        update=StatusUpdate(
            status=Status.EXPIRED,
            provider_status=status,
            provider_rank=schemas.FINAL_RANK,
            detail="The Incode onboarding expired before the customer finished it",
        ),
    )


def _score(*, transfer: TransferRequest) -> _Outcome:
    s = transfer.account.settings or {}
    try:
        score = _interview_call(transfer, client.get_score)
        if not score.known:
            return _unconfirmed(claimed=schemas.ONBOARDING_FINISHED, confirmed="no score yet")
        ocr = _interview_call(transfer, client.get_ocr_data)
        approved = None
        if s.get("auto_approve") and score.passed:
            approved = _interview_call(transfer, client.process_approve)
    except RetryableError as exc:
        return _retry_later(exc)
    except ProviderError as exc:
        return _failed(
            f"{exc.code}: {exc.message}",
            update=StatusUpdate(
                provider_status=schemas.ONBOARDING_FINISHED,
                provider_rank=schemas.STATUS_RANK[schemas.ONBOARDING_FINISHED],
                detail=f"Could not fetch the result from Incode ({exc.code})",
            ),
        )

    verdict = f"overall score {score.overall_status}" + (
        f" ({score.overall_value})" if score.overall_value else ""
    )
    if approved is not None and approved.success:
        status, detail = Status.COMPLETED, f"Approved at Incode: {verdict}"
    elif approved is not None:
        status, detail = (
            Status.REVIEW,
            f"Incode refused the approval ({verdict}); waiting for review",
        )
    elif not s.get("auto_approve"):
        status, detail = Status.REVIEW, f"Auto-approve is off ({verdict}); waiting for review"
    else:
        status, detail = Status.REVIEW, f"Score not OK ({verdict}); waiting for review"
    return _Outcome(
        result=status,
        verified=True,
        score=score.summary(),
        **_images_ask(transfer=transfer),
        identity_uuid=(approved.uuid if approved is not None and approved.uuid else ""),
        update=StatusUpdate(
            status=status,
            provider_status=schemas.ONBOARDING_FINISHED,
            provider_rank=schemas.STATUS_RANK[schemas.ONBOARDING_FINISHED],
            fields=schemas.ocr_fields(ocr),
            detail=detail,
        ),
    )


# --- ID and selfie images for compliance review -----------------------------------------

IMAGE_ERROR_KEY = "incode_images_error"


def images_fetch(*, transfer_id: Any) -> str:
    """The task's second try at a finish's images call (`/omni/get/images`, session token):
    store a finished onboarding's ID front/back and selfie encrypted; no lock is held while
    Incode answers. Idempotent: once stored (or erased) nothing is asked again. A retryable
    failure is raised (the task retries); a permanent one is recorded on the request."""
    transfer = TransferRequest.objects.select_related("account", "record").filter(pk=transfer_id)
    t = transfer.first()
    if t is None or not t.provider_ref or _pii_gone(t):
        return "nothing-to-do"
    if IncodeImage.objects.filter(transfer=t).exists():
        return "stored"
    token = (t.provider_secrets or {}).get("session_token")
    if not token:
        _mark(transfer_id=t.pk, key=IMAGE_ERROR_KEY, value="no session token to ask with")
        return "failed"
    s = t.account.settings or {}
    try:
        images = client.get_images(
            api_url=s.get("api_url", ""), api_key=s.get("api_key", ""), token=token
        )
    except RetryableError:
        raise
    except ProviderError as exc:
        _mark(transfer_id=t.pk, key=IMAGE_ERROR_KEY, value=exc.code)
        return "failed"
    with transaction.atomic():
        locked = (
            TransferRequest.objects.select_for_update(of=("self",))
            .select_related("record")
            .get(pk=t.pk)
        )
        if _pii_gone(locked):
            return "nothing-to-do"  # erased while Incode answered: nothing is kept
        _images_keep(transfer=locked, images=images)
        locked.save(update_fields=["provider_data", "updated_at"])
    return "stored"


def images_give_up(*, transfer_id: Any, code: str) -> None:
    """The task ran out of retries: say so on the request."""
    _mark(transfer_id=transfer_id, key=IMAGE_ERROR_KEY, value=f"{code} (gave up retrying)")


def _pii_gone(t: TransferRequest) -> bool:
    return "pii_erased_at" in (t.provider_data or {}) or bool(
        t.record is not None and t.record.erased_at
    )


def _images_ask(*, transfer: TransferRequest) -> dict[str, Any]:
    """A finish's images call (no lock held): `_Outcome` fields. Never raises: the images
    must not hold up the decision."""
    token = (transfer.provider_secrets or {}).get("session_token")
    if not token:
        return {"images_error": "no session token to ask with"}
    s = transfer.account.settings or {}
    try:
        images = client.get_images(
            api_url=s.get("api_url", ""), api_key=s.get("api_key", ""), token=token
        )
    except RetryableError as exc:
        return {"images_error": exc.code, "images_retry": True}
    except ProviderError as exc:
        return {"images_error": exc.code}
    return {"images": images}


def _images_store(*, transfer: TransferRequest, outcome: _Outcome) -> None:
    """In the finish's apply transaction (row locked): keep the images, or the reason."""
    if outcome.images is not None:
        _images_keep(transfer=transfer, images=outcome.images)
    else:
        transfer.provider_data = {**transfer.provider_data, IMAGE_ERROR_KEY: outcome.images_error}
    if outcome.images_retry:
        from providers.incode import tasks

        pk = str(transfer.pk)
        transaction.on_commit(lambda: tasks.fetch_images.apply_async((pk,), countdown=30))


def _images_keep(*, transfer: TransferRequest, images: list[schemas.Image]) -> None:
    """Store the images encrypted (once per kind) on the locked row's request; the caller
    saves `provider_data`."""
    now = timezone.now()
    for image in images:
        IncodeImage.objects.get_or_create(
            transfer=transfer,
            kind=image.kind,
            defaults={"content_type": image.content_type, "data": image.data, "fetched_at": now},
        )
    data = {k: v for k, v in transfer.provider_data.items() if k != IMAGE_ERROR_KEY}
    transfer.provider_data = {**data, "incode_images": [i.kind for i in images]}


def images_erase(*, record_id: int | None = None) -> int:
    """Delete the images of an erased record (kyc.services.record_erase has blanked them
    already), or, with no record, of every request whose PII is gone (retention)."""
    qs = IncodeImage.objects.all()
    if record_id is not None:
        qs = qs.filter(transfer__record_id=record_id)
    else:
        qs = qs.filter(
            Q(transfer__provider_data__has_key="pii_erased_at")
            | Q(transfer__record__erased_at__isnull=False)
            | Q(erased_at__isnull=False)
        )
    return qs.delete()[0]


@dataclass(frozen=True)
class ReviewImageRow:
    pk: int
    kind: str
    label: str
    fetched_at: dt.datetime


def review_images(*, record_id: int) -> list[ReviewImageRow]:
    """The stored images of a record (no image data read): what the review page lists."""
    order = {kind: i for i, kind in enumerate(schemas.IMAGE_KINDS)}
    rows = (
        IncodeImage.objects.filter(transfer__record_id=record_id, erased_at__isnull=True)
        .exclude(data=None)
        .only("pk", "kind", "fetched_at", "transfer_id")
        .order_by("transfer__created_at", "pk")
    )
    return sorted(
        (
            ReviewImageRow(
                pk=r.pk, kind=r.kind, label=r.get_kind_display(), fetched_at=r.fetched_at
            )
            for r in rows
        ),
        key=lambda r: order.get(r.kind, 99),
    )


# --- asking Incode when no webhook comes ------------------------------------------

# Requests still waiting for the customer are checked at Incode when we have not
# heard anything for this long (reconcile, every minute), for at most CHECK_FOR.
CHECK_AFTER = dt.timedelta(minutes=2)
CHECK_FOR = dt.timedelta(days=2)
_WAITING = (Status.PENDING, Status.ACCEPTED, Status.PROCESSING)


def transfer_check(*, transfer_id: Any) -> str:
    """Ask Incode for the onboarding status with the session token; finish if it is done."""
    transfer = TransferRequest.objects.select_related("account").filter(pk=transfer_id).first()
    if transfer is None or transfer.status not in _WAITING or not transfer.provider_ref:
        return "nothing-to-do"
    token = (transfer.provider_secrets or {}).get("session_token")
    if not token:
        return "no-session"
    s = transfer.account.settings or {}
    try:
        status = client.onboarding_status(
            api_url=s.get("api_url", ""),
            api_key=s.get("api_key", ""),
            token=token,
            interview_id=transfer.provider_ref,
        )
    except ProviderError as exc:
        log.info("incode status check failed for %s: %s", transfer.pk, exc.code)
        return "error"
    TransferRequest.objects.filter(pk=transfer.pk).update(last_heard_at=timezone.now())
    if status == schemas.ONBOARDING_FINISHED or schemas.is_final(status):
        # Read from Incode just now: no need to confirm it again.
        return onboarding_finish(transfer_id=transfer.pk, claimed=status, confirmed=status)
    rank = schemas.STATUS_RANK.get(status)
    if rank is not None and rank > transfer.provider_rank:
        services.transfer_apply(
            transfer_id=transfer.pk,
            update=StatusUpdate(provider_status=status, provider_rank=rank),
            source="poll",
        )
    return status


def transfers_to_check(*, now: dt.datetime | None = None) -> list[Any]:
    now = now or timezone.now()
    return list(
        TransferRequest.objects.filter(
            provider=PROVIDER,
            status__in=_WAITING,
            created_at__gte=now - CHECK_FOR,
            last_heard_at__lt=now - CHECK_AFTER,
        )
        .exclude(provider_ref="")
        .order_by("last_heard_at")
        .values_list("pk", flat=True)[:20]
    )


# --- compliance review ----------------------------------------------------------


def transfer_decide(*, transfer: TransferRequest, approve: bool, reason: str, actor: Any) -> bool:
    """Staff decision with a reason; an approval is also sent to Incode (after commit)."""
    changed = services.transfer_review(
        transfer=transfer, approve=approve, reason=reason, actor=actor
    )
    if changed and approve and transfer.provider_ref:
        from providers.incode import tasks

        pk = str(transfer.pk)
        transaction.on_commit(lambda: tasks.approve_at_incode.delay(pk))
    return changed


def interview_approve(*, transfer_id: Any) -> bool:
    transfer = TransferRequest.objects.select_related("account").get(pk=transfer_id)
    if transfer.provider_data.get("incode_approved") or not transfer.provider_ref:
        return False
    result = _interview_call(transfer, client.process_approve)
    _mark(transfer_id=transfer.pk, key="incode_approved", value=bool(result.success))
    return result.success


# --- erasure at Incode ----------------------------------------------------------


def interviews_to_delete() -> list[Any]:
    """Transfers of erased records whose interview Incode has not yet been asked to delete."""
    return list(
        TransferRequest.objects.filter(provider=PROVIDER, record__erased_at__isnull=False)
        .exclude(provider_ref="")
        .exclude(provider_data__has_key="incode_deleted_at")
        .filter(
            ~Q(provider_data__has_key="incode_delete_attempts")
            | Q(provider_data__incode_delete_attempts__lt=DELETE_MAX_ATTEMPTS)
        )
        .values_list("pk", flat=True)[:50]
    )


def record_erased(*, record_id: int) -> None:
    """Hook (kyc.services.record_erase, after commit): ask Incode to delete the customer's
    interviews too. reconcile() retries the ones a broker outage lost."""
    from providers.incode import tasks

    ids = TransferRequest.objects.filter(record_id=record_id, provider="incode").exclude(
        provider_ref=""
    )
    images_erase(record_id=record_id)  # blanked in the erasing transaction; now gone
    for pk in ids.values_list("pk", flat=True):
        tasks.delete_interview.delay(str(pk))


def transfer_cancelled(*, transfer_id: Any) -> bool:
    """Hook (kyc.services.transfer_cancel, after commit): ask Incode to delete the interview."""
    from providers.incode import tasks

    if not TransferRequest.objects.filter(pk=transfer_id).exclude(provider_ref="").exists():
        return False  # never reached Incode: nothing to tell it
    tasks.delete_interview.delay(str(transfer_id))
    return True


def interview_delete(*, transfer_id: Any) -> bool:
    """Ask Incode to delete the interview's PII. Idempotent: done once, 404 counts as done."""
    transfer = TransferRequest.objects.select_related("account").filter(pk=transfer_id).first()
    if transfer is None or not transfer.provider_ref:
        return False
    if transfer.provider_data.get("incode_deleted_at"):
        return False
    try:
        existed = _interview_call(transfer, client.delete_interview)
    except ProviderError as exc:
        attempts = int(transfer.provider_data.get("incode_delete_attempts") or 0) + 1
        _mark(transfer_id=transfer.pk, key="incode_delete_attempts", value=attempts)
        _mark(transfer_id=transfer.pk, key="incode_delete_error", value=exc.code)
        raise
    now = timezone.now()
    _mark(transfer_id=transfer.pk, key="incode_deleted_at", value=now.isoformat())
    TransferEvent.objects.create(
        transfer_id=transfer.pk,
        kind="note",
        status=transfer.status,
        detail="Incode asked to delete the interview's personal data"
        + ("" if existed else " (it was already gone)"),
        source="system",
    )
    return True


def _mark(*, transfer_id: Any, key: str, value: Any) -> None:
    with transaction.atomic():
        t = TransferRequest.objects.select_for_update().get(pk=transfer_id)
        t.provider_data = {**t.provider_data, key: value}
        t.save(update_fields=["provider_data", "updated_at"])


def reconcile() -> int:
    """Every minute (beat): ask Incode about quiet requests, retry lost interview deletions,
    drop the images of requests whose PII is gone."""
    from providers.incode import tasks

    checks = transfers_to_check()
    for pk in checks:
        tasks.check_transfer.delay(str(pk))
    deletions = interviews_to_delete()
    for pk in deletions:
        tasks.delete_interview.delay(str(pk))
    images_erase()  # requests whose PII the retention period erased
    return len(checks) + len(deletions)
