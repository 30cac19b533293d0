"""Blockpass flow: webhook deliveries, certificate-promise pulls, the merchant endpoints the
Blockpass app calls, record tokens, and the review status the app is told.

Writes follow `<entity>_<action>(*, ...)`; they build on kyc.services.
"""

from __future__ import annotations

import base64
import datetime as dt
import hashlib
import json
import logging
import re
from collections.abc import Callable, Mapping
from dataclasses import dataclass, field
from secrets import token_hex
from typing import Any, TypeVar

from django.core import signing
from django.db import IntegrityError, transaction
from django.db.models import Q, TextField
from django.db.models.functions import Cast
from django.utils import timezone

from kyc import outbox, review
from kyc import services as kyc_services
from kyc.contract import Delivery, FieldValue, Verdict
from kyc.crypto import lookup_hash
from kyc.models import (
    Certificate,
    CertPromise,
    IdentityField,
    InboundEvent,
    KYCRecord,
    ProviderAccount,
    ReviewState,
    TransferRequest,
    WebhookMessage,
)
from providers.blockpass import client, signature
from providers.blockpass.provider import BlockpassProvider
from providers.blockpass.schemas import (
    ACTION_CERT_PROMISE_RESOLVED,
    ACTION_SERVICE_INFO_UPDATED,
    Profile,
    PulledCertificate,
    Token,
    WebhookEvent,
)
from providers.errors import (
    AuthenticationError,
    InvalidInput,
    NotFoundError,
    ProviderError,
    RetryableError,
    SignatureError,
)
from providers.renewal import call_with_renewal

log = logging.getLogger(__name__)

PROVIDER = "blockpass"
SECRETS_KEY = "blockpass_token"  # where a record's Blockpass token sits in KYCRecord.secrets
SESSION_SALT = "kyc.flows.blockpass.upload-session"
SESSION_MAX_AGE = 3600

# A claimed promise is leased this long: a worker that dies mid-pull frees it for reconcile().
PULL_LEASE = dt.timedelta(minutes=2)
PULL_MAX_ATTEMPTS = 12
PULL_BACKOFF_CAP = 3600

T = TypeVar("T")


# --- accounts -------------------------------------------------------------------


def account_for_webhook_token(token: str) -> ProviderAccount | None:
    # `state` (encrypted, cached tokens) is not needed to receive a delivery: deferring it
    # saves a decryption on the hottest provider-facing path.
    return (
        ProviderAccount.objects.select_related("merchant")
        .defer("state")
        .filter(provider=PROVIDER, webhook_token=token)
        .first()
    )


# --- tokens -------------------------------------------------------------------------


def record_token(record: KYCRecord) -> Token | None:
    data = (record.secrets or {}).get(SECRETS_KEY)
    return Token.from_dict(data) if data and data.get("access_token") else None


def record_token_store(*, record_id: int, token: Token) -> None:
    """Persist a (new or renewed) token under a row lock: Blockpass may invalidate the old one."""
    with transaction.atomic():
        record = KYCRecord.objects.select_for_update().get(pk=record_id)
        secrets = dict(record.secrets or {})
        secrets[SECRETS_KEY] = token.to_dict()
        record.secrets = secrets
        record.save(update_fields=["secrets", "updated_at"])


def _renew(*, account: ProviderAccount, token: Token, now: dt.datetime) -> Token:
    if not token.refresh_token:
        raise AuthenticationError("no refresh token stored for this record", code="token_expired")
    return client.token_renew(
        api_url=account.settings.get("api_url", ""),
        client_secret=account.settings.get("client_secret", ""),
        token=token,
        now=now,
    )


def call_with_token(
    *,
    account: ProviderAccount,
    token: Token,
    fn: Callable[[str], T],
    persist: Callable[[Token], None],
    now: dt.datetime,
) -> T:
    """Call Blockpass with a record token: renew first when it has expired, and on a 401
    renew once and retry once. Every renewed token is handed to `persist` right away."""
    if token.expired(now=now):
        token = _renew(account=account, token=token, now=now)
        persist(token)

    def renew(refused: Token) -> Token:
        fresh = _renew(account=account, token=refused, now=now)
        persist(fresh)
        return fresh

    return call_with_renewal(lambda t: fn(t.access_token), current=token, renew=renew)


# --- review status -------------------------------------------------------------------


def _items(record: KYCRecord) -> tuple[list[IdentityField], list[Certificate]]:
    fields = list(IdentityField.objects.filter(record=record, provider=PROVIDER, erased_at=None))
    certs = list(Certificate.objects.filter(record=record, provider=PROVIDER, erased_at=None))
    return fields, certs


def review_status_for(record: KYCRecord) -> str:
    """What the record's status should be: kyc.review's one rule (every provider's)."""
    return review.record_review_compute(record)


def record_review_recompute(*, record: KYCRecord) -> str:
    """Store the status (audited on change; record.review_decided on a decision)."""
    return review.record_review_refresh(record=record)


def record_review_recompute_by_id(*, record_id: int) -> str | None:
    return review.record_review_refresh_by_id(record_id=record_id) or None


# Portal review status -> the four values the Blockpass app knows.
_WIRE_STATUS: dict[str, str] = {
    KYCRecord.Review.NOT_FOUND: "waiting",
    KYCRecord.Review.WAITING: "waiting",
    KYCRecord.Review.IN_REVIEW: "inreview",
    KYCRecord.Review.APPROVED: "approved",
    # The app has no "rejected" record status; the per-item statuses and comments say why.
    KYCRecord.Review.REJECTED: "inreview",
    # Asked to resubmit: the app waits for the customer (items say which, and why).
    KYCRecord.Review.RESUBMIT: "waiting",
}


def status_payload(*, account: ProviderAccount, record: KYCRecord | None) -> dict[str, Any]:
    """The merchant `/status` answer (Server SDK queryStatusFlow / queryKycStatus)."""
    req = BlockpassProvider.requirements(account.settings or {})
    allow_cp = bool((account.settings or {}).get("allow_cert_promise"))
    if record is None:
        return {
            "status": "notFound",
            "allowCertPromise": allow_cp,
            "identities": [{"slug": s, "status": ""} for s in req["requiredFields"]],
            "certificates": [{"slug": s, "status": ""} for s in req["certs"]],
        }
    fields, certs = _items(record)
    by_key = {f.key: f for f in fields}
    identities = [{"slug": f.key, "status": f.status, "comment": f.comment} for f in fields]
    identities += [
        {"slug": s, "status": ReviewState.MISSING, "comment": ""}
        for s in req["requiredFields"]
        if s not in by_key
    ]
    cert_slugs = {c.slug for c in certs}
    waiting_promise = CertPromise.objects.filter(
        record=record, provider=PROVIDER, state=CertPromise.State.PENDING
    ).exists()
    certificates = [{"slug": c.slug, "status": c.status} for c in certs]
    certificates += [
        # A pending promise will bring it: not "missing", which would ask for a re-upload.
        {"slug": s, "status": "" if waiting_promise else ReviewState.MISSING}
        for s in req["certs"]
        if s not in cert_slugs
    ]
    return {
        "status": _WIRE_STATUS.get(record.review_status, "inreview"),
        "allowCertPromise": allow_cp,
        "message": record.review_comment or "",
        "createdDate": record.created_at.isoformat(),
        "identities": identities,
        "certificates": certificates,
        "allowResubmit": any(f.allow_resubmit for f in fields)
        or any(c.allow_resubmit for c in certs),
    }


# --- merchant endpoints -------------------------------------------------------------


@dataclass
class Handshake:
    token: Token
    profile: Profile


def _handshake(
    *, account: ProviderAccount, code: str, session_code: str | None, now: dt.datetime
) -> Handshake:
    if not code:
        raise InvalidInput("Missing code", field="code")
    s = account.settings or {}
    token = client.token_generate(
        api_url=s.get("api_url", ""),
        client_id=s.get("client_id", ""),
        client_secret=s.get("client_secret", ""),
        code=code,
        session_code=session_code,
        now=now,
    )
    holder: dict[str, Token] = {"token": token}

    def keep(t: Token) -> None:  # persisted with the record once we know which one it is
        holder["token"] = t

    profile = call_with_token(
        account=account,
        token=token,
        fn=lambda access: client.user(api_url=s.get("api_url", ""), access_token=access),
        persist=keep,
        now=now,
    )
    return Handshake(token=holder["token"], profile=profile)


def record_for_blockpass_id(*, account: ProviderAccount, blockpass_id: str) -> KYCRecord | None:
    """The record created for this Blockpass identity. Only Blockpass records count: a record of
    another provider that carries this id was bound by a refId before that was refused (issue
    13), and is never handed to the Blockpass app again."""
    return (
        KYCRecord.objects.filter(
            merchant=account.merchant,
            provider=PROVIDER,
            external_key=lookup_hash(blockpass_id),
            erased_at=None,
        )
        .order_by("pk")
        .first()
    )


# References the portal gives Blockpass records itself; a refId never names one.
RESERVED_REFERENCE_PREFIX = "blockpass-"
# The portal's own reference of a record without a (merchant-signed) refId: random, so it
# says nothing about the customer. Before issue 15 it was `blockpass-<Blockpass ID>[-<hex>]`,
# the ID the record keeps encrypted, in plaintext; erasure replaces such references.
OPAQUE_REFERENCE_PREFIX = f"{RESERVED_REFERENCE_PREFIX}c-"
_OPAQUE_REFERENCE = re.compile(rf"{re.escape(OPAQUE_REFERENCE_PREFIX)}[0-9a-f]{{20}}")


def opaque_reference() -> str:
    return f"{OPAQUE_REFERENCE_PREFIX}{token_hex(10)}"


def reference_names_identity(reference: str) -> bool:
    """True for a portal-given reference derived from the customer's Blockpass ID."""
    return reference.startswith(RESERVED_REFERENCE_PREFIX) and not _OPAQUE_REFERENCE.fullmatch(
        reference
    )


def reference_from_ref_id(*, account: ProviderAccount, ref_id: str) -> str | None:
    """The merchant reference a refId vouches for, or None.

    The app passes `refId` from the merchant's page, so through the customer's hands: an
    unsigned one could claim another customer's reference (today's or a future one). Only a
    merchant-signed refId (signature.sign_ref with the account's client secret) names the
    reference of a *new* record; it never selects an existing one.
    """
    ref_id = (ref_id or "").strip()
    if not ref_id:
        return None
    secret = str((account.settings or {}).get("client_secret") or "")
    reference = signature.verify_ref(ref_id, [secret])
    if reference is None:
        # The value is the merchant's customer id: not logged.
        log.info("blockpass: unsigned or wrongly signed refId ignored (account %s)", account.pk)
        return None
    reference = reference.strip()
    if not reference or len(reference) > 200 or reference.startswith(RESERVED_REFERENCE_PREFIX):
        return None
    return reference


def _record_create_bound(
    *, account: ProviderAccount, reference: str, bpid: str
) -> KYCRecord | None:
    """A new record bound to this Blockpass identity from its creation; None if `reference` is
    taken (by anyone: the taken record is never touched)."""
    try:
        with transaction.atomic():
            return KYCRecord.objects.create(
                merchant=account.merchant,
                reference=reference,
                provider=PROVIDER,
                external_id=bpid,
                external_key=lookup_hash(bpid),
            )
    except IntegrityError:
        return None


def record_register(
    *, account: ProviderAccount, blockpass_id: str, reference: str | None
) -> tuple[KYCRecord, bool]:
    """The record of this Blockpass identity: the one created for it, else a new one.

    An existing record is selected by the Blockpass identity only, never by a reference: a
    reference that is taken (another customer, another provider, an erased record) gives this
    customer a fresh, separate record, so nothing of the other one can be read or written.
    """
    record = record_for_blockpass_id(account=account, blockpass_id=blockpass_id)
    if record is not None:
        return record, False
    candidates = [reference] if reference else []
    candidates += [opaque_reference(), opaque_reference()]
    for candidate in candidates:
        record = _record_create_bound(account=account, reference=candidate, bpid=blockpass_id)
        if record is not None:
            return record, True
        # Taken, maybe by a concurrent register of this very identity: that one is ours.
        record = record_for_blockpass_id(account=account, blockpass_id=blockpass_id)
        if record is not None:
            return record, False
    raise InvalidInput("could not create a record for this customer; try again", field="refId")


def _record_register(
    *, account: ProviderAccount, hs: Handshake, ref_id: str
) -> tuple[KYCRecord, bool]:
    record, created = record_register(
        account=account,
        blockpass_id=hs.profile.blockpass_id,
        reference=reference_from_ref_id(account=account, ref_id=ref_id),
    )
    record_token_store(record_id=record.pk, token=hs.token)
    record.refresh_from_db()
    if record.review_status == KYCRecord.Review.NOT_FOUND:
        record_review_recompute(record=record)
    return record, created


def _session_token(*, account: ProviderAccount, record: KYCRecord, **extra: Any) -> str:
    """The `accessToken` the app sends back with /upload. Unlike the SDK (a JWT that carries
    the Blockpass token itself), it holds only ids: the token stays encrypted in the record."""
    return signing.dumps({"a": account.pk, "r": record.pk, **extra}, salt=SESSION_SALT)


def _register_answer(
    *, account: ProviderAccount, record: KYCRecord, origin: str, session_code: str = ""
) -> dict[str, Any]:
    has_data = IdentityField.objects.filter(record=record, provider=PROVIDER).exists()
    answer: dict[str, Any] = {
        "accessToken": _session_token(account=account, record=record, f=origin, s=session_code)
    }
    if has_data:
        answer.update(nextAction="none", message="welcome back")
    else:
        answer.update(nextAction="upload", **BlockpassProvider.requirements(account.settings or {}))
    return answer


def merchant_register(
    *, account: ProviderAccount, code: str, ref_id: str = "", now: dt.datetime | None = None
) -> dict[str, Any]:
    hs = _handshake(account=account, code=code, session_code=None, now=now or timezone.now())
    record, _ = _record_register(account=account, hs=hs, ref_id=ref_id)
    return _register_answer(account=account, record=record, origin="register")


def merchant_login(
    *,
    account: ProviderAccount,
    code: str,
    session_code: str,
    ref_id: str = "",
    now: dt.datetime | None = None,
) -> dict[str, Any]:
    if not session_code:
        raise InvalidInput("Missing code or sessionCode", field="sessionCode")
    hs = _handshake(
        account=account, code=code, session_code=session_code, now=now or timezone.now()
    )
    record, _ = _record_register(account=account, hs=hs, ref_id=ref_id)
    return _register_answer(
        account=account, record=record, origin="login", session_code=session_code
    )


def merchant_status(
    *,
    account: ProviderAccount,
    code: str,
    session_code: str = "",
    now: dt.datetime | None = None,
) -> dict[str, Any]:
    hs = _handshake(
        account=account, code=code, session_code=session_code or None, now=now or timezone.now()
    )
    record = record_for_blockpass_id(account=account, blockpass_id=hs.profile.blockpass_id)
    if record is not None:
        record_token_store(record_id=record.pk, token=hs.token)  # the freshest token wins
    return status_payload(account=account, record=record)


def merchant_resubmit(
    *,
    account: ProviderAccount,
    code: str,
    field_list: list[str],
    cert_list: list[str],
    now: dt.datetime | None = None,
) -> dict[str, Any]:
    req = BlockpassProvider.requirements(account.settings or {})
    known_fields = set(req["requiredFields"]) | set(req["optionalFields"])
    if known_fields and not set(field_list) <= known_fields:
        raise InvalidInput("Invalid fieldList or certList name", field="fieldList")
    if req["certs"] and not set(cert_list) <= set(req["certs"]):
        raise InvalidInput("Invalid fieldList or certList name", field="certList")
    hs = _handshake(account=account, code=code, session_code=None, now=now or timezone.now())
    record = record_for_blockpass_id(account=account, blockpass_id=hs.profile.blockpass_id)
    if record is None:
        raise InvalidInput("kycRecord not found", field="code")
    record_token_store(record_id=record.pk, token=hs.token)
    return {
        "accessToken": _session_token(
            account=account, record=record, f="resubmit", rf=field_list, rc=cert_list
        ),
        "nextAction": "upload",
        "requiredFields": field_list,
        "certs": cert_list,
    }


@dataclass
class UploadedFile:
    name: str
    content_type: str
    data: bytes


@dataclass
class Upload:
    access_token: str
    slug_list: list[str]
    values: dict[str, str] = field(default_factory=dict)
    files: dict[str, UploadedFile] = field(default_factory=dict)


CERT_PREFIX = "[cer]"
PROMISE_PREFIX = "[cerPromise]"


def merchant_upload(*, account: ProviderAccount, upload: Upload) -> dict[str, Any]:
    """Store what the app uploads: identity fields (encrypted, status received), `[cer]`
    certificates, and `[cerPromise]` promise ids (pulled once Blockpass resolves them)."""
    try:
        session = signing.loads(upload.access_token, salt=SESSION_SALT, max_age=SESSION_MAX_AGE)
    except signing.BadSignature:
        raise InvalidInput("Invalid Access Token", field="accessToken") from None
    if session.get("a") != account.pk:
        raise InvalidInput("Invalid Access Token", field="accessToken")
    record = KYCRecord.objects.filter(
        pk=session.get("r"), merchant=account.merchant, provider=PROVIDER, erased_at=None
    ).first()
    if record is None:
        raise InvalidInput("Kyc record could not found", field="accessToken")

    plain: dict[str, str] = {}
    certs: dict[str, str] = {}
    promises: dict[str, str] = {}
    for key, value in upload.values.items():
        if key.startswith(CERT_PREFIX):
            certs[key[len(CERT_PREFIX) :]] = value
        elif key.startswith(PROMISE_PREFIX):
            promises[key[len(PROMISE_PREFIX) :]] = value
        else:
            plain[key] = value
    for key, f in upload.files.items():
        encoded = base64.b64encode(f.data).decode("ascii")
        plain[key] = f"data:{f.content_type or 'application/octet-stream'};base64,{encoded}"

    required = (
        list(session.get("rf") or [])
        if session.get("f") == "resubmit"
        else BlockpassProvider.requirements(account.settings or {})["requiredFields"]
    )
    present = set(plain) | set(certs) | set(promises)
    if any(s not in upload.slug_list or s not in present for s in required):
        raise InvalidInput("Missing critical slug", field="slugList")

    with transaction.atomic():
        if plain:
            kyc_services.identity_fields_store(
                record=record,
                provider=PROVIDER,
                fields=[FieldValue(key=k[:100], value=v) for k, v in plain.items()],
            )
            # A re-upload answers the reviewer: clear the old verdict's comment.
            IdentityField.objects.filter(
                record=record, provider=PROVIDER, key__in=list(plain)
            ).update(comment="", allow_resubmit=False)
        for slug, raw in certs.items():
            cert, _ = Certificate.objects.update_or_create(
                merchant=account.merchant,
                provider=PROVIDER,
                external_id=f"upload:{record.pk}:{slug}"[:200],
                defaults={
                    "record": record,
                    "slug": slug[:200],
                    "raw": raw.encode("utf-8"),
                    "status": ReviewState.RECEIVED,
                    "comment": "",
                    "allow_resubmit": False,
                    "erased_at": None,
                },
            )
            outbox.certificate_received_event(cert=cert)  # every upload, same transaction
        for _slug, promise_id in promises.items():
            cert_promise_note(account=account, record=record, promise_id=promise_id)
        transaction.on_commit(
            lambda: record_review_recompute_by_id(record_id=record.pk), robust=True
        )
    return {"nextAction": "none", "message": "welcome back"}


def cert_promise_note(
    *, account: ProviderAccount, record: KYCRecord, promise_id: str
) -> CertPromise:
    """A promise the app announced at upload: kept, not pulled until Blockpass resolves it."""
    promise_id = promise_id.strip()[:200]
    try:
        with transaction.atomic():
            promise, _ = CertPromise.objects.get_or_create(
                merchant=account.merchant,
                provider=PROVIDER,
                promise_id=promise_id,
                defaults={"record": record},
            )
    except IntegrityError:
        promise = CertPromise.objects.get(
            merchant=account.merchant, provider=PROVIDER, promise_id=promise_id
        )
    if promise.record_id is None:
        CertPromise.objects.filter(pk=promise.pk, record=None).update(record=record)
    return promise


# --- webhook ---------------------------------------------------------------------------


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
        _enqueue_process(original_id)


def enqueue_process(event_pk: int) -> None:
    """Hand a stored delivery to a worker once committed."""
    _enqueue_process(event_pk)


def _enqueue_process(event_pk: int) -> None:
    from kyc.tasks import process_inbound

    transaction.on_commit(lambda: process_inbound.delay(event_pk))


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
        service_info_update(account=account, parsed=parsed)
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
    transaction.on_commit(lambda: _enqueue_pull(pk))
    return ""


def _enqueue_pull(promise_pk: int, countdown: int | None = None) -> None:
    from providers.blockpass.tasks import pull_cert_promise

    if countdown:
        pull_cert_promise.apply_async((promise_pk,), countdown=countdown)
    else:
        pull_cert_promise.delay(promise_pk)


# --- pull ----------------------------------------------------------------------------


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


def record_reference_forget(*, record_id: int) -> bool:
    """Erasure hook: an erased Blockpass record whose reference was derived from the
    customer's Blockpass ID (records made before issue 15) gets an opaque one instead.
    The merchant never chose that reference, so nothing of theirs points at it."""
    with transaction.atomic():
        record = (
            KYCRecord.objects.select_for_update()
            .filter(pk=record_id, provider=PROVIDER, erased_at__isnull=False)
            .first()
        )
        if record is None or not reference_names_identity(record.reference):
            return False
        old, new = record.reference, opaque_reference()
        record.reference = new
        record.save(update_fields=["reference", "updated_at"])
        TransferRequest.objects.filter(record=record, reference=old).update(reference=new)
        _outbox_reference_replace(merchant_id=record.merchant_id, old=old, new=new)
    return True


def _outbox_reference_replace(*, merchant_id: int, old: str, new: str) -> None:
    """Webhook messages (kept for retries and replays) carry the record's reference in
    plain JSON, the erasure's own `record.erased` message included: they get the new one."""
    needle = json.dumps(old)
    rows = (
        WebhookMessage.objects.filter(merchant_id=merchant_id)
        .annotate(text=Cast("data", TextField()))
        .filter(text__contains=needle)
    )
    for message in rows:
        data = json.loads(json.dumps(message.data).replace(needle, json.dumps(new)))
        WebhookMessage.objects.filter(pk=message.pk).update(data=data)


def erased_references_forget() -> int:
    """Catch-up for the erasure hook (it runs after commit, so a crash could skip it)."""
    qs = KYCRecord.objects.filter(
        provider=PROVIDER,
        erased_at__isnull=False,
        reference__startswith=RESERVED_REFERENCE_PREFIX,
    )
    ids = qs.exclude(reference__regex=f"^{_OPAQUE_REFERENCE.pattern}$").values_list(
        "pk", flat=True
    )[:200]
    return sum(record_reference_forget(record_id=pk) for pk in list(ids))


def reconcile(*, now: dt.datetime | None = None) -> int:
    """Every minute: pulls whose retry time (or a dead worker's lease) has come; erased
    records' identity-derived references."""
    now = now or timezone.now()
    erased_references_forget()
    ids = list(
        CertPromise.objects.filter(
            provider=PROVIDER, state=CertPromise.State.PENDING, next_attempt_at__lte=now
        ).values_list("pk", flat=True)[:500]
    )
    for pk in ids:
        _enqueue_pull(pk)
    return len(ids)
