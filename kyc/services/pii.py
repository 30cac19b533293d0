"""PII access and erasure: reveal (audited), erase a customer, the retention sweep, and the
stored API answers the Idempotency-Key window keeps."""

from __future__ import annotations

import datetime as dt
from functools import partial
from typing import Any

from django.conf import settings
from django.db import transaction
from django.utils import timezone

from kyc import registry, review
from kyc.models import (
    Certificate,
    IdempotentRequest,
    IdentityField,
    InboundEvent,
    KYCRecord,
    Merchant,
    TransferRequest,
)
from kyc.services.audit import audit_log

# How long an API answer is kept for an Idempotency-Key replay (portal/api/idempotency.py).
IDEMPOTENCY_WINDOW = dt.timedelta(hours=24)


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
