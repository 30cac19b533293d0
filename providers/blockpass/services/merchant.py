"""The merchant endpoints the Blockpass app calls: register, login, status, resubmit,
upload."""

from __future__ import annotations

import base64
import datetime as dt
from dataclasses import dataclass, field
from typing import Any

from django.core import signing
from django.db import IntegrityError, transaction
from django.utils import timezone

from kyc import outbox
from kyc import services as kyc_services
from kyc.contract import FieldValue
from kyc.crypto import lookup_hash
from kyc.errors import InvalidInput
from kyc.models import (
    Certificate,
    CertPromise,
    IdentityField,
    KYCRecord,
    ProviderAccount,
    ReviewState,
)
from providers.blockpass import client
from providers.blockpass.provider import BlockpassProvider
from providers.blockpass.schemas import Profile, Token
from providers.blockpass.services.common import PROVIDER, SESSION_MAX_AGE, SESSION_SALT
from providers.blockpass.services.references import opaque_reference, reference_from_ref_id
from providers.blockpass.services.review_status import (
    record_review_recompute,
    record_review_recompute_by_id,
    status_payload,
)
from providers.blockpass.services.tokens import call_with_token, record_token_store


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
    another provider that carries this id was bound by a refId in the days before such a
    refId was refused, and is never handed to the Blockpass app again."""
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
