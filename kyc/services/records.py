"""Customers (KYCRecord) and the identity values stored on them (encrypted)."""

from __future__ import annotations

from collections.abc import Iterable
from typing import Any

from django.db import IntegrityError, transaction
from django.utils import timezone

from kyc import review
from kyc.contract import FieldValue
from kyc.crypto import lookup_hash
from kyc.models import IdentityField, KYCRecord, Merchant, TransferRequest


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
