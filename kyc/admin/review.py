"""The compliance workspace in the admin: the "Needs review" queue, the review page of a
record (all its evidence on one page, decide, assign, reveal), erase with a reason.

Views parse, ask kyc.permissions, call a service (kyc.review, kyc.reveal, kyc.services)
and render. Mounted by KYCRecordAdmin.get_urls (kyc/admin/records.py).
"""

from __future__ import annotations

import datetime as dt
from typing import TYPE_CHECKING, Any

from django.contrib import messages
from django.core.exceptions import PermissionDenied
from django.db.models import Count, Q
from django.http import Http404, HttpRequest, HttpResponse
from django.shortcuts import redirect
from django.template.response import TemplateResponse
from django.urls import reverse
from django.utils import timezone
from django.utils.html import format_html

from kyc import permissions, reveal, review, selectors, services
from kyc.models import AuditEntry, InboundEvent, KYCRecord, TransferRequest
from kyc.permissions import Action
from kyc.status import TERMINAL, Status

if TYPE_CHECKING:
    from django.contrib.admin import ModelAdmin

# --- badges: colour and text, never colour alone -----------------------------------

_TONES = {
    # review status of a record
    KYCRecord.Review.APPROVED: "ok",
    KYCRecord.Review.REJECTED: "bad",
    KYCRecord.Review.IN_REVIEW: "warn",
    KYCRecord.Review.RESUBMIT: "info",
    KYCRecord.Review.WAITING: "muted",
    KYCRecord.Review.NOT_FOUND: "muted",
    # request status
    Status.COMPLETED: "ok",
    Status.REVIEW: "warn",
    Status.FAILED: "bad",
    Status.DECLINED: "bad",
    Status.EXPIRED: "muted",
    Status.CANCELLED: "muted",
    Status.PENDING: "info",
    Status.ACCEPTED: "info",
    Status.PROCESSING: "info",
    Status.CREATED: "muted",
    # deliveries
    InboundEvent.State.PROCESSED: "ok",
    InboundEvent.State.REFUSED: "bad",
    InboundEvent.State.FAILED: "bad",
    InboundEvent.State.DUPLICATE: "muted",
    InboundEvent.State.IGNORED: "muted",
    InboundEvent.State.RECEIVED: "info",
    # fields and certificates
    "received": "info",
    "missing": "warn",
}


def badge(value: str, label: str) -> str:
    """A status badge: its text says the status; the colour only repeats it."""
    tone = _TONES.get(value, "muted")
    if value == Status.REJECTED:
        tone = "bad"
    return format_html('<span class="badge badge-{}">{}</span>', tone, label)


# --- ages and the SLA ----------------------------------------------------------------


def human_age(delta: dt.timedelta) -> str:
    seconds = max(0, int(delta.total_seconds()))
    days, rest = divmod(seconds, 86400)
    hours, rest = divmod(rest, 3600)
    minutes = rest // 60
    if days:
        return f"{days} d {hours} h"
    if hours:
        return f"{hours} h {minutes} min" if minutes else f"{hours} h"
    return f"{minutes} min"


def sla_state(
    waiting_since: dt.datetime | None, sla_hours: int, now: dt.datetime
) -> dict[str, str]:
    """{'tone', 'label', 'age'} of a wait against the merchant's SLA (hours)."""
    if waiting_since is None:
        return {"tone": "muted", "label": "Not waiting", "age": "—"}
    age = now - waiting_since
    limit = dt.timedelta(hours=sla_hours or 24)
    left = limit - age
    if left <= dt.timedelta(0):
        return {"tone": "bad", "label": f"Overdue by {human_age(-left)}", "age": human_age(age)}
    if left <= limit / 4:
        return {"tone": "warn", "label": f"Due soon: {human_age(left)} left", "age": human_age(age)}
    return {"tone": "ok", "label": f"On time: {human_age(left)} left", "age": human_age(age)}


# --- reasons and decisions (kyc.review) ------------------------------------------------


def review_reasons() -> list[tuple[str, str]]:
    """(code, customer-visible text) pairs staff choose from."""
    return list(review.REVIEW_REASONS.items())


def resubmit_supported(record: KYCRecord) -> bool:
    return review.resubmit_supported(record)


class DecisionRefused(Exception):
    pass


def record_decide(
    *, record: KYCRecord, actor: Any, decision: str, reason_code: str, note: str
) -> None:
    """Approve / reject / ask to resubmit, through kyc.review (audited there)."""
    try:
        review.record_review_decide(
            record=record, actor=actor, decision=decision, reason_code=reason_code, note=note
        )
    except review.ReviewRefused as exc:
        raise DecisionRefused(str(exc)) from exc


def record_assign(*, record: KYCRecord, actor: Any, assignee: Any) -> None:
    review.record_review_assign(record=record, actor=actor, assignee=assignee)


# --- helpers ------------------------------------------------------------------------


def _scoped_record(model_admin: ModelAdmin, request: HttpRequest, pk: int) -> KYCRecord:
    record = (
        model_admin.get_queryset(request)
        .select_related("merchant", "review_assignee")
        .filter(pk=pk)
        .first()
    )
    if record is None or not model_admin.has_view_permission(request, record):
        raise Http404("No such record")
    return record


def _context(model_admin: ModelAdmin, request: HttpRequest, **extra: Any) -> dict[str, Any]:
    return {
        **model_admin.admin_site.each_context(request),
        "opts": model_admin.model._meta,
        **extra,
    }


def _review_url(record: KYCRecord) -> str:
    return reverse("admin:kyc_kycrecord_review", args=[record.pk])


# --- the queue ------------------------------------------------------------------------


def queue_view(model_admin: ModelAdmin, request: HttpRequest) -> HttpResponse:
    user = request.user
    ids = permissions.merchants_where(user, Action.VIEW)
    qs = selectors.review_queue(ids).select_related("merchant", "review_assignee")
    qs = qs.annotate(
        in_review=Count("transfers", filter=Q(transfers__status=Status.REVIEW), distinct=True)
    )
    assignee = request.GET.get("assignee", "")
    if assignee == "me":
        qs = qs.filter(review_assignee_id=user.pk)
    elif assignee == "none":
        qs = qs.filter(review_assignee__isnull=True)
    elif assignee.isdigit():
        qs = qs.filter(review_assignee_id=int(assignee))
    provider = request.GET.get("provider", "")
    if provider:
        qs = qs.filter(provider=provider)
    now = timezone.now()
    total = qs.count()
    rows = []
    for record in qs[:200]:
        since = record.waiting_since  # type: ignore[attr-defined]
        sla = sla_state(since, record.merchant.review_sla_hours, now)
        rows.append(
            {
                "record": record,
                "sla": sla,
                "status": badge(record.review_status, record.get_review_status_display()),
                "can_review": permissions.can(user, record.merchant_id, Action.REVIEW),
                "url": _review_url(record),
            }
        )
    from django.contrib.auth import get_user_model

    assignees = (
        get_user_model()
        .objects.filter(assigned_reviews__in=selectors.review_queue(ids))
        .distinct()
        .order_by("username")
    )
    providers = sorted(
        {p for p in selectors.review_queue(ids).values_list("provider", flat=True) if p}
    )
    return TemplateResponse(
        request,
        "admin/kyc/review_queue.html",
        _context(
            model_admin,
            request,
            title="Needs review",
            rows=rows,
            total=total,
            shown=len(rows),
            assignee=assignee,
            provider=provider,
            assignees=assignees,
            providers=providers,
            now=now,
        ),
    )


def assign_view(model_admin: ModelAdmin, request: HttpRequest, pk: int) -> HttpResponse:
    if request.method != "POST":
        return redirect(_review_url(_scoped_record(model_admin, request, pk)))
    record = _scoped_record(model_admin, request, pk)
    if not permissions.can(request.user, record.merchant, Action.REVIEW):
        raise PermissionDenied("Assigning reviews needs a reviewer role at this merchant.")
    unassign = request.POST.get("unassign") == "1"
    record_assign(record=record, actor=request.user, assignee=None if unassign else request.user)
    messages.success(
        request,
        f"No longer assigned: {record.reference}."
        if unassign
        else f"Assigned to you: {record.reference}.",
    )
    target = request.POST.get("next") or ""
    if target == "queue":
        return redirect(reverse("admin:kyc_kycrecord_queue"))
    return redirect(_review_url(record))


# --- the review page --------------------------------------------------------------------


def review_view(model_admin: ModelAdmin, request: HttpRequest, pk: int) -> HttpResponse:
    record = _scoped_record(model_admin, request, pk)
    user = request.user
    can_review = permissions.can(user, record.merchant, Action.REVIEW)
    can_reveal = permissions.can(user, record.merchant, Action.REVEAL_PII)
    error = ""
    form = {"decision": "", "reason_code": "", "note": ""}
    if request.method == "POST":
        if not can_review:
            raise PermissionDenied("Deciding needs a reviewer role at this merchant.")
        form = {
            "decision": request.POST.get("decision", ""),
            "reason_code": request.POST.get("reason_code", ""),
            "note": (request.POST.get("note") or "").strip()[:2000],
        }
        try:
            record_decide(record=record, actor=user, **form)
        except DecisionRefused as exc:
            error = str(exc)
        else:
            record.refresh_from_db()
            done = {"approve": "approved", "reject": "rejected", "resubmit": "asked to resubmit"}
            messages.success(request, f"{record.reference}: {done[form['decision']]}.")
            return redirect(_review_url(record))
    return TemplateResponse(
        request,
        "admin/kyc/review.html",
        _review_context(model_admin, request, record, can_review, can_reveal, error, form),
        status=400 if error else 200,
    )


def _review_context(
    model_admin: ModelAdmin,
    request: HttpRequest,
    record: KYCRecord,
    can_review: bool,
    can_reveal: bool,
    error: str,
    form: dict[str, str],
) -> dict[str, Any]:
    now = timezone.now()
    values, grant = (
        reveal.revealed_values(record=record, session_key=request.session.session_key)
        if can_reveal
        else ({}, None)
    )
    fields = [
        {
            "field": f,
            "value": values.get(f.pk),
            "revealed": f.pk in values,
            "badge": badge(f.status, f.get_status_display()),
        }
        for f in record.fields.all().order_by("provider", "key")
    ]
    transfers = list(
        record.transfers.all()
        .select_related("account")
        .prefetch_related("events")
        .order_by("-created_at")
    )
    requests_ = [
        {
            "t": t,
            "badge": badge(t.status, t.get_status_display()),
            "url": reverse("admin:kyc_transferrequest_change", args=[t.pk]),
            "checks": {k: v for k, v in (t.provider_data or {}).items()},
            "events": list(t.events.all()),
        }
        for t in transfers
    ]
    deliveries = [
        {
            "e": e,
            "badge": badge(e.state, e.get_state_display()),
            "url": reverse("admin:kyc_inboundevent_change", args=[e.pk]),
        }
        for e in InboundEvent.objects.filter(transfer__record=record)
        .defer("body")
        .order_by("-received_at")[:100]
    ]
    # ID and selfie images where a provider keeps them: listed here, served only after a reveal.
    images = reveal.record_images(record, providers=[t.provider for t in transfers])
    decisions = review.record_review_decisions(record)
    waiting = record.review_status == KYCRecord.Review.IN_REVIEW or any(
        t.status == Status.REVIEW for t in transfers
    )
    since = record.review_since or (record.created_at if waiting else None)
    audit = AuditEntry.objects.filter(
        Q(object_type="kyc.KYCRecord", object_id=str(record.pk))
        | Q(object_type="kyc.TransferRequest", object_id__in=[str(t.pk) for t in transfers])
    ).select_related("actor")[:50]
    return _context(
        model_admin,
        request,
        title=f"Review {record.reference}",
        record=record,
        status_badge=badge(record.review_status, record.get_review_status_display()),
        sla=sla_state(since if waiting else None, record.merchant.review_sla_hours, now),
        waiting=waiting,
        can_review=can_review,
        can_decide=can_review and bool(decisions),
        decisions=decisions,
        can_reveal=can_reveal and record.erased_at is None,
        can_erase=permissions.can(request.user, record.merchant, Action.ERASE)
        and record.erased_at is None,
        resubmit="resubmit" in decisions,
        reasons=review_reasons(),
        fields=fields,
        grant=grant,
        purposes=reveal.PURPOSES,
        reveal_minutes=reveal.REVEAL_SECONDS // 60,
        certificates=record.certificates.all().order_by("-created_at"),
        requests=requests_,
        deliveries=deliveries,
        images=images,
        audit=audit,
        error=error,
        form=form,
        terminal=TERMINAL,
        change_url=reverse("admin:kyc_kycrecord_change", args=[record.pk]),
    )


# --- reveal ------------------------------------------------------------------------------


def reveal_view(
    model_admin: ModelAdmin, request: HttpRequest, pk: int, field_id: int | None = None
) -> HttpResponse:
    """GET: the reveal form (which values, why). POST: reveal them, and the record's ID
    and selfie images, for REVEAL_SECONDS, one audit entry, then back to the review page
    where they show. A record with images and no values is revealed for its images."""
    record = _scoped_record(model_admin, request, pk)
    if not permissions.can(request.user, record.merchant, Action.REVEAL_PII):
        raise PermissionDenied(
            "Revealing needs a compliance or owner role at this merchant and the "
            "'Can reveal personal data' permission."
        )
    fields = list(record.fields.filter(erased_at__isnull=True).order_by("provider", "key"))
    images = reveal.record_images(record)
    error = ""
    chosen = {field_id} if field_id else {f.pk for f in fields}
    purpose, note = "", ""
    if request.method == "POST":
        chosen = {int(v) for v in request.POST.getlist("fields") if v.isdigit()}
        purpose = request.POST.get("purpose", "")
        note = request.POST.get("note", "")
        if not request.session.session_key:
            request.session.save()
        try:
            grant = reveal.record_reveal(
                record=record,
                actor=request.user,
                session_key=request.session.session_key or "",
                field_ids=sorted(chosen),
                purpose=purpose,
                note=note,
                images=True,
            )
        except reveal.RevealRefused as exc:
            error = str(exc)
        else:
            messages.success(
                request,
                f"{grant.summary} shown for {reveal.REVEAL_SECONDS // 60} minutes; "
                "this reveal is in the audit log.",
            )
            return redirect(_review_url(record))
    return TemplateResponse(
        request,
        "admin/kyc/reveal.html",
        _context(
            model_admin,
            request,
            title=f"Reveal personal data of {record.reference}",
            record=record,
            fields=fields,
            images=images,
            chosen=chosen,
            purposes=reveal.PURPOSES,
            purpose=purpose,
            note=note,
            error=error,
            reveal_minutes=reveal.REVEAL_SECONDS // 60,
            review_url=_review_url(record),
        ),
        status=400 if error else 200,
    )


# --- erase one record (confirmation, reason) -------------------------------------------


def erase_counts(records: list[KYCRecord]) -> dict[str, int]:
    from kyc.models import Certificate, IdentityField

    ids = [r.pk for r in records]
    counts = [
        (len(ids), "record", "records"),
        (
            IdentityField.objects.filter(record__in=ids, erased_at__isnull=True).count(),
            "identity value",
            "identity values",
        ),
        (
            Certificate.objects.filter(record__in=ids, erased_at__isnull=True).count(),
            "certificate",
            "certificates",
        ),
        (
            InboundEvent.objects.filter(transfer__record__in=ids, erased_at__isnull=True).count(),
            "provider delivery",
            "provider deliveries",
        ),
        (TransferRequest.objects.filter(record__in=ids).count(), "request", "requests"),
    ]
    return {plural(n, one, many): n for n, one, many in counts}


def plural(n: int, one: str, many: str) -> str:
    return one if n == 1 else many


def erase_view(model_admin: ModelAdmin, request: HttpRequest, pk: int) -> HttpResponse:
    record = _scoped_record(model_admin, request, pk)
    if not permissions.can(request.user, record.merchant, Action.ERASE):
        raise PermissionDenied("Erasing needs a compliance or owner role at this merchant.")
    error = ""
    reason = ""
    if request.method == "POST":
        reason = (request.POST.get("reason") or "").strip()[:500]
        if record.erased_at is not None:
            error = "This customer's personal data is already erased."
        elif not reason:
            error = "Say why this customer's data is erased now; the reason is recorded."
        else:
            services.record_erase(record=record, actor=request.user, reason=reason)
            messages.success(request, f"Erased personal data of 1 record ({record.reference}).")
            return redirect(_review_url(record))
    return TemplateResponse(
        request,
        "admin/kyc/confirm.html",
        _context(
            model_admin,
            request,
            title="Erase this customer's personal data?",
            what=(
                "Every stored identity value, certificate file, provider delivery body and "
                "customer identifier of these records is erased now. This cannot be undone; "
                "the rows stay and say what was erased and when."
            ),
            counts=erase_counts([record]),
            objects=[record],
            reason_kind="text",
            reason=reason,
            reason_label="Why is this data erased now? (recorded in the audit log)",
            confirm_label="Yes, erase it now",
            error=error,
            back_url=_review_url(record),
            form_action="",
            hidden=[],
        ),
        status=400 if error else 200,
    )
