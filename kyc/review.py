"""One review model for every provider: what a record's review status is, and the only
services that change it (each writes an audit entry: who, what, the reason code; never PII).

The status is computed (`record_review_compute`) from the record's evidence and stored by
`record_review_refresh`, which every ending calls: a request changing status
(kyc.services.transfer_apply), data stored, erasure, a Blockpass item reviewed, and the
staff decisions below. Staff decide through `record_review_decide`; the decision is
written into the evidence itself (the requests waiting for review, through the
provider's own decision code, and the verdict of every current field and certificate),
so recomputing it later gives the same answer: a decision sticks.
"""

from __future__ import annotations

import datetime as dt
from collections.abc import Iterable
from typing import Any

from django.db import transaction
from django.db.models import QuerySet
from django.utils import timezone

from kyc import outbox, registry
from kyc.audit import audit_write
from kyc.models import Certificate, IdentityField, KYCRecord, ReviewState, TransferRequest
from kyc.status import Status

Review = KYCRecord.Review

DECISIONS = ("approve", "reject", "resubmit")

# The customer-visible reasons staff choose from (code -> what the customer is told).
# Codes are stored (KYCRecord.review_reason), audited and sent in record.review_decided;
# the wording may change without touching stored data.
REVIEW_REASONS: dict[str, str] = {
    "document_unreadable": "The document photo could not be read.",
    "document_expired": "The document has expired.",
    "document_not_accepted": "This type of document is not accepted.",
    "data_mismatch": "The details do not match the document.",
    "selfie_mismatch": "The selfie does not match the document photo.",
    "information_missing": "Some required information is missing.",
    "not_eligible": "We cannot accept this application.",
    "other": "We could not verify your identity.",
}
# The code an approval is stored with when staff give none.
APPROVED_REASON = "approved"

DECIDED = frozenset({Review.APPROVED, Review.REJECTED, Review.RESUBMIT})
_OPEN = frozenset({Status.CREATED, Status.PENDING, Status.ACCEPTED, Status.PROCESSING})

AUDIT_STATUS_CHANGED = "record.review_status_changed"
AUDIT_DECIDED = "record.review_decided"
AUDIT_ASSIGNED = "record.review_assigned"
AUDIT_ITEM_DECIDED = "record.review_item_decided"

# What a review changes on the record (saved, and copied back to the caller's instance).
_REVIEW_FIELDS = ("review_status", "review_since", "review_reason", "review_comment", "updated_at")


class ReviewRefused(ValueError):
    """A decision that cannot be made (the message says why, for staff)."""


# --- the rule ------------------------------------------------------------------------


def _current_items(record: KYCRecord) -> list[IdentityField | Certificate]:
    """The record's fields and certificates that are current evidence: not erased, and
    either without a request (e.g. a Blockpass upload) or of the newest request that
    brought any data (data of older requests is superseded by the newer request's)."""
    fields = list(IdentityField.objects.filter(record=record, erased_at=None))
    certs = list(Certificate.objects.filter(record=record, erased_at=None))
    items: list[IdentityField | Certificate] = [*fields, *certs]
    with_request = [f for f in fields if f.transfer_id is not None]
    if not with_request:
        return items
    created = dict(
        TransferRequest.objects.filter(pk__in={f.transfer_id for f in with_request}).values_list(
            "pk", "created_at"
        )
    )
    newest = max(created, key=lambda pk: (created[pk], str(pk)))
    return [i for i in items if not isinstance(i, IdentityField) or i.transfer_id in (None, newest)]


def _verdict(item: IdentityField | Certificate, request_status: dict[Any, str]) -> str:
    """approved | rejected | resubmit | missing | waiting | pending (needs staff) | void."""
    if item.status == ReviewState.APPROVED:
        return "approved"
    if item.status in (ReviewState.REJECTED, ReviewState.MISSING):
        if item.allow_resubmit:
            return "resubmit"
        return "rejected" if item.status == ReviewState.REJECTED else "missing"
    # Received, no verdict of its own: the request it came with speaks for it.
    status = request_status.get(getattr(item, "transfer_id", None))
    if status == Status.COMPLETED:
        return "approved"  # the provider verified it (e.g. Incode auto-approval, CorePass)
    if status == Status.REJECTED:
        return "rejected"
    if status in _OPEN:
        return "waiting"  # the provider has not finished yet
    if status is not None and status != Status.REVIEW:
        return "void"  # its request failed, was declined, expired or was cancelled
    return "pending"  # no request (e.g. a Blockpass upload), or its request is in review


def record_review_compute(record: KYCRecord) -> str:
    """What `record.review_status` should be. The one rule, for every provider:

    Evidence is the record's requests and its current fields and certificates (not
    erased; those of the newest request that brought data, and those that came without
    a request).
    An item's verdict is its own status when staff or the provider set one (approved;
    rejected; missing; either with resubmission allowed: resubmit); a received item
    takes the verdict of its request (completed: approved; rejected: rejected; still
    open: waiting; failed, declined, expired or cancelled: not evidence), and needs
    staff (pending) when it has no request or its request is in review. Then, first
    match wins:

    1. a request waiting for review                             -> In review
    2. a rejected item                                          -> Rejected
    3. an item the customer is asked to resubmit                -> Asked to resubmit
    4. a missing item, or data of a request still open          -> Waiting for data
    5. a pending item                                           -> In review
    6. items, all approved                                      -> Approved
    7. no items (or only void ones): the newest request completed -> Approved; rejected -> Rejected; still
       open, or the provider holds a token for this customer (Blockpass) -> Waiting for
       data; otherwise (no request, failed, declined, expired, cancelled) -> No data yet.

    An erased record keeps the decision it had (Approved, Rejected, Asked to resubmit);
    anything else becomes No data yet: there is nothing left to review or wait for.
    """
    if record.erased_at is not None:
        return record.review_status if record.review_status in DECIDED else Review.NOT_FOUND
    requests = list(
        TransferRequest.objects.filter(record=record)
        .order_by("-created_at", "-pk")
        .values_list("pk", "status")
    )
    request_status = dict(requests)
    verdicts = {_verdict(i, request_status) for i in _current_items(record)} - {"void"}
    return _rule(verdicts, [s for _, s in requests], has_token=bool(record.secrets))


def _rule(verdicts: set[str], request_statuses: list[str], *, has_token: bool) -> str:
    if Status.REVIEW in request_statuses:
        return Review.IN_REVIEW
    if "rejected" in verdicts:
        return Review.REJECTED
    if "resubmit" in verdicts:
        return Review.RESUBMIT
    if "missing" in verdicts or "waiting" in verdicts:
        return Review.WAITING
    if "pending" in verdicts:
        return Review.IN_REVIEW
    if verdicts:
        return Review.APPROVED
    newest = request_statuses[0] if request_statuses else None
    if newest == Status.COMPLETED:
        return Review.APPROVED
    if newest == Status.REJECTED:
        return Review.REJECTED
    if newest in _OPEN or has_token:
        return Review.WAITING
    return Review.NOT_FOUND


# --- storing it ----------------------------------------------------------------------


def _audit(
    record: KYCRecord, *, actor: Any, action: str, detail: dict[str, Any], about: Any = None
) -> None:
    """An audit entry in the record's merchant's chain about the record (or `about`, one
    of its fields or certificates)."""
    obj = record if about is None else about
    audit_write(
        actor=actor,
        merchant=record.merchant_id,
        action=action,
        object_type=obj._meta.label,
        object_id=str(obj.pk),
        detail=detail,
    )


def _item_audit(
    record: KYCRecord, item: IdentityField | Certificate, *, actor: Any, old: Any
) -> None:
    """One item's verdict (which item by its key or slug; never its value)."""
    _audit(
        record,
        actor=actor,
        action=AUDIT_ITEM_DECIDED,
        about=item,
        detail={
            "record": record.pk,
            "item": item.key if isinstance(item, IdentityField) else item.slug,
            "from": old,
            "to": item.status,
            "allow_resubmit": item.allow_resubmit,
        },
    )


def _copy_review(record: KYCRecord, locked: KYCRecord) -> None:
    for name in _REVIEW_FIELDS:
        setattr(record, name, getattr(locked, name))


def _decided_event(record: KYCRecord, *, decided_by: str) -> None:
    outbox.webhook_message_create(
        merchant=record.merchant_id,
        type=outbox.RECORD_REVIEW_DECIDED,
        data={
            **outbox.record_data(record),
            "review_reason": record.review_reason,
            "decided_by": decided_by,
        },
        object_type="record",
        object_id=str(record.pk),
    )


def _refresh(record_id: int, *, actor: Any, reason: str) -> KYCRecord | None:
    with transaction.atomic():
        locked = KYCRecord.objects.select_for_update().filter(pk=record_id).first()
        if locked is None:
            return None
        old, new = locked.review_status, record_review_compute(locked)
        if new == old:
            return locked
        locked.review_status = new
        if new == Review.IN_REVIEW:
            locked.review_since = timezone.now()
            # A new round: the old verdict's reason and message are done.
            locked.review_reason = locked.review_comment = ""
        else:
            locked.review_since = None
        locked.save(update_fields=list(_REVIEW_FIELDS))
        _audit(
            locked,
            actor=actor,
            action=AUDIT_STATUS_CHANGED,
            detail={"from": old, "to": new, **({"reason": reason} if reason else {})},
        )
        if new in DECIDED:
            _decided_event(locked, decided_by="staff" if actor is not None else "provider")
    return locked


def record_review_refresh(*, record: KYCRecord, actor: Any = None, reason: str = "") -> str:
    """Compute and store the review status; on a change, keep `review_since` (set on
    entering In review, cleared on leaving it), write an audit entry and, when the
    change is a decision, send `record.review_decided` (all in one transaction).
    `actor`: the staff member whose action caused it (None: the provider or the system)."""
    locked = _refresh(record.pk, actor=actor, reason=reason)
    if locked is None:
        return record.review_status
    _copy_review(record, locked)
    return locked.review_status


def record_review_refresh_by_id(*, record_id: int, actor: Any = None, reason: str = "") -> str:
    locked = _refresh(record_id, actor=actor, reason=reason)
    return locked.review_status if locked is not None else ""


def record_review_refresh_on_commit(*, record_id: int | None, reason: str = "") -> None:
    """After the surrounding transaction commits (or now, outside one)."""
    if record_id is None:
        return
    transaction.on_commit(
        lambda: record_review_refresh_by_id(record_id=record_id, reason=reason), robust=True
    )


# --- staff decisions -------------------------------------------------------------------


def resubmit_supported(record: KYCRecord) -> bool:
    """Whether the record's provider lets the customer send data again (Blockpass)."""
    provider = registry.find(record.provider)
    return bool(provider is not None and getattr(provider, "review_resubmit", False))


def record_review_decisions(record: KYCRecord) -> list[str]:
    """The decisions staff can make on this record now (none: nothing to decide)."""
    if record.erased_at is not None:
        return []
    in_review = TransferRequest.objects.filter(record=record, status=Status.REVIEW).exists()
    if not in_review and not _current_items(record):
        return []
    return [d for d in DECISIONS if d != "resubmit" or resubmit_supported(record)]


def _check(record: KYCRecord, decision: str, reason_code: str) -> None:
    if decision not in DECISIONS:
        raise ReviewRefused("Choose approve, reject or ask to resubmit.")
    if decision == "approve":
        if reason_code and reason_code not in (APPROVED_REASON, *REVIEW_REASONS):
            raise ReviewRefused("Unknown reason.")
    elif reason_code not in REVIEW_REASONS:
        raise ReviewRefused("A rejection or a request to resubmit needs a reason for the customer.")
    if record.erased_at is not None:
        raise ReviewRefused("This customer's data was erased: there is nothing to decide on.")
    if decision == "resubmit" and not resubmit_supported(record):
        raise ReviewRefused(
            f"{record.get_provider_display() or 'This provider'} cannot ask the customer "
            "to send data again; reject and start a new verification instead."
        )
    if not record_review_decisions(record):
        raise ReviewRefused("Nothing to decide yet: no data has arrived for this record.")


def _requests_decide(
    *, transfers: list[TransferRequest], approve: bool, label: str, actor: Any
) -> None:
    """Requests waiting for review, through their provider's own decision code where it
    has one (Incode also approves at Incode), else kyc.services.transfer_review."""
    from kyc import services

    for t in transfers:
        provider = registry.find(t.provider)
        handled = provider is not None and provider.review_decide(
            transfer_id=str(t.pk), approve=approve, reason=label, actor=actor
        )
        if not handled:
            services.transfer_review(transfer=t, approve=approve, reason=label, actor=actor)


def _items_decide(*, items: list[IdentityField | Certificate], decision: str, label: str) -> None:
    """The verdict on every current field and certificate (queryset updates: no signals)."""
    state = ReviewState.APPROVED if decision == "approve" else ReviewState.REJECTED
    values: dict[str, Any] = {
        "status": state,
        "allow_resubmit": decision == "resubmit",
        "comment": "" if decision == "approve" else label,
    }
    IdentityField.objects.filter(
        pk__in=[i.pk for i in items if isinstance(i, IdentityField)]
    ).update(**values)
    Certificate.objects.filter(pk__in=[i.pk for i in items if isinstance(i, Certificate)]).update(
        **values
    )


def record_review_decide(
    *, record: KYCRecord, actor: Any, decision: str, reason_code: str, note: str = ""
) -> str:
    """Approve, reject or ask to resubmit a record, from any provider's screen.

    The requests waiting for review are decided through their provider (the label of
    `reason_code` is what the customer is shown), every current field and certificate
    gets the verdict, the record keeps the reason code and the customer-visible text,
    one audit entry says who decided what and why (the code; `note` is the reviewer's
    internal note, kept in the audit entry: no personal data in it), then the status is
    recomputed (record.review_decided is sent when it changes). Returns the new status.
    Raises ReviewRefused when the decision cannot be made."""
    _check(record, decision, reason_code)
    code = reason_code or (APPROVED_REASON if decision == "approve" else "")
    label = REVIEW_REASONS.get(code, "")
    with transaction.atomic():
        # Lock order as kyc.services.transfer_apply and a Blockpass upload: the requests,
        # the fields and certificates, then the record (never the other way round).
        list(
            TransferRequest.objects.select_for_update().filter(record=record, status=Status.REVIEW)
        )
        list(IdentityField.objects.select_for_update().filter(record=record).values_list("pk"))
        list(Certificate.objects.select_for_update().filter(record=record).values_list("pk"))
        locked = KYCRecord.objects.select_for_update().get(pk=record.pk)
        old = locked.review_status
        locked.review_reason = code
        locked.review_comment = label
        locked.save(update_fields=["review_reason", "review_comment", "updated_at"])
        items = _current_items(locked)
        transfers = list(TransferRequest.objects.filter(record=locked, status=Status.REVIEW))
        _audit(
            locked,
            actor=actor,
            action=AUDIT_DECIDED,
            detail={
                "decision": decision,
                "reason_code": code,
                "provider": locked.provider,
                "requests": [str(t.pk) for t in transfers],
                "fields": sum(isinstance(i, IdentityField) for i in items),
                "certificates": sum(isinstance(i, Certificate) for i in items),
                **({"note": note[:1000]} if note else {}),
            },
        )
        # The items first: deciding a request recomputes the status from them.
        _items_decide(items=items, decision=decision, label=label)
        _requests_decide(
            transfers=transfers, approve=decision == "approve", label=label, actor=actor
        )
        new = record_review_refresh(record=locked, actor=actor, reason=f"{decision}:{code}")
        if new == old and new in DECIDED:
            # Decided again to the same status (e.g. approving an auto-approved record):
            # the merchant still hears of the staff decision.
            _decided_event(locked, decided_by="staff")
    _copy_review(record, locked)
    return new


def record_review_assign(*, record: KYCRecord, actor: Any, assignee: Any) -> KYCRecord:
    """Take (assignee = actor) or hand over a review; None unassigns. Audited."""
    with transaction.atomic():
        locked = KYCRecord.objects.select_for_update().get(pk=record.pk)
        old = locked.review_assignee_id
        new = assignee.pk if getattr(assignee, "pk", None) else None
        if old != new:
            locked.review_assignee_id = new
            locked.save(update_fields=["review_assignee", "updated_at"])
            _audit(locked, actor=actor, action=AUDIT_ASSIGNED, detail={"from": old, "to": new})
    record.review_assignee_id = locked.review_assignee_id
    return record


def review_item_decide(
    *,
    item: IdentityField | Certificate,
    actor: Any,
    status: str,
    comment: str = "",
    allow_resubmit: bool = False,
) -> str:
    """One field's or certificate's verdict (Blockpass reviews item by item). Audited
    (which item by its key or slug, the verdict; never its value); then the record's
    status is recomputed. Returns the record's new status."""
    if status not in ReviewState.values:
        raise ReviewRefused("Unknown verdict.")
    record = item.record
    if record is None:
        raise ReviewRefused("This certificate belongs to no customer record.")
    model = type(item)
    with transaction.atomic():
        old = model.objects.filter(pk=item.pk).values_list("status", flat=True).first()
        model.objects.filter(pk=item.pk).update(
            status=status, comment=comment[:2000], allow_resubmit=allow_resubmit
        )
        item.status, item.comment, item.allow_resubmit = status, comment, allow_resubmit
        _item_audit(record, item, actor=actor, old=old)
        return record_review_refresh(record=record, actor=actor, reason="item reviewed")


def review_items_audit(
    *, record: KYCRecord, actor: Any, changes: Iterable[tuple[IdentityField | Certificate, str]]
) -> None:
    """Items already saved (e.g. an admin inline): audit each verdict change, given as
    (item, old status), then recompute the record's status."""
    with transaction.atomic():
        for item, old in changes:
            _item_audit(record, item, actor=actor, old=old)
        record_review_refresh(record=record, actor=actor, reason="items reviewed")


# --- the queue ---------------------------------------------------------------------------


def review_queue(qs: QuerySet[KYCRecord] | None = None) -> QuerySet[KYCRecord]:
    """Records waiting for a decision, oldest first (callers scope `qs` to merchants)."""
    base = KYCRecord.objects.all() if qs is None else qs
    return base.filter(review_status=Review.IN_REVIEW).order_by("review_since", "pk")


def review_due_at(record: KYCRecord) -> dt.datetime | None:
    """When the merchant's review SLA runs out for this record (None: not in review)."""
    if record.review_status != Review.IN_REVIEW or record.review_since is None:
        return None
    return record.review_since + dt.timedelta(hours=record.merchant.review_sla_hours)


def review_overdue(record: KYCRecord, *, now: dt.datetime | None = None) -> bool:
    due = review_due_at(record)
    return due is not None and (now or timezone.now()) > due
