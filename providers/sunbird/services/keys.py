"""Key reservations: a key is reserved for one root org, once."""

from __future__ import annotations

from collections.abc import Iterable
from typing import Any

from django.db import IntegrityError, transaction

from kyc import services as kyc_services
from kyc.models import Merchant
from providers.sunbird.models import IssuanceRun, KeyReservation, reserved_message
from providers.sunbird.services.common import KeyAlreadyReserved


def key_reserve(
    *,
    merchant: Merchant,
    root_org_id: str,
    root_org_name: str,
    key_id: str,
    purpose: str,
    added_by: Any = None,
    run: IssuanceRun | None = None,
    comment: str = "",
) -> KeyReservation:
    """Reserve a key for a root org; a key already reserved raises KeyAlreadyReserved.

    The database's unique constraint is the real guard (two staff at once); the
    lookup first only gives the message a holder's name. The same run reserving its
    own key again (a resumed step) gets its reservation back.
    """
    key_id = key_id.strip()
    existing = KeyReservation.objects.filter(merchant=merchant, key_id=key_id).first()
    if existing is not None:
        if run is not None and existing.run_id == run.pk and existing.purpose == purpose:
            return existing
        raise KeyAlreadyReserved(reserved_message(existing))
    try:
        with transaction.atomic():
            reservation = KeyReservation.objects.create(
                merchant=merchant,
                root_org_id=root_org_id,
                root_org_name=root_org_name,
                key_id=key_id,
                purpose=purpose,
                added_by=added_by if getattr(added_by, "pk", None) else None,
                run=run,
                comment=comment,
            )
    except IntegrityError:
        existing = KeyReservation.objects.get(merchant=merchant, key_id=key_id)
        raise KeyAlreadyReserved(reserved_message(existing)) from None
    kyc_services.audit_log(
        actor=added_by,
        action="sunbird.key_reserved",
        obj=reservation,
        merchant=merchant,
        detail={"key_id": key_id, "purpose": purpose, "root_org_id": root_org_id},
    )
    return reservation


def keys_taken(*, merchant: Merchant, key_ids: Iterable[str]) -> list[str]:
    """Messages for keys already reserved (for the start form)."""
    return [
        reserved_message(r)
        for r in KeyReservation.objects.filter(merchant=merchant, key_id__in=list(key_ids))
    ]
