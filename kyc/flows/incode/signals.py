"""Erasure at Incode, without touching kyc.services.record_erase.

`record_erase` saves the record with `update_fields` naming `erased_at`; when
that happens for a record with Incode interviews, Incode is asked (after commit,
by a task) to delete them too. reconcile() catches any that a broker outage lost.
"""

from __future__ import annotations

from typing import Any

from django.db import transaction
from django.db.models.signals import post_save

from kyc.models import KYCRecord, TransferRequest


def _record_saved(
    sender: Any, instance: KYCRecord, update_fields: Any = None, **kwargs: Any
) -> None:
    if not instance.erased_at or not update_fields or "erased_at" not in update_fields:
        return
    ids = [
        str(pk)
        for pk in TransferRequest.objects.filter(record=instance, provider="incode")
        .exclude(provider_ref="")
        .values_list("pk", flat=True)
    ]
    if not ids:
        return
    from kyc.flows.incode import tasks

    def enqueue() -> None:
        for pk in ids:
            tasks.delete_interview.delay(pk)

    transaction.on_commit(enqueue)


def connect() -> None:
    post_save.connect(_record_saved, sender=KYCRecord, dispatch_uid="incode-erase-interviews")
