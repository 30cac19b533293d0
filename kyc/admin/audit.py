"""The audit trail in the admin: its entries (evidence: nobody edits them, a superuser's
delete is audited), whether each merchant's hash chain is intact, and an export of a date
range as CSV or JSON (by permission; the export is itself audited by kyc.audit)."""

from __future__ import annotations

import datetime as dt
from typing import TYPE_CHECKING, Any

from django.contrib import admin, messages
from django.core.exceptions import PermissionDenied
from django.http import HttpRequest, HttpResponse
from django.shortcuts import redirect
from django.template.response import TemplateResponse
from django.urls import path, reverse
from django.utils import timezone
from django.utils.html import format_html

from kyc import permissions
from kyc.admin.base import EvidenceAdmin, MerchantFilter
from kyc.admin.columns import table_column, time_column
from kyc.models import AuditEntry, KYCRecord, Merchant
from kyc.permissions import Action

if TYPE_CHECKING:
    from django.contrib.admin import ModelAdmin


def chain_status(merchant: Merchant, *, full: bool = False) -> dict[str, Any]:
    """{merchant, ok, checked, broken_id, text, link} of the merchant's audit chain.

    Verified from the chain's stored head (only entries written since are read); a change
    before the head resets it, so the whole chain is walked then. `full`: walk it all."""
    from kyc.audit import chain_verify_from_head

    report = chain_verify_from_head(merchant, full=full)
    checked = report.checked
    if report.ok:
        text = f"Intact: {checked} chained entr{'y' if checked == 1 else 'ies'} verified"
        deleted = getattr(report, "deleted", 0)
        if deleted:
            text += f", {deleted} documented deletion{'' if deleted == 1 else 's'} by an operator"
        text += "."
        link = ""
    else:
        text = (
            f"Broken at entry #{report.first_broken_id}: an entry was edited, deleted or "
            "reordered outside the portal."
        )
        link = reverse("admin:kyc_auditentry_change", args=[report.first_broken_id])
    return {
        "merchant": merchant,
        "ok": report.ok,
        "checked": checked,
        "broken_id": report.first_broken_id,
        "text": text,
        "link": link,
    }


def _chain_merchants(request: HttpRequest) -> list[Merchant]:
    """The merchants whose chains the audit list shows (at most 20)."""
    return list(
        Merchant.objects.filter(
            pk__in=permissions.merchants_where(request.user, Action.VIEW)
        ).order_by("name")[:20]
    )


def verify_view(model_admin: ModelAdmin, request: HttpRequest) -> HttpResponse:
    """POST: walk every entry of the chains the list shows (not only those after the
    stored head), then back to the list, which shows the result."""
    if request.method == "POST":
        chains = [chain_status(m, full=True) for m in _chain_merchants(request)]
        broken = [c for c in chains if not c["ok"]]
        level = messages.ERROR if broken else messages.SUCCESS
        messages.add_message(
            request,
            level,
            f"Every entry verified: {len(chains) - len(broken)} chain(s) intact, "
            f"{len(broken)} broken.",
        )
    return redirect(reverse("admin:kyc_auditentry_changelist"))


def _date(value: str) -> dt.date | None:
    try:
        return dt.date.fromisoformat(value) if value else None
    except ValueError:
        raise ValueError(f"{value[:20]!r} is not a date (YYYY-MM-DD)") from None


def export_view(model_admin: ModelAdmin, request: HttpRequest) -> HttpResponse:
    """GET: the form (merchant, from, to, format). POST: the file."""
    ids = permissions.merchants_where(request.user, Action.EXPORT_AUDIT)
    if not ids:
        raise PermissionDenied("Exporting the audit trail needs an owner or compliance role.")
    merchants = list(Merchant.objects.filter(pk__in=ids).order_by("name"))
    today = timezone.localdate()
    form = {
        "merchant": str(merchants[0].pk) if merchants else "",
        "since": (today - dt.timedelta(days=30)).isoformat(),
        "until": today.isoformat(),
        "format": "csv",
    }
    error = ""
    if request.method == "POST":
        form = {k: (request.POST.get(k) or "").strip() for k in form}
        merchant = next((m for m in merchants if str(m.pk) == form["merchant"]), None)
        try:
            since, until = _date(form["since"]), _date(form["until"])
            if merchant is None:
                raise ValueError("Choose a merchant you may export.")
            if since and until and since > until:
                raise ValueError("The start date is after the end date.")
            if form["format"] not in ("csv", "json"):
                raise ValueError("Choose CSV or JSON.")
            from kyc.audit import audit_export

            export = audit_export(
                merchant=merchant,
                actor=request.user,
                since=since,
                until=until,
                format=form["format"],
            )
        except ValueError as exc:
            error = str(exc)
        else:
            response = HttpResponse(export.body, content_type=export.content_type)
            response["Content-Disposition"] = f'attachment; filename="{export.filename}"'
            response["Cache-Control"] = "no-store"
            return response
    return TemplateResponse(
        request,
        "admin/kyc/audit_export.html",
        {
            **model_admin.admin_site.each_context(request),
            "opts": model_admin.model._meta,
            "title": "Export the audit trail",
            "merchants": merchants,
            "form": form,
            "error": error,
        },
        status=400 if error else 200,
    )


@admin.register(AuditEntry)
class AuditEntryAdmin(EvidenceAdmin):
    list_display = ("when_at", "actor", "merchant", "action", "object_link")
    list_filter = ("action", MerchantFilter)
    search_fields = ("object_id", "action")
    date_hierarchy = "at"
    ordering = ("-at", "-id")
    fields = readonly_fields = (
        "when_at",
        "actor",
        "merchant",
        "action",
        "object_type",
        "object_id",
        "detail_table",
        "prev_hash",
        "hash",
    )

    when_at = time_column("at", "at", short=True)
    detail_table = table_column("detail", "detail")

    @admin.display(description="object")
    def object_link(self, obj: AuditEntry) -> str:
        """The object the entry is about, short, linked where the admin shows it."""
        if not obj.object_type:
            return "—"
        from django.apps import apps
        from django.urls import NoReverseMatch

        short = obj.object_id if len(obj.object_id) <= 12 else f"{obj.object_id[:8]}…"
        text = f"{obj.object_type.rpartition('.')[2]} {short}"
        try:
            model = apps.get_model(obj.object_type)
            if model is KYCRecord:
                url = reverse("admin:kyc_kycrecord_review", args=[obj.object_id])
            else:
                opts = model._meta
                url = reverse(
                    f"admin:{opts.app_label}_{opts.model_name}_change", args=[obj.object_id]
                )
        except (LookupError, ValueError, NoReverseMatch):
            return format_html('<span title="{}">{}</span>', obj.object_id, text)
        return format_html('<a href="{}" title="{}">{}</a>', url, obj.object_id, text)

    def get_list_display(self, request: HttpRequest) -> Any:
        # One merchant: its name in every row says nothing.
        if len(permissions.merchants_where(request.user, Action.VIEW)) <= 1:
            return tuple(c for c in self.list_display if c != "merchant")
        return self.list_display

    def get_urls(self) -> list:
        return [
            path(
                "verify/",
                self.admin_site.admin_view(self.verify_view),
                name="kyc_auditentry_verify",
            ),
            path(
                "export/",
                self.admin_site.admin_view(self.export_view),
                name="kyc_auditentry_export",
            ),
            *super().get_urls(),
        ]

    def changelist_view(self, request: HttpRequest, extra_context: Any = None) -> HttpResponse:
        extra = {
            **(extra_context or {}),
            "chains": [chain_status(m) for m in _chain_merchants(request)],
            "verify_url": reverse("admin:kyc_auditentry_verify"),
            "can_export": permissions.can_anywhere(request.user, Action.EXPORT_AUDIT),
            "export_url": reverse("admin:kyc_auditentry_export"),
        }
        return super().changelist_view(request, extra)

    def export_view(self, request: HttpRequest) -> HttpResponse:
        return export_view(self, request)

    def verify_view(self, request: HttpRequest) -> HttpResponse:
        return verify_view(self, request)
