"""The audit trail: one way in (`audit_write`), a hash chain per merchant, verify and export.

Every entry stores the hash of the entry before it in its merchant's chain (`prev_hash`)
and its own `hash`: sha256 over a canonical JSON of (prev_hash, at, actor id, merchant id,
action, object_type, object_id, detail). Entries without a merchant form their own chain.
A writer holds a per-merchant lock (a PostgreSQL advisory lock for the transaction) from
reading the chain's last hash until its commit, so concurrent writers never fork a chain.

`audit_verify` walks each chain in id order and names the first broken link: an entry
whose content no longer matches its hash (edited), whose prev_hash is not the hash of the
entry before it (deleted or reordered), or that has no hash after the chain began.
Entries written before the chain existed (empty hash, migration kyc 0004) that come
before a chain's first hashed entry are counted as legacy and not checked: the chain
starts at its first hashed entry, so no data migration is needed.

The admin shows each chain's state on every load of the audit list, so it does not walk
every chain each time: `chain_verify_from_head` keeps how far a chain was verified intact
(AuditChainHead: last entry id and the chain's hash there) and reads only the entries
after it. A database trigger resets that head when any entry of the chain is updated or
deleted (or inserted below it), so an edit, deletion or reordering before the head is
walked again and named on the next load; `audit_verify` always walks everything.

What the chain cannot show on its own: the newest entries of a chain being removed (the
tail), or a whole chain rewritten by someone with write access to the database. Keep the
`head` hashes `manage.py audit_verify` prints somewhere else to notice either.
"""

from __future__ import annotations

import csv
import datetime as dt
import hashlib
import io
import json
from collections.abc import Iterator, Mapping
from dataclasses import dataclass
from typing import Any

from django.db import IntegrityError, connection, transaction
from django.db.models import Model, QuerySet
from django.utils import timezone

from kyc.models import AuditChainHead, AuditEntry, Merchant

# pg_advisory_xact_lock(classid, objid): classid "AUDT", objid the merchant id (0: none).
_LOCK_CLASS = 0x41554454
_INT4 = 2**31


def _merchant_id(merchant: Merchant | int | None) -> int | None:
    if merchant is None:
        return None
    return merchant if isinstance(merchant, int) else merchant.pk


def _lock(merchant_id: int | None) -> None:
    """Serialise writers of one chain until the surrounding transaction ends."""
    with connection.cursor() as cursor:
        if connection.vendor == "postgresql":
            cursor.execute(
                "SELECT pg_advisory_xact_lock(%s, %s)", [_LOCK_CLASS, (merchant_id or 0) % _INT4]
            )
        else:
            # SQLite (embedded mode): any write statement takes the database's write lock,
            # which is held to the end of the transaction; this one changes no row.
            cursor.execute("UPDATE kyc_auditentry SET id = id WHERE id = -1")


def _normal(detail: Mapping[str, Any] | None) -> dict[str, Any]:
    """The detail as the database gives it back (JSON types only), so the hash of a
    stored entry can be computed again from what is read."""
    return json.loads(json.dumps(dict(detail or {}), default=str))


def _at(value: dt.datetime) -> str:
    return value.astimezone(dt.UTC).isoformat()


def entry_hash(entry: AuditEntry) -> str:
    """sha256 (hex) of the entry's canonical JSON, its prev_hash included."""
    canonical = json.dumps(
        {
            "prev_hash": entry.prev_hash or "",
            "at": _at(entry.at),
            "actor": entry.actor_id,
            "merchant": entry.merchant_id,
            "action": entry.action,
            "object_type": entry.object_type,
            "object_id": entry.object_id,
            "detail": entry.detail,
        },
        sort_keys=True,
        separators=(",", ":"),
        ensure_ascii=False,
    )
    return hashlib.sha256(canonical.encode("utf-8")).hexdigest()


def _chain(merchant_id: int | None) -> QuerySet[AuditEntry]:
    """One chain's entries: a merchant's, or those without a merchant."""
    if merchant_id is None:
        return AuditEntry.objects.filter(merchant__isnull=True)
    return AuditEntry.objects.filter(merchant_id=merchant_id)


def _head(merchant_id: int | None) -> str:
    return (
        _chain(merchant_id).exclude(hash="").order_by("-id").values_list("hash", flat=True).first()
    ) or ""


def audit_append(entry: AuditEntry, *, stamp: bool = False) -> AuditEntry:
    """Chain and insert a new entry (AuditEntry.save routes every insert here).
    `stamp`: set `at` under the lock, so a chain's order is also its time order."""
    if not entry._state.adding:
        raise ValueError("only a new audit entry can be appended")
    with transaction.atomic():
        _lock(entry.merchant_id)
        if stamp:
            entry.at = timezone.now()
        entry.detail = _normal(entry.detail)
        entry.prev_hash = _head(entry.merchant_id)
        entry.hash = entry_hash(entry)
        entry.save(force_insert=True)
    return entry


def audit_write(
    *,
    actor: Any,
    merchant: Merchant | int | None,
    action: str,
    object_type: str = "",
    object_id: str = "",
    detail: Mapping[str, Any] | None = None,
) -> AuditEntry:
    """The one way an audit entry is written. `detail` says what, never a secret or PII."""
    entry = AuditEntry(
        actor=actor if getattr(actor, "pk", None) else None,
        merchant_id=_merchant_id(merchant),
        action=action[:60],
        object_type=object_type[:60],
        object_id=str(object_id)[:100],
        detail=dict(detail or {}),
    )
    return audit_append(entry, stamp=True)


# The action of an audited deletion (the admin's "evidence" deletions use it too).
DELETED = "evidence.deleted"


def audit_entry_delete(*, entry: AuditEntry, actor: Any) -> AuditEntry:
    """Delete an audit entry (superusers only: the caller checks) the one way that keeps its
    chain verifiable: first an entry saying who deleted which one, with its hash and
    prev_hash, so `audit_verify` sees a documented gap there, not a break."""
    with transaction.atomic():
        _lock(entry.merchant_id)
        note = audit_write(
            actor=actor,
            merchant=entry.merchant_id,
            action=DELETED,
            object_type=AuditEntry._meta.label,
            object_id=str(entry.pk),
            detail={
                "model": AuditEntry._meta.label,
                "id": str(entry.pk),
                "what": str(entry)[:200],
                "hash": entry.hash,
                "prev_hash": entry.prev_hash,
            },
        )
        # A queryset delete: AuditEntry.delete() refuses on purpose.
        AuditEntry.objects.filter(pk=entry.pk).delete()
    return note


# --- verification -----------------------------------------------------------------------


@dataclass(frozen=True)
class ChainReport:
    merchant_id: int | None
    checked: int  # hashed entries checked
    legacy: int  # entries from before the chain, not checked
    first_broken_id: int | None
    reason: str
    head: str  # hash of the chain's newest entry
    deleted: int = 0  # entries deleted through audit_entry_delete (audited, not a break)
    last_id: int = 0  # id of the newest entry verified (0: none)
    read: int = 0  # entries this walk read (fewer than checked when it began at a head)

    @property
    def ok(self) -> bool:
        return self.first_broken_id is None


@dataclass(frozen=True)
class _Start:
    """Where a walk begins: the start of the chain, or a head verified before."""

    after_id: int = 0
    prev: str = ""
    checked: int = 0
    legacy: int = 0
    deleted: int = 0


def _entries(merchant_id: int | None, after_id: int = 0) -> Iterator[AuditEntry]:
    # Every column of an entry is hashed (entry_hash) or is its id: all are loaded.
    qs = _chain(merchant_id)
    if after_id:
        qs = qs.filter(id__gt=after_id)
    return qs.order_by("id").iterator(chunk_size=2000)


def _documented_deletions(merchant_id: int | None, after_id: int = 0) -> dict[str, str]:
    """hash -> prev_hash of the entries of this chain deleted through audit_entry_delete
    (their deletion is itself an entry of the chain, so it is verified like any other).
    A gap after `after_id` is explained by notes after it: a note is written before the
    entry it names is deleted, and notes are appended."""
    rows = _chain(merchant_id).filter(action=DELETED, object_type=AuditEntry._meta.label)
    if after_id:
        rows = rows.filter(id__gt=after_id)
    out: dict[str, str] = {}
    for detail in rows.values_list("detail", flat=True):
        if isinstance(detail, dict) and detail.get("hash"):
            out[str(detail["hash"])] = str(detail.get("prev_hash") or "")
    return out


def _walk(mid: int | None, start: _Start) -> ChainReport:
    """Walk the chain's entries after `start.after_id` in id order, linking to `start.prev`."""
    checked, legacy, deleted = start.checked, start.legacy, start.deleted
    prev, last_id, read = start.prev, start.after_id, 0
    started = bool(prev)  # a hashed entry was seen (its hash is never empty)
    documented = _documented_deletions(mid, start.after_id)

    def broken(entry: AuditEntry, reason: str) -> ChainReport:
        return ChainReport(mid, checked, legacy, entry.pk, reason, prev, deleted, last_id, read)

    def bridged(link: str) -> int:
        """How many documented deletions lead from `link` back to `prev` (0: none do)."""
        steps = 0
        while link != prev and link in documented and steps <= len(documented):
            link, steps = documented[link], steps + 1
        return steps if link == prev else 0

    for entry in _entries(mid, start.after_id):
        read += 1
        if not entry.hash:
            if started:
                return broken(entry, "entry has no hash inside the chain (inserted or blanked)")
            legacy += 1
            last_id = entry.pk
            continue
        started = True
        if entry.prev_hash != prev:
            gap = bridged(entry.prev_hash)
            if not gap:
                return broken(
                    entry,
                    "previous-hash link does not match the entry before it "
                    "(an entry was deleted or entries were reordered)",
                )
            deleted += gap
        if entry_hash(entry) != entry.hash:
            return broken(entry, "content does not match its hash (the entry was edited)")
        checked += 1
        prev, last_id = entry.hash, entry.pk
    return ChainReport(mid, checked, legacy, None, "", prev, deleted, last_id, read)


def chain_verify(merchant: Merchant | int | None) -> ChainReport:
    """Walk one merchant's chain (None: entries without a merchant) in id order, from its
    first entry (what `manage.py audit_verify` does; no stored head is trusted)."""
    return _walk(_merchant_id(merchant), _Start())


# --- the verified head (the admin's cheap check) -------------------------------------------


def _head_row(mid: int | None) -> AuditChainHead:
    key = mid or 0
    head = AuditChainHead.objects.filter(chain=key).first()
    if head is not None:
        return head
    try:
        with transaction.atomic():
            return AuditChainHead.objects.create(chain=key)
    except IntegrityError:  # another request created it first
        return AuditChainHead.objects.get(chain=key)


def _start_at(mid: int | None, head: AuditChainHead) -> _Start:
    """The stored head, when its entry is still there with the same hash; else the start
    (the trigger resets the head on any change; this also covers a truncated table)."""
    if not head.last_id:
        return _Start()
    if not _chain(mid).filter(pk=head.last_id, hash=head.hash).exists():
        return _Start()
    return _Start(head.last_id, head.hash, head.checked, head.legacy, head.deleted)


def _head_store(head: AuditChainHead, report: ChainReport) -> None:
    """Keep an intact chain's new head, unless the chain changed since `head` was read
    (the trigger moved the epoch on): then the next load walks it again from the start.
    A broken chain keeps no head: every load walks it and names the broken entry."""
    if not report.ok:
        if head.last_id:
            AuditChainHead.objects.filter(pk=head.pk).update(last_id=0, hash="")
        return
    if (report.last_id, report.head) == (head.last_id, head.hash):
        return
    AuditChainHead.objects.filter(pk=head.pk, epoch=head.epoch).update(
        last_id=report.last_id,
        hash=report.head,
        checked=report.checked,
        legacy=report.legacy,
        deleted=report.deleted,
        verified_at=timezone.now(),
    )


def chain_verify_from_head(merchant: Merchant | int | None, *, full: bool = False) -> ChainReport:
    """Verify one chain from where it was last verified intact: only the entries after the
    stored head are read, linked to its hash. An entry updated or deleted anywhere in the
    chain, or inserted below the head, resets the head (a trigger), so the next call walks
    the whole chain and names the broken entry. `full`: walk from the start regardless
    (and store the head again). A broken chain stores nothing: every call walks it."""
    mid = _merchant_id(merchant)
    head = _head_row(mid)
    report = _walk(mid, _Start() if full else _start_at(mid, head))
    _head_store(head, report)
    return report


def chain_merchant_ids() -> list[int | None]:
    """Every chain there is: merchants with entries, and None when unowned entries exist."""
    ids = set(AuditEntry.objects.values_list("merchant_id", flat=True).distinct())
    return sorted(i for i in ids if i is not None) + ([None] if None in ids else [])


def audit_chain_status(merchant: Merchant | int | None) -> tuple[bool, int, int | None]:
    """(intact, entries checked, id of the first broken entry or None): for the admin."""
    report = chain_verify(merchant)
    return report.ok, report.checked, report.first_broken_id


# --- export ----------------------------------------------------------------------------

EXPORT_FORMATS = ("csv", "json")
EXPORT_COLUMNS = (
    "id",
    "at",
    "actor_id",
    "actor",
    "merchant",
    "action",
    "object_type",
    "object_id",
    "detail",
    "prev_hash",
    "hash",
)


@dataclass(frozen=True)
class AuditExport:
    filename: str
    content_type: str
    body: str
    count: int


def _bound(value: dt.date | dt.datetime | None, *, end: bool) -> dt.datetime | None:
    """A date is a whole day in the current time zone (`until` includes it)."""
    if value is None:
        return None
    if isinstance(value, dt.datetime):
        return value if timezone.is_aware(value) else timezone.make_aware(value)
    day = value + dt.timedelta(days=1) if end else value
    return timezone.make_aware(dt.datetime.combine(day, dt.time.min))


def _cell(value: str) -> str:
    """Spreadsheets run a cell that starts with = + - @ as a formula: quote it."""
    if value and value[0] in "=+-@\t\r" and not _is_number(value):
        return "'" + value
    return value


def _is_number(value: str) -> bool:
    try:
        float(value)
    except ValueError:
        return False
    return True


def _rows(qs: Any) -> Iterator[dict[str, Any]]:
    for e in qs:
        yield {
            "id": e.pk,
            "at": _at(e.at),
            "actor_id": e.actor_id,
            "actor": e.actor.get_username() if e.actor is not None else "",
            "merchant": e.merchant.slug if e.merchant is not None else "",
            "action": e.action,
            "object_type": e.object_type,
            "object_id": e.object_id,
            "detail": e.detail,
            "prev_hash": e.prev_hash,
            "hash": e.hash,
        }


def audit_export(
    *,
    merchant: Merchant,
    actor: Any,
    since: dt.date | dt.datetime | None = None,
    until: dt.date | dt.datetime | None = None,
    format: str = "csv",
    via: str = "admin",
) -> AuditExport:
    """The merchant's audit entries in [since, until] (oldest first) as CSV or JSON.

    The caller checks the permission; the export itself is written to the audit trail
    (after the exported entries, so it is in the next export)."""
    if format not in EXPORT_FORMATS:
        raise ValueError(f"unknown export format {format!r}; use csv or json")
    start, end = _bound(since, end=False), _bound(until, end=True)
    qs = AuditEntry.objects.filter(merchant=merchant).select_related("actor", "merchant")
    if start is not None:
        qs = qs.filter(at__gte=start)
    if end is not None:
        qs = qs.filter(at__lt=end) if not isinstance(until, dt.datetime) else qs.filter(at__lte=end)
    rows = list(_rows(qs.order_by("id")))
    chain = chain_verify(merchant)
    if format == "json":
        body = json.dumps(
            {
                "merchant": merchant.slug,
                "since": start.isoformat() if start else None,
                "until": end.isoformat() if end else None,
                "chain_intact": chain.ok,
                "entries": rows,
            },
            indent=2,
            ensure_ascii=False,
        )
        content_type = "application/json"
    else:
        out = io.StringIO()
        writer = csv.writer(out)
        writer.writerow(EXPORT_COLUMNS)
        for row in rows:
            row = {**row, "detail": json.dumps(row["detail"], sort_keys=True, ensure_ascii=False)}
            writer.writerow([_cell("" if row[c] is None else str(row[c])) for c in EXPORT_COLUMNS])
        body = out.getvalue()
        content_type = "text/csv; charset=utf-8"
    stamp = "-".join(d.strftime("%Y%m%d") for d in (since, until) if d is not None) or "all"
    audit_write(
        actor=actor,
        merchant=merchant,
        action="audit.exported",
        object_type="kyc.Merchant",
        object_id=str(merchant.pk),
        detail={
            "format": format,
            "since": start.isoformat() if start else None,
            "until": end.isoformat() if end else None,
            "count": len(rows),
            "via": via,
        },
    )
    return AuditExport(
        filename=f"audit-{merchant.slug}-{stamp}.{format}",
        content_type=content_type,
        body=body,
        count=len(rows),
    )


def audit_log(
    *,
    actor: Any,
    action: str,
    obj: Model | None = None,
    merchant: Merchant | None = None,
    detail: Mapping[str, Any] | None = None,
) -> AuditEntry:
    """Thin alias of kyc.audit.audit_write (the one way in) that names an object."""
    if merchant is None and obj is not None:
        merchant = getattr(obj, "merchant", None) or (obj if isinstance(obj, Merchant) else None)
    return audit_write(
        actor=actor,
        merchant=merchant,
        action=action,
        object_type=obj._meta.label if obj is not None else "",
        object_id=str(obj.pk) if obj is not None else "",
        detail=detail,
    )
