"""The review status of a record, and the `/status` answer the Blockpass app is told."""

from __future__ import annotations

from typing import Any

from kyc import review
from kyc.models import (
    Certificate,
    CertPromise,
    IdentityField,
    KYCRecord,
    ProviderAccount,
    ReviewState,
)
from providers.blockpass.provider import BlockpassProvider
from providers.blockpass.services.common import PROVIDER


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
