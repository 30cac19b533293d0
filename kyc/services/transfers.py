"""Verification requests: start one (committed before any provider call), apply what
a provider said (the status machine, in one transaction), expire, review and cancel."""

from __future__ import annotations

import datetime as dt
from collections.abc import Iterable
from dataclasses import dataclass
from functools import partial
from typing import Any

from django.conf import settings
from django.db import transaction
from django.utils import timezone

from kyc import outbox, prepared, registry, review, selectors
from kyc.contract import Provider, StartRequest, StartResult, StatusUpdate
from kyc.errors import AuthenticationError, InvalidInput, ProviderError
from kyc.models import (
    ApiKey,
    InboundEvent,
    Merchant,
    ProviderAccount,
    TransferEvent,
    TransferRequest,
)
from kyc.qr import render_svg
from kyc.services.accounts import account_auth_failed, provider_account_set_state
from kyc.services.audit import audit_log
from kyc.services.records import identity_fields_store, record_get_or_create
from kyc.status import TERMINAL, Status, can_move


def _urls(transfer: TransferRequest) -> tuple[str, str, str]:
    base = settings.PUBLIC_URL
    return (
        f"{base}/hooks/{transfer.provider}/t/{transfer.callback_token}/",
        f"{base}/hooks/{transfer.provider}/{transfer.account.webhook_token}/",
        f"{base}/t/{transfer.page_token}/",
    )


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


# What transfer_apply writes. expires_at: a status callback extends a live request's
# expiry on the locked row before applying (providers.corepass.services.apply_status).
_APPLY_WRITES = (
    "provider_status",
    "provider_rank",
    "status",
    "completed_at",
    "failure_code",
    "status_detail",
    "last_heard_at",
    "expires_at",
    "updated_at",
)

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
        # Only what the status machine writes (a caller's other changes to `locked` are
        # its own to save): no re-encrypting the request's secrets, no rewriting its QR.
        prepared.update(t, _APPLY_WRITES)
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
            prepared.insert(
                TransferEvent(
                    transfer=t,
                    kind="data" if stored else ("error" if update.failure_code else "status"),
                    status=t.status,
                    provider_status=update.provider_status,
                    tx_hash=update.tx_hash,
                    detail="; ".join(
                        filter(
                            None,
                            [update.detail, f"{stored} field(s) stored" if stored else "", *notes],
                        )
                    ),
                    source=source,
                    inbound=inbound,
                )
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
