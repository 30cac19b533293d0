"""The references the portal gives Blockpass records itself: opaque, never derived from the
customer's Blockpass ID; a merchant-signed refId names a new record's reference. Erasure
replaces an identity-derived reference."""

from __future__ import annotations

import json
import re
from secrets import token_hex

from django.db import transaction
from django.db.models import TextField
from django.db.models.functions import Cast

from kyc.models import KYCRecord, ProviderAccount, TransferRequest, WebhookMessage
from providers.blockpass import signature
from providers.blockpass.services.common import PROVIDER, log

# References the portal gives Blockpass records itself; a refId never names one.
RESERVED_REFERENCE_PREFIX = "blockpass-"
# The portal's own reference of a record without a (merchant-signed) refId: random, so it
# says nothing about the customer. Older records may still carry `blockpass-<Blockpass
# ID>[-<hex>]`, the ID the record keeps encrypted, in plaintext; erasure replaces such
# references.
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


def record_reference_forget(*, record_id: int) -> bool:
    """Erasure hook: an erased Blockpass record whose reference was derived from the
    customer's Blockpass ID (as older records' references were) gets an opaque one instead.
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
