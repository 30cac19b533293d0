"""Verification requests and their append-only events; approve or reject those in review."""

from __future__ import annotations

from typing import Any

from django import forms
from django.contrib import admin, messages
from django.db.models import QuerySet
from django.http import HttpRequest
from django.template.response import TemplateResponse
from django.utils.html import format_html

import kyc.admin.review as admin_review
from kyc import services
from kyc.admin.base import EvidenceAdmin, LinkedListsMixin, MerchantFilter, MerchantScopedAdmin
from kyc.admin.columns import (
    admin_link,
    badge_column,
    changelist_link,
    review_link,
    table_column,
    time_column,
)
from kyc.admin.confirm import confirm_action, confirmed
from kyc.models import InboundEvent, TransferEvent, TransferRequest
from kyc.permissions import Action
from kyc.status import Status


class TransferEventInline(admin.TabularInline):  # append-only history
    model = TransferEvent
    extra = 0
    fields = ("at", "kind", "status", "provider_status", "tx_hash", "detail", "source", "delivery")
    readonly_fields = fields
    can_delete = False
    classes = ("evidence-inline",)

    def has_add_permission(self, request: HttpRequest, obj: Any = None) -> bool:
        return False

    def has_change_permission(self, request: HttpRequest, obj: Any = None) -> bool:
        return False

    def has_delete_permission(self, request: HttpRequest, obj: Any = None) -> bool:
        return False

    at = time_column("created_at", "at")

    @admin.display(description="delivery")
    def delivery(self, obj: TransferEvent) -> str:
        """The stored provider delivery this event came from, if any."""
        return admin_link(obj.inbound, f"#{obj.inbound_id}") if obj.inbound_id else "—"


class TransferRejectForm(forms.Form):
    reason_code = forms.CharField()
    note = forms.CharField(required=False, max_length=2000)


@admin.register(TransferRequest)
class TransferRequestAdmin(LinkedListsMixin, MerchantScopedAdmin):
    link_lookups = frozenset({"record__id__exact"})
    list_display = (
        "reference",
        "merchant",
        "provider",
        "status_badge",
        "provider_status",
        "created",
    )
    list_display_links = ("reference",)
    list_filter = ("status", "provider", MerchantFilter)
    search_fields = ("reference", "provider_ref")
    list_select_related = ("merchant",)
    show_full_result_count = False
    date_hierarchy = "created_at"
    ordering = ("-created_at",)
    readonly_fields = (
        "id",
        "merchant",
        "account",
        "provider",
        "record_link",
        "reference",
        "items_table",
        "status_badge",
        "provider_status",
        "failure_code",
        "status_detail",
        "provider_ref",
        "provider_data_table",
        "deliveries",
        "expires",
        "created",
        "updated",
        "last_heard",
        "completed",
    )
    fields = readonly_fields
    inlines = (TransferEventInline,)
    actions = ("approve", "reject")
    # Started from the "New verification" page or the API; every field is read-only here
    # and a request is never deleted (its events are append-only history).

    status_badge = badge_column("status", "status")

    @admin.display(description="record")
    def record_link(self, obj: TransferRequest) -> str:
        if obj.record_id is None:
            return "—"
        return format_html(
            "{} ({})", admin_link(obj.record), review_link(obj.record_id, "review page")
        )

    items_table = table_column("items", "items")
    provider_data_table = table_column("provider_data", "provider data")

    @admin.display(description="deliveries")
    def deliveries(self, obj: TransferRequest) -> str:
        n = obj.inbound_events.count()
        return changelist_link(InboundEvent, f"{n} delivery(ies)", transfer__id__exact=obj.pk)

    created = time_column("created_at", "created", short=True)
    updated = time_column("updated_at", "updated")
    expires = time_column("expires_at", "expires")
    last_heard = time_column("last_heard_at", "last heard from the provider")
    completed = time_column("completed_at", "completed")

    def in_review(self, request: HttpRequest, queryset: QuerySet) -> QuerySet:
        """The selected requests this user may decide on that are waiting in review."""
        return self.permitted(request, queryset, Action.REVIEW).filter(status=Status.REVIEW)

    def report_reviewed(self, request: HttpRequest, done: int, verb: str) -> None:
        self.message_user(
            request,
            f"{done} request(s) {verb} (only requests in review change).",
            messages.SUCCESS if done else messages.WARNING,
        )

    @admin.action(description="Approve selected requests in review", permissions=["review"])
    def approve(self, request: HttpRequest, queryset: QuerySet) -> None:
        done = 0
        for t in self.in_review(request, queryset):
            done += services.transfer_review(
                transfer=t, approve=True, reason="", actor=request.user
            )
        self.report_reviewed(request, done, "approved")

    @admin.action(description="Reject selected requests in review…", permissions=["review"])
    def reject(self, request: HttpRequest, queryset: QuerySet) -> TemplateResponse | None:
        allowed = self.in_review(request, queryset)
        reasons = dict(admin_review.review_reasons())
        code = request.POST.get("reason_code", "")
        note = (request.POST.get("note") or "").strip()[:2000]
        if not confirmed(request) or code not in reasons:
            return confirm_action(
                self,
                request,
                allowed,
                action="reject",
                title="Reject these requests?",
                what=(
                    "Each request in review is rejected now: the customer's page shows the "
                    "reason you choose, the merchant's backend is told, and the decision is "
                    "audited with your note. Requests not in review are left as they are."
                ),
                counts={
                    admin_review.plural(
                        n, "request in review to reject", "requests in review to reject"
                    ): n
                    for n in [allowed.count()]
                },
                confirm_label="Yes, reject them",
                reason_kind="choice",
                reason_label="Reason shown to the customer",
                error="Choose the reason shown to the customer." if confirmed(request) else "",
            )
        done = 0
        for t in allowed:
            done += services.transfer_review(
                transfer=t, approve=False, reason=reasons[code], actor=request.user
            )
            services.audit_log(
                actor=request.user,
                action="review.reason",
                obj=t,
                detail={"decision": "reject", "reason_code": code, "note": note, "via": "bulk"},
            )
        self.report_reviewed(request, done, "rejected")
        return None


# What a transfer event is, in the list and on its page (which adds the detail before
# the source).
_EVENT_COLUMNS = ("transfer_link", "at", "kind", "status_badge", "provider_status", "tx_hash")


@admin.register(TransferEvent)
class TransferEventAdmin(LinkedListsMixin, EvidenceAdmin):
    link_lookups = frozenset({"inbound__id__exact", "transfer__id__exact"})
    merchant_path = "transfer__merchant"
    list_display = (*_EVENT_COLUMNS, "source", "delivery")
    list_display_links = ("at",)
    list_filter = ("kind", "status", "source")
    list_select_related = ("transfer",)
    date_hierarchy = "created_at"
    ordering = ("-created_at", "-id")
    fields = readonly_fields = (*_EVENT_COLUMNS, "detail", "source", "delivery")

    @admin.display(description="request")
    def transfer_link(self, obj: TransferEvent) -> str:
        return admin_link(obj.transfer, obj.transfer.reference)

    at = time_column("created_at", "at", short=True)
    status_badge = badge_column("status", "status")
    delivery = TransferEventInline.delivery
