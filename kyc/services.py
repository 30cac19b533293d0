"""Every write to the domain goes through a function here: `<entity>_<action>(*, ...)`.

Views, the API, forms and tasks parse input, call one of these, and render.
Each provider's own writes live in providers/<name>/services.py and build on these.
"""

from __future__ import annotations

import datetime as dt
import hashlib
import logging
import secrets
from collections.abc import Iterable, Mapping
from dataclasses import dataclass
from functools import partial
from typing import Any

from django.conf import settings
from django.db import IntegrityError, transaction
from django.db.models import Model
from django.utils import timezone

from kyc import metrics, outbox, registry, review, selectors
from kyc.audit import audit_write
from kyc.contract import FieldValue, Provider, StartRequest, StartResult, StatusUpdate
from kyc.crypto import lookup_hash
from kyc.models import (
    ApiKey,
    AuditEntry,
    Certificate,
    CertPromise,
    IdempotentRequest,
    IdentityField,
    InboundEvent,
    KYCRecord,
    Merchant,
    ProviderAccount,
    TransferEvent,
    TransferRequest,
    default_api_key_scopes,
)
from kyc.qr import render_svg
from kyc.status import TERMINAL, Status, can_move
from providers.errors import AuthenticationError, InvalidInput, ProviderError

log = logging.getLogger(__name__)

# How long an API answer is kept for an Idempotency-Key replay (portal/api/idempotency.py).
IDEMPOTENCY_WINDOW = dt.timedelta(hours=24)

# Headers never stored with a delivery: they carry credentials, not facts.
_DROP_HEADERS = frozenset({"authorization", "cookie", "proxy-authorization", "x-api-key"})


# --- audit --------------------------------------------------------------------


def audit_log(
    *,
    actor: Any,
    action: str,
    obj: Model | None = None,
    merchant: Merchant | None = None,
    detail: Mapping[str, Any] | None = None,
) -> AuditEntry:
    """Thin alias of kyc.audit.audit_write (the one way in) that names an object."""
    if merchant is None and obj is not None:
        merchant = getattr(obj, "merchant", None) or (obj if isinstance(obj, Merchant) else None)
    return audit_write(
        actor=actor,
        merchant=merchant,
        action=action,
        object_type=obj._meta.label if obj is not None else "",
        object_id=str(obj.pk) if obj is not None else "",
        detail=detail,
    )


# --- merchants and keys -------------------------------------------------------


def api_key_create(
    *,
    merchant: Merchant,
    name: str,
    created_by: Any = None,
    raw: str | None = None,
    scopes: Iterable[str] | None = None,
) -> tuple[ApiKey, str]:
    """Create a key; the plaintext is returned once and never stored.

    `raw` lets `manage.py demo` use a stable key; everything else gets a random one.
    `scopes` defaults to read + write: decrypted PII (`pii`) only when asked for.
    """
    scope_list = _api_key_scopes(scopes)
    if raw is None:
        raw = f"kp_{secrets.token_hex(4)}_{secrets.token_urlsafe(32)}"
    prefix = raw.split("_")[1]
    key = ApiKey.objects.create(
        merchant=merchant,
        name=name,
        prefix=prefix,
        hashed=hashlib.sha256(raw.encode()).hexdigest(),
        created_by=created_by if getattr(created_by, "pk", None) else None,
        scopes=scope_list,
    )
    audit_log(
        actor=created_by,
        action="api_key.created",
        obj=key,
        detail={"prefix": prefix, "scopes": scope_list},
    )
    return key, raw


def _api_key_scopes(scopes: Iterable[str] | None) -> list[str]:
    """Known scopes in a stable order; an unknown one is a mistake worth refusing."""
    if scopes is None:
        return default_api_key_scopes()
    wanted = set(scopes)
    unknown = sorted(wanted - set(ApiKey.Scope.values))
    if unknown:
        raise InvalidInput(f"unknown API key scope(s): {', '.join(unknown)}", field="scopes")
    return [s for s in ApiKey.Scope.values if s in wanted]


def api_key_revoke(*, key: ApiKey, actor: Any = None) -> ApiKey:
    if key.revoked_at is None:
        key.revoked_at = timezone.now()
        key.save(update_fields=["revoked_at"])
        audit_log(actor=actor, action="api_key.revoked", obj=key, detail={"prefix": key.prefix})
    return key


def api_key_pii_read_audit(
    *, key: ApiKey, endpoint: str, fields: Mapping[int, Iterable[str]]
) -> AuditEntry:
    """One entry per API response that carried decrypted values: which key, which
    endpoint, which records and which of their fields. Never a value."""
    return audit_log(
        actor=None,
        action="pii.api_read",
        obj=key,
        detail={
            "key": key.prefix,
            "endpoint": endpoint[:300],
            "records": sorted(fields),
            "fields": {str(pk): sorted(set(names)) for pk, names in sorted(fields.items())},
        },
    )


def api_key_touch(*, key: ApiKey) -> None:
    """Record use at most once a minute: a write per API call would cost more than the call."""
    now = timezone.now()
    if key.last_used_at is None or now - key.last_used_at > dt.timedelta(minutes=1):
        ApiKey.objects.filter(pk=key.pk).update(last_used_at=now)


# --- provider accounts -------------------------------------------------------


def provider_account_get_or_create(*, merchant: Merchant, provider: str) -> ProviderAccount:
    registry.get(provider)  # refuse unknown providers early
    account, _ = ProviderAccount.objects.get_or_create(merchant=merchant, provider=provider)
    return account


def provider_account_update(
    *, account: ProviderAccount, settings_: Mapping[str, Any], enabled: bool, actor: Any = None
) -> ProviderAccount:
    """Save a merchant's provider settings; the audit entry names changed fields, never values."""
    old = account.settings or {}
    changed = sorted(k for k in set(old) | set(settings_) if old.get(k) != settings_.get(k))
    account.settings = dict(settings_)
    enabled_changed = account.enabled != enabled
    account.enabled = enabled
    account.save()
    if changed or enabled_changed:
        audit_log(
            actor=actor,
            action="provider_account.updated",
            obj=account,
            detail={"provider": account.provider, "changed_fields": changed, "enabled": enabled},
        )
    return account


def provider_account_set_state(
    *, account_id: int, updates: Mapping[str, Any], error: str | None = None
) -> None:
    """Merge runtime state (cached tokens, expiries) under a row lock so writers never clobber each other."""
    with transaction.atomic():
        account = ProviderAccount.objects.select_for_update().get(pk=account_id)
        state = dict(account.state or {})
        state.update(updates)
        account.state = state
        fields = ["state", "updated_at"]
        if error is not None:
            account.last_error = error
            fields.append("last_error")
        account.save(update_fields=fields)


# --- records ------------------------------------------------------------------


def record_get_or_create(
    *, merchant: Merchant, reference: str, provider: str = "", external_id: str = ""
) -> KYCRecord:
    defaults: dict[str, Any] = {"provider": provider}
    if external_id:
        defaults.update(external_id=external_id, external_key=lookup_hash(external_id))
    try:
        with transaction.atomic():
            record, created = KYCRecord.objects.get_or_create(
                merchant=merchant, reference=reference, defaults=defaults
            )
    except IntegrityError:  # a concurrent creator won; use its row
        record, created = KYCRecord.objects.get(merchant=merchant, reference=reference), False
    if not created and external_id and not record.external_key:
        record.external_id, record.external_key = external_id, lookup_hash(external_id)
        record.save(update_fields=["external_id", "external_key", "updated_at"])
    return record


def identity_fields_store(
    *,
    record: KYCRecord,
    provider: str,
    fields: Iterable[FieldValue],
    transfer: TransferRequest | None = None,
    status: str = "received",
) -> int:
    """Store values and peppers (encrypted); a field received again replaces the old value."""
    count = 0
    for f in fields:
        IdentityField.objects.update_or_create(
            record=record,
            provider=provider,
            key=f.key,
            defaults={
                "value": f.value,
                "pepper": f.pepper or None,
                "transfer": transfer,
                "status": status,
                "received_at": timezone.now(),
                "erased_at": None,
            },
        )
        count += 1
    if count and transfer is None:
        # Data that came with a request: transfer_apply recomputes once the request is saved.
        review.record_review_refresh(record=record)
    return count


# --- transfers ----------------------------------------------------------------


def _urls(transfer: TransferRequest) -> tuple[str, str, str]:
    base = settings.PUBLIC_URL
    return (
        f"{base}/hooks/{transfer.provider}/t/{transfer.callback_token}/",
        f"{base}/hooks/{transfer.provider}/{transfer.account.webhook_token}/",
        f"{base}/t/{transfer.page_token}/",
    )


def transfer_page_url(transfer: TransferRequest) -> str:
    # Not via _urls(): that loads the account (and decrypts its settings) per row of a list.
    return f"{settings.PUBLIC_URL}/t/{transfer.page_token}/"


@dataclass(frozen=True)
class TransferStart:
    """A start that passed every check: the provider, the merchant's enabled account and
    the subject and items as the provider accepted them. Nothing is stored yet."""

    provider: Provider
    account: ProviderAccount
    subject: str
    items: list[str]


def transfer_create(
    *,
    merchant: Merchant,
    provider: str,
    reference: str,
    subject: str = "",
    items: Iterable[str] = (),
    redirect_url: str = "",
    actor: Any = None,
    source: str = "api",
) -> TransferRequest:
    """Create a TransferRequest, commit it, then ask the provider to start it.

    The row is committed before any provider call, so a provider that is down
    leaves a failed request with the reason, never nothing.
    """
    start = _transfer_start_validate(
        merchant=merchant, provider=provider, subject=subject, items=items
    )
    transfer = _transfer_row_create(
        merchant=merchant,
        start=start,
        reference=reference,
        redirect_url=redirect_url,
        actor=actor,
        source=source,
    )
    try:
        result = _transfer_provider_start(transfer=transfer, start=start)
    except ProviderError as exc:
        return _transfer_start_refused(transfer=transfer, start=start, exc=exc, source=source)
    return _transfer_references_store(
        transfer_id=transfer.pk, start=start, result=result, actor=actor, source=source
    )


def _transfer_start_validate(
    *, merchant: Merchant, provider: str, subject: str, items: Iterable[str]
) -> TransferStart:
    """Check the merchant's input before anything is stored; raise InvalidInput."""
    try:
        adapter = registry.get(provider)
    except registry.UnknownProvider:
        raise InvalidInput(f"unknown provider {provider!r}", field="provider") from None
    if not getattr(adapter, "starts_transfers", False):
        raise InvalidInput(f"{adapter.label} does not start verifications", field="provider")
    account = ProviderAccount.objects.filter(
        merchant=merchant, provider=provider, enabled=True
    ).first()
    if account is None:
        raise InvalidInput(f"{adapter.label} is not enabled for this merchant", field="provider")
    subject, item_list = adapter.validate_start(
        subject=subject, items=list(items), settings=account.settings
    )
    return TransferStart(provider=adapter, account=account, subject=subject, items=item_list)


def _transfer_row_create(
    *,
    merchant: Merchant,
    start: TransferStart,
    reference: str,
    redirect_url: str,
    actor: Any,
    source: str,
) -> TransferRequest:
    """The request, its record and its first event, committed (with the outgoing
    verification.created message) before the provider hears of it."""
    with transaction.atomic():
        record = record_get_or_create(
            merchant=merchant,
            reference=reference,
            provider=start.provider.name,
            external_id=start.subject,
        )
        transfer = TransferRequest.objects.create(
            merchant=merchant,
            account=start.account,
            provider=start.provider.name,
            record=record,
            reference=reference,
            subject=start.subject,
            items=start.items,
            redirect_url=redirect_url,
            created_by=actor if getattr(actor, "pk", None) else None,
        )
        TransferEvent.objects.create(
            transfer=transfer, status=Status.CREATED, detail="Request created", source=source
        )
        outbox.transfer_event(transfer=transfer, old_status=None)  # verification.created
    return transfer


def _transfer_provider_start(*, transfer: TransferRequest, start: TransferStart) -> StartResult:
    """Ask the provider to start the committed request (raises ProviderError)."""
    callback_url, webhook_url, page_url = _urls(transfer)
    return start.provider.start_transfer(
        StartRequest(
            transfer_id=str(transfer.pk),
            reference=transfer.reference,
            settings=start.account.settings,
            state=start.account.state,
            callback_url=callback_url,
            webhook_url=webhook_url,
            page_url=page_url,
            subject=start.subject,
            items=tuple(start.items),
            redirect_url=transfer.redirect_url,
            now=timezone.now(),
        )
    )


def _transfer_start_refused(
    *, transfer: TransferRequest, start: TransferStart, exc: ProviderError, source: str
) -> TransferRequest:
    """The provider did not start it: the request fails with the reason; refused
    credentials also show on the account's settings page."""
    transfer_fail(transfer_id=transfer.pk, code=exc.code, detail=exc.message, source=source)
    if isinstance(exc, AuthenticationError):
        account_auth_failed(account=start.account, message=exc.message)
    transfer.refresh_from_db()
    return transfer


def _transfer_references_store(
    *, transfer_id: Any, start: TransferStart, result: StartResult, actor: Any, source: str
) -> TransferRequest:
    """Keep what the provider answered (its reference, QR, link, expiry, status) on the
    request, under its row lock, with the event and outgoing message of the change."""
    if result.state_updates:
        provider_account_set_state(account_id=start.account.pk, updates=result.state_updates)
    with transaction.atomic():
        t = TransferRequest.objects.select_for_update().get(pk=transfer_id)
        old_status = t.status
        t.provider_ref = result.provider_ref
        t.provider_data = {**t.provider_data, **result.data}
        t.provider_secrets = {**(t.provider_secrets or {}), **result.secrets}
        t.qr_payload = result.qr_payload
        t.qr_svg = render_svg(result.qr_payload) if result.qr_payload else ""
        t.deep_link = result.deep_link
        t.expires_at = result.expires_at
        if result.items is not None:
            t.items = list(result.items)
        if result.provider_status:
            t.provider_status = result.provider_status
        t.last_heard_at = timezone.now()
        new_status = result.status or Status.PENDING
        if can_move(t.status, new_status):
            t.status = new_status
        t.save()
        TransferEvent.objects.create(
            transfer=t,
            status=t.status,
            provider_status=result.provider_status,
            detail=result.detail or "Waiting for the customer",
            source=source,
        )
        outbox.transfer_event(transfer=t, old_status=old_status)
        _publish_on_commit(t)
        if t.record_id is not None:  # the customer is being asked: waiting for data
            review.record_review_refresh_by_id(record_id=t.record_id, actor=actor)
        # e.g. a poll chain for providers without callbacks
        transaction.on_commit(partial(start.provider.transfer_started, transfer_id=str(t.pk)))
    return t


def account_auth_failed(*, account: ProviderAccount, message: str) -> None:
    """The provider refused the merchant's credentials: say so on the settings page.
    A flow that caches tokens drops them in its own `account_auth_failed` hook."""
    provider = registry.find(account.provider)
    if provider is None or not provider.account_auth_failed(
        account_id=account.pk, message=message
    ):
        provider_account_set_state(account_id=account.pk, updates={}, error=message)


_OPEN_STATUSES = frozenset({Status.CREATED, Status.PENDING, Status.ACCEPTED, Status.PROCESSING})


def transfer_apply(
    *,
    transfer_id: Any,
    update: StatusUpdate,
    source: str,
    inbound: InboundEvent | None = None,
    actor: Any = None,
    locked: TransferRequest | None = None,
) -> bool:
    """Apply what a provider said, inside one transaction. Returns True if anything changed.

    The provider's own status only moves forward by its rank, and the portal
    status only along the status machine: a late or repeated callback changes
    nothing but may still add its tx hash to the timeline.

    `locked`: the row, already locked (select_for_update) by the caller in the current
    transaction (kyc.intake): applied without reading it again.
    """
    now = timezone.now()
    with transaction.atomic(savepoint=locked is None):
        t = locked or TransferRequest.objects.select_for_update().get(pk=transfer_id)
        old_status = t.status
        changed = False
        notes: list[str] = []
        if update.provider_status and update.provider_rank >= t.provider_rank:
            if update.provider_status != t.provider_status:
                t.provider_status, t.provider_rank = update.provider_status, update.provider_rank
                changed = True
        elif update.provider_status:
            notes.append(f"{update.provider_status} arrived after {t.provider_status}; status kept")
        if update.status and update.status != t.status:
            if can_move(t.status, update.status):
                t.status = update.status
                changed = True
                if update.status in TERMINAL:
                    t.completed_at = now
            else:
                notes.append(f"cannot move from {t.status} to {update.status}; kept {t.status}")
        # A request that had already ended keeps the reason it ended with: a late or
        # repeated failure must not rewrite what the customer and the merchant were told.
        was_open = old_status not in TERMINAL
        if (
            was_open
            and update.failure_code
            and t.status in (Status.FAILED, Status.DECLINED, Status.EXPIRED, Status.REJECTED)
        ):
            t.failure_code = update.failure_code
        if was_open and update.detail and (changed or update.failure_code):
            t.status_detail = update.detail
        stored = 0
        if update.fields and t.record is not None:
            stored = identity_fields_store(
                record=t.record, provider=t.provider, fields=update.fields, transfer=t
            )
            changed = True
        t.last_heard_at = now
        t.save()
        # Whether the timeline already has this provider status: asked only when nothing changed.
        if (
            changed
            or stored
            or (
                update.provider_status
                and not t.events.filter(
                    provider_status=update.provider_status, tx_hash=update.tx_hash
                ).exists()
            )
        ):
            TransferEvent.objects.create(
                transfer=t,
                kind="data" if stored else ("error" if update.failure_code else "status"),
                status=t.status,
                provider_status=update.provider_status,
                tx_hash=update.tx_hash,
                detail="; ".join(
                    filter(
                        None, [update.detail, f"{stored} field(s) stored" if stored else "", *notes]
                    )
                ),
                source=source,
                inbound=inbound,
            )
        outbox.transfer_event(transfer=t, old_status=old_status)  # in this transaction
        _publish_on_commit(t)
        # kyc.review's outcome is the same for every open status: a move between two
        # of them (pending -> accepted -> processing) needs no refresh of the record.
        between_open = old_status in _OPEN_STATUSES and t.status in _OPEN_STATUSES
        if t.record_id is not None and ((t.status != old_status and not between_open) or stored):
            # The record's review status follows (kyc.review: one rule, audited on change).
            review.record_review_refresh_by_id(record_id=t.record_id, actor=actor)
    return changed


def transfer_fail(
    *, transfer_id: Any, code: str, detail: str, source: str, status: str = Status.FAILED
) -> bool:
    return transfer_apply(
        transfer_id=transfer_id,
        update=StatusUpdate(status=status, detail=detail, failure_code=code),
        source=source,
    )


def transfer_expire_overdue(*, now: dt.datetime | None = None) -> int:
    now = now or timezone.now()
    ids = list(
        TransferRequest.objects.filter(expires_at__lt=now)
        .exclude(status__in=TERMINAL)
        .exclude(status=Status.REVIEW)
        .values_list("pk", flat=True)[:500]
    )
    for pk in ids:
        transfer_fail(
            transfer_id=pk,
            code="expired",
            detail="The request expired before the customer completed it.",
            source="system",
            status=Status.EXPIRED,
        )
    return len(ids)


def transfer_review(*, transfer: TransferRequest, approve: bool, reason: str, actor: Any) -> bool:
    """Compliance decision on a request waiting for review."""
    changed = transfer_apply(
        transfer_id=transfer.pk,
        update=StatusUpdate(
            status=Status.COMPLETED if approve else Status.REJECTED,
            detail=reason or ("Approved in review" if approve else "Rejected in review"),
            failure_code="" if approve else "rejected_in_review",
        ),
        source="staff",
        actor=actor,
    )
    if changed:
        audit_log(
            actor=actor,
            action="transfer.approved" if approve else "transfer.rejected",
            obj=transfer,
            detail={"reason": reason},
        )
    return changed


class TransferNotCancellable(Exception):
    """The request already ended another way (completed, failed, ...): nothing to cancel."""

    def __init__(self, status: str) -> None:
        super().__init__(f"This request is already {status} and can no longer be cancelled.")
        self.status = status


def transfer_cancel(*, transfer: TransferRequest, actor: Any) -> bool:
    """Cancel a request that has not ended: status cancelled (verification.canceled goes
    out), audited, and the provider told after commit where it has a call for it.

    Idempotent: a request already cancelled returns False and changes nothing. Any other
    terminal status raises TransferNotCancellable. `actor` is a user or an ApiKey.
    """
    with transaction.atomic():
        t = TransferRequest.objects.select_for_update().get(pk=transfer.pk)
        if t.status == Status.CANCELLED:
            return False
        if t.status in TERMINAL:
            raise TransferNotCancellable(t.status)
        by_key, old_status = isinstance(actor, ApiKey), t.status
        transfer_apply(
            transfer_id=t.pk,
            update=StatusUpdate(status=Status.CANCELLED, detail="Cancelled by the merchant"),
            source="api" if by_key else "staff",
        )
        audit_log(
            actor=None if by_key else actor,
            action="transfer.cancelled",
            obj=t,
            detail={"from_status": old_status, **({"key": actor.prefix} if by_key else {})},
        )
        provider = registry.find(t.provider)
        if provider is not None:
            pk, hook = str(t.pk), provider.transfer_cancel
            # robust: a provider outage never undoes the cancel (a lambda, not a partial:
            # Django names a failed robust callback by its __qualname__).
            transaction.on_commit(lambda: hook(transfer_id=pk), robust=True)
    transfer.refresh_from_db()
    return True


def _publish_on_commit(transfer: TransferRequest) -> None:
    """After commit, refresh the cached state the customer page polls (no DB per poll)."""
    token = transfer.page_token
    # A row locked with its merchant (kyc.intake) is what was committed: no second read.
    row = transfer if TransferRequest.merchant.is_cached(transfer) else None
    # robust: a cache outage after commit must not turn a stored delivery into a 500.
    transaction.on_commit(
        lambda: selectors.transfer_page_state(page_token=token, refresh=True, transfer=row),
        robust=True,
    )


# --- inbox ----------------------------------------------------------------------


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
                    return InboundEvent.objects.create(dedupe_key=dedupe_key, **fields), None
            # Autocommit: one round trip, committed by itself; a duplicate key just fails.
            return InboundEvent.objects.create(dedupe_key=dedupe_key, **fields), None
        except IntegrityError:
            original = InboundEvent.objects.get(dedupe_key=dedupe_key)
            fields.update(state=InboundEvent.State.DUPLICATE, error=f"duplicate of #{original.pk}")
            return InboundEvent.objects.create(duplicate_of=original, **fields), original
    return InboundEvent.objects.create(**fields), None


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


# --- certificate promises --------------------------------------------------------


def cert_promise_retry(*, promise_ids: list[int], actor: Any = None) -> int:
    """Staff re-arm failed promises; the provider flow's reconcile() pulls them when due.
    Pulled and gone promises stay as they are (pulling again could only 404)."""
    count = CertPromise.objects.filter(pk__in=promise_ids, state=CertPromise.State.FAILED).update(
        state=CertPromise.State.PENDING, attempts=0, last_error="", next_attempt_at=timezone.now()
    )
    if count:
        audit_log(
            actor=actor, action="cert_promise.retry", detail={"ids": promise_ids, "count": count}
        )
    return count


# --- PII access and erasure --------------------------------------------------


def pii_reveal(*, field: IdentityField, actor: Any) -> str | None:
    """Return a stored value for a permitted user and leave an audit entry."""
    audit_log(
        actor=actor,
        action="pii.revealed",
        obj=field,
        merchant=field.record.merchant,
        detail={"record": field.record.reference, "field": field.key},
    )
    return field.value


def record_erase(
    *, record: KYCRecord, actor: Any = None, reason: str = "requested"
) -> dict[str, int]:
    """Erase a customer's PII now. Rows remain and say what was erased and when."""
    now = timezone.now()
    with transaction.atomic():
        counts = {
            "fields": IdentityField.objects.filter(record=record, erased_at__isnull=True).update(
                value=None, pepper=None, erased_at=now
            ),
            "certificates": Certificate.objects.filter(
                record=record, erased_at__isnull=True
            ).update(raw=None, recipient_name="", erased_at=now),
            "deliveries": InboundEvent.objects.filter(
                transfer__record=record, erased_at__isnull=True
            ).update(body=None, erased_at=now),
            "requests": _transfers_erase(TransferRequest.objects.filter(record=record), now),
            "flow_rows": _linked_rows_erase(record=record, now=now),
        }
        record.secrets = {}
        record.external_id = ""
        record.external_key = ""  # a keyed hash of the customer's id is still a way to find them
        record.erased_at = now
        record.save(
            update_fields=["secrets", "external_id", "external_key", "erased_at", "updated_at"]
        )
        audit_log(
            actor=actor, action="record.erased", obj=record, detail={"reason": reason, **counts}
        )
        # Nothing left to review or wait for: out of the queue (a decision stays).
        review.record_review_refresh(record=record, actor=actor, reason="erased")
        # Providers that keep the customer's data too are asked to erase it, after commit.
        hooks = [p.record_erased for p in registry.providers()]
        transaction.on_commit(partial(_record_erased_hooks, hooks, record.pk))
    return counts


def _record_erased_hooks(hooks: list[Any], record_id: int) -> None:
    for fn in hooks:
        fn(record_id=record_id)


def _transfers_erase(qs: Any, now: dt.datetime) -> int:
    """Blank what identifies the customer on requests; provider_data records when."""
    rows = list(qs.exclude(provider_data__has_key="pii_erased_at").only("pk", "provider_data"))
    for t in rows:
        TransferRequest.objects.filter(pk=t.pk).update(
            subject="",
            qr_payload="",
            qr_svg="",  # the QR encodes the payload
            deep_link="",
            provider_secrets={},
            provider_data={**(t.provider_data or {}), "pii_erased_at": now.isoformat()},
        )
    return len(rows)


_CORE_ERASED = ("IdentityField", "Certificate", "InboundEvent", "TransferRequest", "KYCRecord")


def _blank(field: Any) -> Any:
    from kyc.crypto import EncryptedBytesField, EncryptedJSONField

    if field.null:
        return None
    if isinstance(field, EncryptedJSONField):
        return {}
    if isinstance(field, EncryptedBytesField):
        return b""
    return ""


def _linked_rows_erase(*, record: KYCRecord, now: dt.datetime) -> int:
    """Blank encrypted fields of any other model tied to this customer (provider flow
    apps' rows included, whenever they are added) through a `record` or `transfer` key."""
    from django.apps import apps

    from kyc.crypto import encrypted_fields

    total = 0
    for model in apps.get_models():
        fields = encrypted_fields(model)
        if not fields or (
            model._meta.app_label == "kyc" and model.__name__ in (*_CORE_ERASED, "ProviderAccount")
        ):
            continue
        lookups = []
        for f in model._meta.concrete_fields:
            if f.is_relation and f.related_model is KYCRecord:
                lookups.append({f.name: record})
            elif f.is_relation and f.related_model is TransferRequest:
                lookups.append({f"{f.name}__record": record})
        names = {f.name for f in model._meta.concrete_fields}
        for lookup in lookups:
            qs = model._default_manager.filter(**lookup)
            values = {f.name: _blank(f) for f in fields}
            if "erased_at" in names:
                qs = qs.filter(erased_at__isnull=True)
                values["erased_at"] = now
            total += qs.update(**values)
    return total


def idempotent_requests_purge(*, now: dt.datetime | None = None) -> int:
    """Forget stored API answers older than 24 h (the Idempotency-Key replay window)."""
    cutoff = (now or timezone.now()) - IDEMPOTENCY_WINDOW
    return IdempotentRequest.objects.filter(created_at__lt=cutoff).delete()[0]


def retention_erase_expired(*, now: dt.datetime | None = None) -> int:
    """Erase PII older than each merchant's retention period (the daily task).

    Customers untouched for the period are erased whole; on customers still
    active, values, certificates and deliveries older than the period go too.
    Deliveries no merchant could be found for are kept INBOX_ORPHAN_RETENTION_DAYS.
    """
    now = now or timezone.now()
    erased = 0
    for merchant in Merchant.objects.all():
        cutoff = now - dt.timedelta(days=merchant.retention_days)
        for record in KYCRecord.objects.filter(
            merchant=merchant, erased_at__isnull=True, updated_at__lt=cutoff
        ).iterator():
            record_erase(record=record, reason="retention period passed")
            erased += 1
        IdentityField.objects.filter(
            record__merchant=merchant, received_at__lt=cutoff, erased_at__isnull=True
        ).update(value=None, pepper=None, erased_at=now)
        Certificate.objects.filter(
            merchant=merchant, created_at__lt=cutoff, erased_at__isnull=True
        ).update(raw=None, recipient_name="", erased_at=now)
        _transfers_erase(
            TransferRequest.objects.filter(merchant=merchant, created_at__lt=cutoff), now
        )
        InboundEvent.objects.filter(
            merchant=merchant, received_at__lt=cutoff, erased_at__isnull=True
        ).update(body=None, erased_at=now)
    orphan_cutoff = now - dt.timedelta(days=getattr(settings, "INBOX_ORPHAN_RETENTION_DAYS", 30))
    InboundEvent.objects.filter(
        merchant__isnull=True, received_at__lt=orphan_cutoff, erased_at__isnull=True
    ).update(body=None, erased_at=now)
    return erased
