"""Deliberate PII reveal: one POST with a purpose reveals the chosen fields of one record
to one signed-in session for REVEAL_SECONDS, with one audit entry.

The admin's reveal also covers the record's ID and selfie images, which providers keep
and list through their `review_images` hook (kyc.registry; the core imports no provider),
so a record with images and no identity values can be revealed too.

What is kept (in the cache, keyed by the session, never in the database) is which field
ids were revealed, how many images, and until when; values are decrypted when a page
shows them, images when a provider's image view serves them to a session with a reveal.
"""

from __future__ import annotations

import datetime as dt
import time
from collections.abc import Iterable
from dataclasses import dataclass
from typing import Any

from django.core.cache import cache

from kyc import registry, services
from kyc.contract import ReviewImage
from kyc.models import IdentityField, KYCRecord, TransferRequest

REVEAL_SECONDS = 300

# Why a value is revealed: the short list a reviewer picks from (plus free text).
PURPOSES: list[tuple[str, str]] = [
    ("review", "Reviewing this verification"),
    ("customer_request", "The customer's own request (access, correction)"),
    ("investigation", "Fraud or AML investigation"),
    ("legal", "Legal or regulator request"),
    ("other", "Other (explain in the note)"),
]
PURPOSE_LABELS = dict(PURPOSES)


class RevealRefused(Exception):
    """The reveal request is incomplete; the message says what is missing."""


@dataclass
class Grant:
    field_ids: list[int]
    until: float
    purpose: str
    images: int = 0  # how many images of the record the reveal covered

    @property
    def summary(self) -> str:
        """What was revealed, in words: "2 value(s) and 3 image(s)"."""
        parts = [f"{len(self.field_ids)} value(s)"] if self.field_ids or not self.images else []
        return " and ".join([*parts, *([f"{self.images} image(s)"] if self.images else [])])

    @property
    def seconds_left(self) -> int:
        return max(0, int(self.until - now()))

    @property
    def until_at(self) -> dt.datetime:
        return dt.datetime.fromtimestamp(self.until, tz=dt.UTC)


def now() -> float:
    return time.time()


def _key(session_key: str, record_id: int) -> str:
    return f"kyc-reveal:{session_key}:{record_id}"


def record_images(
    record: KYCRecord, *, providers: Iterable[str] | None = None
) -> list[ReviewImage]:
    """The record's stored images, from the `review_images` hook of each provider it has
    requests with (`providers`: those names, when the caller has them already)."""
    if record.erased_at is not None:
        return []
    if providers is None:
        providers = TransferRequest.objects.filter(record=record).values_list("provider", flat=True)
    return [
        image
        for name in sorted({p for p in providers if p})
        if (provider := registry.find(name)) is not None
        for image in provider.review_images(record_id=record.pk)
    ]


def record_reveal(
    *,
    record: KYCRecord,
    actor: Any,
    session_key: str,
    field_ids: list[int],
    purpose: str,
    note: str,
    images: bool = False,
) -> Grant:
    """Reveal the chosen fields of `record` to this session for REVEAL_SECONDS; audited once.

    Fields not of this record, or erased, are left out. `images`: the reveal also covers
    the record's stored images (the admin's review page), so a record with images and no
    identity values can be revealed. The audit entry names the fields (keys, never
    values), the images (their labels), the purpose and the note.
    """
    note = (note or "").strip()[:500]
    if purpose not in PURPOSE_LABELS:
        raise RevealRefused("Choose why you need to see these values.")
    if purpose == "other" and not note:
        raise RevealRefused("Say why you need to see these values.")
    if not session_key:
        raise RevealRefused("Your session has expired; sign in again.")
    fields = list(
        IdentityField.objects.filter(record=record, pk__in=field_ids, erased_at__isnull=True)
        .order_by("key")
        .only("pk", "key")
    )
    labels = [image.label for image in record_images(record)] if images else []
    if not fields and not labels:
        raise RevealRefused("Choose at least one value that is still stored.")
    grant = Grant(
        field_ids=sorted(f.pk for f in fields),
        until=now() + REVEAL_SECONDS,
        purpose=purpose,
        images=len(labels),
    )
    services.audit_log(
        actor=actor,
        action="pii.revealed",
        obj=record,
        merchant=record.merchant,
        detail={
            "record": record.reference,
            "fields": [f.key for f in fields],
            **({"images": labels} if labels else {}),
            "purpose": purpose,
            "note": note,
            "seconds": REVEAL_SECONDS,
        },
    )
    cache.set(
        _key(session_key, record.pk),
        {
            "field_ids": grant.field_ids,
            "until": grant.until,
            "purpose": purpose,
            "images": grant.images,
        },
        REVEAL_SECONDS,
    )
    return grant


def record_revealed(*, record: KYCRecord, session_key: str | None) -> Grant | None:
    """The session's current reveal of this record, if it has not expired."""
    if not session_key:
        return None
    try:
        data = cache.get(_key(session_key, record.pk))
    except Exception:  # cache down: nothing is revealed (safe side)
        return None
    if not data or data.get("until", 0) <= now():
        return None
    return Grant(
        field_ids=list(data["field_ids"]),
        until=data["until"],
        purpose=data["purpose"],
        images=int(data.get("images") or 0),
    )


def revealed_values(
    *, record: KYCRecord, session_key: str | None
) -> tuple[dict[int, Any], Grant | None]:
    """{field id: decrypted value} of what this session revealed of the record (no audit:
    the reveal itself was audited)."""
    grant = record_revealed(record=record, session_key=session_key)
    if grant is None:
        return {}, None
    values = dict(
        IdentityField.objects.filter(
            record=record, pk__in=grant.field_ids, erased_at__isnull=True
        ).values_list("pk", "value")
    )
    return values, grant
