"""Deliberate PII reveal: one POST with a purpose reveals the chosen fields of one record
to one signed-in session for REVEAL_SECONDS, with one audit entry.

What is kept (in the cache, keyed by the session, never in the database) is which field
ids were revealed and until when; values are decrypted when a page shows them.
"""

from __future__ import annotations

import datetime as dt
import time
from dataclasses import dataclass
from typing import Any

from django.core.cache import cache

from kyc import services
from kyc.models import IdentityField, KYCRecord

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


def record_reveal(
    *,
    record: KYCRecord,
    actor: Any,
    session_key: str,
    field_ids: list[int],
    purpose: str,
    note: str,
) -> Grant:
    """Reveal the chosen fields of `record` to this session for REVEAL_SECONDS; audited once.

    Fields not of this record, or erased, are left out. The audit entry names the fields
    (keys, never values), the purpose and the note.
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
    if not fields:
        raise RevealRefused("Choose at least one value that is still stored.")
    grant = Grant(
        field_ids=sorted(f.pk for f in fields), until=now() + REVEAL_SECONDS, purpose=purpose
    )
    services.audit_log(
        actor=actor,
        action="pii.revealed",
        obj=record,
        merchant=record.merchant,
        detail={
            "record": record.reference,
            "fields": [f.key for f in fields],
            "purpose": purpose,
            "note": note,
            "seconds": REVEAL_SECONDS,
        },
    )
    cache.set(
        _key(session_key, record.pk),
        {"field_ids": grant.field_ids, "until": grant.until, "purpose": purpose},
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
    return Grant(field_ids=list(data["field_ids"]), until=data["until"], purpose=data["purpose"])


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
