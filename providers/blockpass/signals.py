"""Keep a Blockpass record's status in step with the review of its fields and certificates."""

from __future__ import annotations

from typing import Any

from django.db import transaction
from django.db.models.signals import post_save

from kyc.models import Certificate, IdentityField

PROVIDER = "blockpass"


def _item_saved(sender: Any, instance: Any, raw: bool = False, **kwargs: Any) -> None:
    if raw or instance.provider != PROVIDER or not instance.record_id:
        return
    record_id = instance.record_id

    def recompute() -> None:
        from providers.blockpass import services

        services.record_review_recompute_by_id(record_id=record_id)

    # After commit: a pulled certificate's transaction must never depend on this.
    transaction.on_commit(recompute, robust=True)


def connect() -> None:
    post_save.connect(_item_saved, sender=IdentityField, dispatch_uid="blockpass-field-review")
    post_save.connect(_item_saved, sender=Certificate, dispatch_uid="blockpass-cert-review")
