"""Certificate-promise pulls: leased, retried with backoff, and reconciled every minute."""

from __future__ import annotations

import datetime as dt
from dataclasses import dataclass

from django.db import transaction
from django.db.models import Q
from django.utils import timezone

from kyc import outbox
from kyc.errors import NotFoundError, ProviderError, RetryableError
from kyc.models import Certificate, CertPromise, KYCRecord, ProviderAccount, ReviewState
from providers.blockpass import client
from providers.blockpass.schemas import PulledCertificate
from providers.blockpass.services.common import PROVIDER
from providers.blockpass.services.references import erased_references_forget
from providers.blockpass.services.review_status import record_review_recompute
from providers.blockpass.services.tokens import call_with_token, record_token, record_token_store

# A claimed promise is leased this long: a worker that dies mid-pull frees it for reconcile().
PULL_LEASE = dt.timedelta(minutes=2)
PULL_MAX_ATTEMPTS = 12
PULL_BACKOFF_CAP = 3600


@dataclass
class PullOutcome:
    state: str
    retry_in: int | None = None
    detail: str = ""


def cert_promise_claim(*, promise_pk: int, now: dt.datetime) -> CertPromise | None:
    """Take a lease on a due, pending promise. skip_locked: a second worker gets nothing."""
    with transaction.atomic():
        p = (
            CertPromise.objects.select_for_update(skip_locked=True)
            .filter(pk=promise_pk, state=CertPromise.State.PENDING)
            .filter(Q(next_attempt_at__lte=now + dt.timedelta(seconds=1)))
            .first()
        )
        if p is None:
            return None
        p.attempts += 1
        p.next_attempt_at = now + PULL_LEASE
        p.save(update_fields=["attempts", "next_attempt_at", "updated_at"])
        return p


def _finish(promise: CertPromise, state: str, message: str) -> PullOutcome:
    CertPromise.objects.filter(pk=promise.pk, state=CertPromise.State.PENDING).update(
        state=state, last_error=message[:2000], next_attempt_at=None, updated_at=timezone.now()
    )
    return PullOutcome(state=state, detail=message)


def cert_promise_store(*, promise: CertPromise, pulled: PulledCertificate) -> Certificate:
    """Its own transaction, first thing after the pull: Blockpass has deleted the raw data."""
    with transaction.atomic():
        p = CertPromise.objects.select_for_update().get(pk=promise.pk)
        cert, created = Certificate.objects.get_or_create(
            merchant_id=p.merchant_id,
            provider=PROVIDER,
            external_id=p.promise_id,
            defaults={
                "record_id": p.record_id,
                "promise": p,
                "slug": pulled.slug[:200],
                "raw": pulled.raw,
                "status": ReviewState.RECEIVED,
            },
        )
        if created:
            outbox.certificate_received_event(cert=cert)
        p.state = CertPromise.State.PULLED
        p.last_error = ""
        p.next_attempt_at = None
        p.save(update_fields=["state", "last_error", "next_attempt_at", "updated_at"])
    return cert


def cert_promise_pull(*, promise_pk: int, now: dt.datetime | None = None) -> PullOutcome:
    """Pull one promise at most once. Retryable failures come back with `retry_in` seconds."""
    now = now or timezone.now()
    promise = cert_promise_claim(promise_pk=promise_pk, now=now)
    if promise is None:
        return PullOutcome(state="skipped")
    record = KYCRecord.objects.filter(pk=promise.record_id).first() if promise.record_id else None
    account = ProviderAccount.objects.filter(
        merchant_id=promise.merchant_id, provider=PROVIDER
    ).first()
    token = record_token(record) if record else None
    if record is None or account is None or token is None:
        return _finish(
            promise,
            CertPromise.State.FAILED,
            "No Blockpass token for this customer (never registered, or erased); "
            "the certificate cannot be pulled.",
        )
    api_url = (account.settings or {}).get("api_url", "")
    record_pk = record.pk
    try:
        pulled = call_with_token(
            account=account,
            token=token,
            fn=lambda access: client.promise_pull(
                api_url=api_url, access_token=access, promise_id=promise.promise_id
            ),
            persist=lambda t: record_token_store(record_id=record_pk, token=t),
            now=now,
        )
    except NotFoundError:
        return _finish(
            promise,
            CertPromise.State.GONE,
            "Blockpass answered 404: the promise was already pulled or has expired, and "
            "Blockpass no longer holds the certificate. Ask the customer to share it again.",
        )
    except RetryableError as exc:
        return _retry_later(promise, exc, now=now)
    except ProviderError as exc:
        return _finish(
            promise, CertPromise.State.FAILED, f"Blockpass refused the pull ({exc.code}): {exc}"
        )
    cert_promise_store(promise=promise, pulled=pulled)
    record_review_recompute(record=record)
    return PullOutcome(state=CertPromise.State.PULLED)


def _retry_later(promise: CertPromise, exc: ProviderError, *, now: dt.datetime) -> PullOutcome:
    if promise.attempts >= PULL_MAX_ATTEMPTS:
        return _finish(
            promise,
            CertPromise.State.FAILED,
            f"Gave up after {promise.attempts} attempts; last error: {exc}",
        )
    delay = min(2**promise.attempts, PULL_BACKOFF_CAP)
    CertPromise.objects.filter(pk=promise.pk, state=CertPromise.State.PENDING).update(
        last_error=f"attempt {promise.attempts}: {exc}"[:2000],
        next_attempt_at=now + dt.timedelta(seconds=delay),
        updated_at=timezone.now(),
    )
    return PullOutcome(state=CertPromise.State.PENDING, retry_in=delay, detail=str(exc))


def reconcile(*, now: dt.datetime | None = None) -> int:
    """Every minute: pulls whose retry time (or a dead worker's lease) has come; erased
    records' identity-derived references."""
    from providers.blockpass import services  # looked up when called: see __init__

    now = now or timezone.now()
    erased_references_forget()
    ids = list(
        CertPromise.objects.filter(
            provider=PROVIDER, state=CertPromise.State.PENDING, next_attempt_at__lte=now
        ).values_list("pk", flat=True)[:500]
    )
    for pk in ids:
        services._enqueue_pull(pk)
    return len(ids)
