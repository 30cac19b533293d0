"""Records and their evidence: KYC records (with their fields and certificates inline),
identity fields (masked; reveal is audited), certificate promises, certificates."""

from __future__ import annotations

from typing import Any

from django.contrib import admin
from django.core.exceptions import PermissionDenied
from django.db.models import QuerySet
from django.http import Http404, HttpRequest, HttpResponse
from django.template.response import TemplateResponse
from django.urls import path, reverse
from django.utils.html import format_html

import kyc.admin.review as admin_review
from kyc import permissions, review, services
from kyc.admin.base import (
    EvidenceAdmin,
    MerchantFilter,
    MerchantScopedAdmin,
    ReadOnlyAdmin,
    merchant_id_of,
)
from kyc.admin.columns import badge_column, changelist_link, review_link, time_column
from kyc.admin.confirm import confirm_action, confirmed
from kyc.models import Certificate, CertPromise, IdentityField, KYCRecord, TransferRequest
from kyc.permissions import Action

MASK = "•••• hidden"
_VERDICT_FIELDS = {"status", "comment", "allow_resubmit"}
# A certificate as its reviewer sees it on the record and on its own page: what it is,
# then the verdict.
_CERTIFICATE_REVIEW = ("provider", "slug", "external_id", "status", "comment", "allow_resubmit")


class ReviewInline(admin.TabularInline):
    """Inline rows of a record whose status and comment are a reviewer's decision; every
    other field is read-only, and rows are neither added nor deleted here."""

    merchant_path = "merchant"  # of the parent object the inline is shown on
    extra = 0
    can_delete = False

    def get_readonly_fields(self, request: HttpRequest, obj: Any = None) -> Any:
        return tuple(f for f in self.fields or () if f not in _VERDICT_FIELDS)

    def has_add_permission(self, request: HttpRequest, obj: Any = None) -> bool:
        return False

    def has_change_permission(self, request: HttpRequest, obj: Any = None) -> bool:
        merchant = None if obj is None else merchant_id_of(obj, self.merchant_path)
        return super().has_change_permission(request, obj) and permissions.allows(
            request.user, Action.REVIEW, merchant
        )


class IdentityFieldInline(ReviewInline):
    model = IdentityField
    fields = (
        "provider",
        "key",
        "masked_value",
        "status",
        "comment",
        "allow_resubmit",
        "received",
        "erased_at",
    )
    can_reveal = False  # set per request by KYCRecordAdmin.get_inline_instances

    @admin.display(description="Value")
    def masked_value(self, obj: IdentityField) -> str:
        return _reveal_link(obj, self.can_reveal)

    received = time_column("received_at", "received")


class CertificateInline(ReviewInline):
    model = Certificate
    fk_name = "record"
    fields = (*_CERTIFICATE_REVIEW, "created", "erased_at")
    created = time_column("created_at", "created")


def _reveal_link(obj: IdentityField, can_reveal: bool) -> str:
    """The masked value, and for those who may reveal, a link to the reveal form (GET
    shows the form; only its POST, with a purpose, reveals)."""
    if obj.erased_at:
        return f"erased {obj.erased_at:%Y-%m-%d}"
    if not can_reveal:
        return MASK
    url = reverse("admin:kyc_identityfield_reveal", args=[obj.pk])
    return format_html('{} <a href="{}">reveal…</a>', MASK, url)


def _can_reveal_somewhere(request: HttpRequest) -> bool:
    return permissions.can_anywhere(request.user, Action.REVEAL_PII)


@admin.register(KYCRecord)
class KYCRecordAdmin(MerchantScopedAdmin):
    list_display = (
        "reference_link",
        "merchant",
        "provider",
        "review_badge",
        "review_assignee",
        "created",
        "erased_at",
    )
    list_display_links = None
    list_filter = ("review_status", "provider", MerchantFilter)
    search_fields = ("reference",)
    list_select_related = ("merchant", "review_assignee")
    show_full_result_count = False
    date_hierarchy = "created_at"
    fields = readonly_fields = (
        "merchant",
        "reference",
        "provider",
        "review_page",
        "review_status",
        "review_reason",
        "review_comment",
        "review_assignee",
        "review_since",
        "requests",
        "created",
        "updated",
        "erased_at",
    )
    inlines = (IdentityFieldInline, CertificateInline)
    actions = ("erase_pii",)
    # The decision (status, reason, the customer's text) is taken on the review page
    # through kyc.review, audited; here a reviewer only sets per-item verdicts (Blockpass
    # reviews item by item), each audited through kyc.review as well.
    change_rule = Action.REVIEW

    @admin.display(description="reference", ordering="reference")
    def reference_link(self, obj: KYCRecord) -> str:
        return review_link(obj.pk, obj)

    review_badge = badge_column("review_status", "review status")
    created = time_column("created_at", "created", short=True)
    updated = time_column("updated_at", "updated")

    @admin.display(description="review page")
    def review_page(self, obj: KYCRecord) -> str:
        return format_html(
            '<a class="button" href="{}">Open the review page (all evidence)</a>',
            reverse("admin:kyc_kycrecord_review", args=[obj.pk]),
        )

    @admin.display(description="requests")
    def requests(self, obj: KYCRecord) -> str:
        n = obj.transfers.count()
        return changelist_link(TransferRequest, f"{n} request(s)", record__id__exact=obj.pk)

    def get_inline_instances(self, request: HttpRequest, obj: Any = None) -> list[Any]:
        instances = super().get_inline_instances(request, obj)
        reveal_ok = obj is not None and permissions.can(
            request.user, obj.merchant_id, Action.REVEAL_PII
        )
        for inline in instances:
            if isinstance(inline, IdentityFieldInline):
                inline.can_reveal = reveal_ok
        return instances

    def get_readonly_fields(self, request: HttpRequest, obj: Any = None) -> Any:
        # The review status changes only through the review service (review page).
        return self.readonly_fields

    def save_formset(self, request: HttpRequest, form: Any, formset: Any, change: bool) -> None:
        # A verdict on a field or certificate (Blockpass reviews item by item) is a review
        # decision: audited through kyc.review, which then recomputes the record's status.
        changes = [
            (item_form.instance, item_form.initial.get("status", ""))
            for item_form in formset.forms
            if item_form.instance.pk and set(item_form.changed_data) & _VERDICT_FIELDS
        ]
        super().save_formset(request, form, formset, change)
        if changes:
            review.review_items_audit(record=form.instance, actor=request.user, changes=changes)

    def get_urls(self) -> list:
        wrap = self.admin_site.admin_view
        return [
            path("queue/", wrap(self.queue_view), name="kyc_kycrecord_queue"),
            path("<int:pk>/review/", wrap(self.review_view), name="kyc_kycrecord_review"),
            path("<int:pk>/assign/", wrap(self.assign_view), name="kyc_kycrecord_assign"),
            path("<int:pk>/reveal/", wrap(self.reveal_view), name="kyc_kycrecord_reveal"),
            path("<int:pk>/erase/", wrap(self.erase_view), name="kyc_kycrecord_erase"),
            *super().get_urls(),
        ]

    def queue_view(self, request: HttpRequest) -> HttpResponse:
        if not self.has_view_permission(request):
            raise PermissionDenied
        return admin_review.queue_view(self, request)

    def review_view(self, request: HttpRequest, pk: int) -> HttpResponse:
        return admin_review.review_view(self, request, pk)

    def assign_view(self, request: HttpRequest, pk: int) -> HttpResponse:
        return admin_review.assign_view(self, request, pk)

    def reveal_view(self, request: HttpRequest, pk: int) -> HttpResponse:
        field = request.GET.get("field", "")
        return admin_review.reveal_view(self, request, pk, int(field) if field.isdigit() else None)

    def erase_view(self, request: HttpRequest, pk: int) -> HttpResponse:
        return admin_review.erase_view(self, request, pk)

    @admin.action(description="Erase this customer's personal data now…", permissions=["erase"])
    def erase_pii(self, request: HttpRequest, queryset: QuerySet) -> TemplateResponse | None:
        allowed = self.permitted(request, queryset, Action.ERASE).filter(erased_at__isnull=True)
        reason = (request.POST.get("reason") or "").strip()[:500]
        if not confirmed(request) or not reason:
            return confirm_action(
                self,
                request,
                allowed,
                action="erase_pii",
                title="Erase these customers' personal data?",
                what=(
                    "Every stored identity value, certificate file, provider delivery body "
                    "and customer identifier of these records is erased now. This cannot be "
                    "undone; the rows stay and say what was erased and when."
                ),
                counts=admin_review.erase_counts(list(allowed)),
                confirm_label="Yes, erase it now",
                reason_kind="text",
                reason_label="Why is this data erased now? (recorded in the audit log)",
                error="Say why this data is erased now; the reason is recorded."
                if confirmed(request)
                else "",
            )
        records = list(allowed)
        for record in records:
            services.record_erase(record=record, actor=request.user, reason=reason)
        self.message_user(request, f"Erased personal data of {len(records)} record(s).")
        return None


@admin.register(IdentityField)
class IdentityFieldAdmin(ReadOnlyAdmin):
    merchant_path = "record__merchant"
    list_display = ("key", "record", "provider", "status", "masked", "received")
    list_filter = ("provider", "status")
    list_select_related = ("record",)
    date_hierarchy = "received_at"

    @admin.display(description="Value")
    def masked(self, obj: IdentityField) -> str:
        return _reveal_link(obj, False)

    @admin.display(description="Value")
    def masked_revealable(self, obj: IdentityField) -> str:
        return _reveal_link(obj, True)

    received = time_column("received_at", "received", short=True)

    @admin.display(description="record")
    def record_link(self, obj: IdentityField) -> str:
        return review_link(obj.record_id, obj.record)

    def get_list_display(self, request: HttpRequest) -> Any:
        if _can_reveal_somewhere(request):
            return tuple("masked_revealable" if c == "masked" else c for c in self.list_display)
        return self.list_display

    def get_fields(self, request: HttpRequest, obj: Any = None) -> Any:
        reveal_ok = obj is not None and permissions.can(
            request.user, merchant_id_of(obj, self.merchant_path), Action.REVEAL_PII
        )
        return [
            "record_link",
            "provider",
            "key",
            "masked_revealable" if reveal_ok else "masked",
            "status",
            "comment",
            "allow_resubmit",
            "received",
            "erased_at",
        ]

    def get_readonly_fields(self, request: HttpRequest, obj: Any = None) -> Any:
        return self.get_fields(request, obj)

    def get_urls(self) -> list:
        return [
            path(
                "<int:pk>/reveal/",
                self.admin_site.admin_view(self.reveal_view),
                name="kyc_identityfield_reveal",
            ),
            *super().get_urls(),
        ]

    def reveal_view(self, request: HttpRequest, pk: int) -> HttpResponse:
        """The record's reveal form with this field chosen (GET reveals nothing; the POST
        with a purpose reveals, audited once)."""
        field = self.get_queryset(request).select_related("record__merchant").filter(pk=pk).first()
        if field is None:
            raise Http404("No such field")
        record_admin = self.admin_site._registry[KYCRecord]
        return admin_review.reveal_view(record_admin, request, field.record_id, field.pk)


@admin.register(CertPromise)
class CertPromiseAdmin(MerchantScopedAdmin):
    actions = ("retry_pull",)  # rows are written by the pull, never by hand

    @admin.action(description="Retry the pull of selected failed promises", permissions=["retry"])
    def retry_pull(self, request: HttpRequest, queryset: QuerySet) -> None:
        # Re-armed promises are pulled by the provider flow's reconcile() within a minute.
        allowed = self.permitted(request, queryset, Action.RETRY)
        count = services.cert_promise_retry(
            promise_ids=list(allowed.values_list("pk", flat=True)), actor=request.user
        )
        self.message_user(
            request, f"{count} failed promise(s) will be pulled again within a minute."
        )

    list_display = (
        "promise_id",
        "merchant",
        "record",
        "state",
        "attempts",
        "last_error",
        "updated_at",
    )
    list_filter = ("state", MerchantFilter)
    search_fields = ("promise_id",)
    readonly_fields = (
        "merchant",
        "record",
        "provider",
        "promise_id",
        "state",
        "attempts",
        "last_error",
        "next_attempt_at",
        "created_at",
        "updated_at",
    )


@admin.register(Certificate)
class CertificateAdmin(EvidenceAdmin):
    list_display = (
        "slug",
        "external_id",
        "merchant",
        "record_link",
        "status_badge",
        "batch_id",
        "created",
    )
    list_filter = ("provider", "status", MerchantFilter)
    search_fields = ("external_id", "slug", "batch_id")
    list_select_related = ("merchant", "record")
    show_full_result_count = False
    date_hierarchy = "created_at"
    fields = (
        "merchant",
        "record_link",
        *_CERTIFICATE_REVIEW,
        "recipient_id",
        "course_id",
        "batch_id",
        "download_url",
        "created",
        "erased_at",
    )
    readonly_fields = tuple(f for f in fields if f not in _VERDICT_FIELDS)
    autocomplete_fields = ()
    change_rule = Action.REVIEW  # status, comment, allow_resubmit; erased, not deleted by staff

    @admin.display(description="record")
    def record_link(self, obj: Certificate) -> str:
        return review_link(obj.record_id, obj.record)

    status_badge = badge_column("status", "status")
    created = time_column("created_at", "created", short=True)

    def save_model(self, request: HttpRequest, obj: Any, form: Any, change: bool) -> None:
        old = form.initial.get("status", "")
        super().save_model(request, obj, form, change)
        if set(form.changed_data) & _VERDICT_FIELDS:
            if obj.record_id:
                review.review_items_audit(
                    record=obj.record, actor=request.user, changes=[(obj, old)]
                )
            else:
                services.audit_log(
                    actor=request.user,
                    action="certificate.reviewed",
                    obj=obj,
                    detail={"slug": obj.slug, "from": old, "to": obj.status, "via": "admin"},
                )
