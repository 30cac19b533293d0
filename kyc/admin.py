"""Admin for compliance staff.

Staff who are not superusers see only their own merchants' rows: in changelists,
change pages (404 for others'), filters, foreign-key choices and autocomplete.
PII is masked; revealing a value needs the `kyc.reveal_pii` permission and is audited.
"""

from __future__ import annotations

from typing import Any

from django.contrib import admin, messages
from django.contrib.admin.views.main import ChangeList
from django.contrib.auth import get_user_model
from django.core.exceptions import PermissionDenied
from django.db.models import QuerySet
from django.http import Http404, HttpRequest, HttpResponse
from django.shortcuts import render
from django.urls import path, reverse
from django.utils.html import format_html

from kyc import selectors, services
from kyc.crypto import encrypted_fields
from kyc.models import (
    ApiKey,
    AuditEntry,
    Certificate,
    CertPromise,
    IdentityField,
    InboundEvent,
    KYCRecord,
    Membership,
    Merchant,
    ProviderAccount,
    TransferEvent,
    TransferRequest,
)
from kyc.status import Status

MASK = "•••• hidden"


def _merchant_field(model: Any) -> str | None:
    names = {f.name for f in model._meta.get_fields()}
    if model is Merchant:
        return "pk"
    if "merchant" in names:
        return "merchant"
    if "record" in names:
        return "record__merchant"
    if "transfer" in names:
        return "transfer__merchant"
    return None


class MerchantFilter(admin.SimpleListFilter):
    """Filter by merchant, listing only the user's merchants.

    Django's RelatedOnlyFieldListFilter runs SELECT DISTINCT merchant_id over the
    whole table on every changelist page (tens of ms at 100,000 rows).
    """

    title = "merchant"
    parameter_name = "merchant"

    def __init__(self, request: HttpRequest, params: Any, model: Any, model_admin: Any) -> None:
        self.merchant_path = getattr(model_admin, "merchant_path", "merchant")
        super().__init__(request, params, model, model_admin)

    def lookups(self, request: HttpRequest, model_admin: Any) -> list[tuple[Any, str]]:
        return [
            (m.pk, m.name)
            for m in selectors.merchants_for_user(request.user).order_by("name")[:200]
        ]

    def queryset(self, request: HttpRequest, queryset: QuerySet) -> QuerySet:
        value = self.value()
        if value and str(value).isdigit():
            return queryset.filter(**{self.merchant_path: int(value)})
        return queryset


class DeferEncryptedChangeList(ChangeList):
    """Changelists never show encrypted columns, so they are not fetched (nor decrypted)."""

    def get_queryset(self, request: HttpRequest, exclude_parameters: Any = None) -> QuerySet:
        qs = super().get_queryset(request, exclude_parameters)
        hidden = [f.name for f in encrypted_fields(self.model)]
        return qs.defer(*hidden) if hidden else qs


class MerchantScopedAdmin(admin.ModelAdmin):
    """Scopes everything a non-superuser sees to the merchants they belong to."""

    merchant_path: str = "merchant"

    def get_changelist(self, request: HttpRequest, **kwargs: Any) -> type[ChangeList]:
        return DeferEncryptedChangeList

    def get_ordering(self, request: HttpRequest) -> Any:
        # Newest first, and a stable order for pagination and autocomplete.
        return self.ordering or ("-pk",)

    def get_queryset(self, request: HttpRequest) -> QuerySet:
        qs = super().get_queryset(request)
        if request.user.is_superuser:
            return qs
        return qs.filter(
            **{f"{self.merchant_path}__in": selectors.merchant_ids_for_user(request.user)}
        )

    def formfield_for_foreignkey(self, db_field: Any, request: HttpRequest, **kwargs: Any) -> Any:
        if not request.user.is_superuser:
            ids = selectors.merchant_ids_for_user(request.user)
            rel = db_field.related_model
            if rel is get_user_model():
                kwargs["queryset"] = rel.objects.filter(memberships__merchant__in=ids).distinct()
            else:
                path_ = _merchant_field(rel)
                if path_:
                    kwargs["queryset"] = rel._default_manager.filter(**{f"{path_}__in": ids})
        return super().formfield_for_foreignkey(db_field, request, **kwargs)

    def get_fields(self, request: HttpRequest, obj: Any = None) -> Any:
        # Encrypted values (PII, provider secrets) never render as plain admin fields,
        # whatever a subclass forgets: they are revealed only through audited views.
        hidden = {f.name for f in encrypted_fields(self.model)}
        return [f for f in super().get_fields(request, obj) if f not in hidden]

    def _get_obj_does_not_exist_redirect(
        self, request: HttpRequest, opts: Any, object_id: str
    ) -> HttpResponse:
        # Another merchant's object is simply not there: 404, not a hint that it exists.
        raise Http404("No such object")


class ReadOnlyAdmin(MerchantScopedAdmin):
    def has_add_permission(self, request: HttpRequest, obj: Any = None) -> bool:
        return False

    def has_change_permission(self, request: HttpRequest, obj: Any = None) -> bool:
        return False

    def has_delete_permission(self, request: HttpRequest, obj: Any = None) -> bool:
        return False


@admin.register(Merchant)
class MerchantAdmin(MerchantScopedAdmin):
    merchant_path = "pk"
    list_display = ("name", "slug", "retention_days", "created_at")
    search_fields = ("name", "slug")
    prepopulated_fields = {"slug": ("name",)}


@admin.register(Membership)
class MembershipAdmin(MerchantScopedAdmin):
    list_display = ("user", "merchant", "role")
    list_filter = ("role", MerchantFilter)
    autocomplete_fields = ("merchant",)


@admin.register(ApiKey)
class ApiKeyAdmin(MerchantScopedAdmin):
    list_display = ("name", "prefix", "merchant", "created_at", "last_used_at", "revoked_at")
    list_filter = (MerchantFilter,)
    readonly_fields = ("prefix", "hashed", "created_at", "last_used_at", "revoked_at", "created_by")
    fields = ("merchant", "name", *readonly_fields)
    actions = ("revoke",)

    def has_add_permission(self, request: HttpRequest, obj: Any = None) -> bool:
        return (
            False  # keys are created on the merchant's API keys page, where the key is shown once
        )

    @admin.action(description="Revoke selected keys")
    def revoke(self, request: HttpRequest, queryset: QuerySet) -> None:
        for key in queryset:
            services.api_key_revoke(key=key, actor=request.user)


@admin.register(ProviderAccount)
class ProviderAccountAdmin(MerchantScopedAdmin):
    list_display = ("merchant", "provider", "enabled", "updated_at", "last_error")
    list_filter = ("provider", "enabled", MerchantFilter)
    readonly_fields = (
        "merchant",
        "provider",
        "configured_fields",
        "webhook_token",
        "last_error",
        "updated_at",
    )
    fields = (
        "merchant",
        "provider",
        "enabled",
        "configured_fields",
        "webhook_token",
        "last_error",
        "updated_at",
    )

    def has_add_permission(self, request: HttpRequest, obj: Any = None) -> bool:
        return False  # created from the merchant's provider settings pages

    def save_model(self, request: HttpRequest, obj: Any, form: Any, change: bool) -> None:
        # Every change to a provider account is audited, wherever it is made (names, never values).
        super().save_model(request, obj, form, change)
        if form.changed_data:
            services.audit_log(
                actor=request.user,
                action="provider_account.updated",
                obj=obj,
                detail={
                    "provider": obj.provider,
                    "changed_fields": sorted(form.changed_data),
                    "enabled": obj.enabled,
                    "via": "admin",
                },
            )

    @admin.display(description="Settings")
    def configured_fields(self, obj: ProviderAccount) -> str:
        # Names only: values (secrets among them) are edited on the settings page, never shown here.
        return (
            ", ".join(sorted(k for k, v in (obj.settings or {}).items() if v not in ("", None)))
            or "—"
        )


class IdentityFieldInline(admin.TabularInline):
    model = IdentityField
    extra = 0
    fields = (
        "provider",
        "key",
        "masked_value",
        "status",
        "comment",
        "allow_resubmit",
        "received_at",
        "erased_at",
    )
    readonly_fields = ("provider", "key", "masked_value", "received_at", "erased_at")
    can_delete = False

    def has_add_permission(self, request: HttpRequest, obj: Any = None) -> bool:
        return False

    @admin.display(description="Value")
    def masked_value(self, obj: IdentityField) -> str:
        return _reveal_link(obj)


class CertificateInline(admin.TabularInline):
    model = Certificate
    fk_name = "record"
    extra = 0
    fields = (
        "provider",
        "slug",
        "external_id",
        "status",
        "comment",
        "allow_resubmit",
        "created_at",
        "erased_at",
    )
    readonly_fields = ("provider", "slug", "external_id", "created_at", "erased_at")
    can_delete = False

    def has_add_permission(self, request: HttpRequest, obj: Any = None) -> bool:
        return False


def _reveal_link(obj: IdentityField) -> str:
    if obj.erased_at:
        return f"erased {obj.erased_at:%Y-%m-%d}"
    url = reverse("admin:kyc_identityfield_reveal", args=[obj.pk])
    return format_html('{} <a href="{}">reveal</a>', MASK, url)


@admin.register(KYCRecord)
class KYCRecordAdmin(MerchantScopedAdmin):
    list_display = ("reference", "merchant", "provider", "review_status", "created_at", "erased_at")
    list_filter = ("review_status", "provider", MerchantFilter)
    search_fields = ("reference",)
    list_select_related = ("merchant",)
    show_full_result_count = False
    readonly_fields = ("merchant", "reference", "provider", "created_at", "updated_at", "erased_at")
    fields = (
        "merchant",
        "reference",
        "provider",
        "review_status",
        "review_comment",
        "created_at",
        "updated_at",
        "erased_at",
    )
    inlines = (IdentityFieldInline, CertificateInline)
    actions = ("erase_pii",)

    def has_add_permission(self, request: HttpRequest, obj: Any = None) -> bool:
        return False

    @admin.action(description="Erase this customer's personal data now")
    def erase_pii(self, request: HttpRequest, queryset: QuerySet) -> None:
        for record in queryset:
            services.record_erase(record=record, actor=request.user, reason="erased by staff")
        self.message_user(request, f"Erased personal data of {queryset.count()} record(s).")


@admin.register(IdentityField)
class IdentityFieldAdmin(ReadOnlyAdmin):
    merchant_path = "record__merchant"
    list_display = ("key", "record", "provider", "status", "masked", "received_at")
    list_filter = ("provider", "status")
    list_select_related = ("record",)

    @admin.display(description="Value")
    def masked(self, obj: IdentityField) -> str:
        return _reveal_link(obj)

    def get_fields(self, request: HttpRequest, obj: Any = None) -> Any:
        return [
            "record",
            "provider",
            "key",
            "masked",
            "status",
            "comment",
            "allow_resubmit",
            "received_at",
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
        field = self.get_queryset(request).select_related("record__merchant").filter(pk=pk).first()
        if field is None:
            raise Http404("No such field")
        if not request.user.has_perm("kyc.reveal_pii"):
            raise PermissionDenied("You need the 'Can reveal personal data' permission.")
        value = services.pii_reveal(field=field, actor=request.user)
        return render(
            request,
            "admin/kyc/reveal.html",
            {
                **self.admin_site.each_context(request),
                "field": field,
                "value": value,
                "title": f"{field.key}",
            },
        )


@admin.register(CertPromise)
class CertPromiseAdmin(MerchantScopedAdmin):
    actions = ("retry_pull",)

    @admin.action(description="Retry the pull of selected failed promises")
    def retry_pull(self, request: HttpRequest, queryset: QuerySet) -> None:
        # Re-armed promises are pulled by the provider flow's reconcile() within a minute.
        count = services.cert_promise_retry(
            promise_ids=list(queryset.values_list("pk", flat=True)), actor=request.user
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
class CertificateAdmin(MerchantScopedAdmin):
    list_display = ("slug", "external_id", "merchant", "record", "status", "batch_id", "created_at")
    list_filter = ("provider", "status", MerchantFilter)
    search_fields = ("external_id", "slug", "batch_id")
    list_select_related = ("merchant", "record")
    show_full_result_count = False
    fields = (
        "merchant",
        "record",
        "provider",
        "slug",
        "external_id",
        "status",
        "comment",
        "allow_resubmit",
        "recipient_id",
        "course_id",
        "batch_id",
        "download_url",
        "created_at",
        "erased_at",
    )
    readonly_fields = (
        "merchant",
        "record",
        "provider",
        "slug",
        "external_id",
        "recipient_id",
        "course_id",
        "batch_id",
        "download_url",
        "created_at",
        "erased_at",
    )
    autocomplete_fields = ()

    def has_add_permission(self, request: HttpRequest, obj: Any = None) -> bool:
        return False


class TransferEventInline(admin.TabularInline):
    model = TransferEvent
    extra = 0
    fields = ("created_at", "kind", "status", "provider_status", "tx_hash", "detail", "source")
    readonly_fields = fields
    can_delete = False

    def has_add_permission(self, request: HttpRequest, obj: Any = None) -> bool:
        return False

    def has_change_permission(self, request: HttpRequest, obj: Any = None) -> bool:
        return False


@admin.register(TransferRequest)
class TransferRequestAdmin(MerchantScopedAdmin):
    list_display = (
        "id",
        "merchant",
        "provider",
        "reference",
        "status",
        "provider_status",
        "created_at",
    )
    list_filter = ("status", "provider", MerchantFilter)
    search_fields = ("reference", "provider_ref")
    list_select_related = ("merchant",)
    show_full_result_count = False
    date_hierarchy = None
    readonly_fields = (
        "id",
        "merchant",
        "account",
        "provider",
        "record",
        "reference",
        "items",
        "status",
        "provider_status",
        "failure_code",
        "status_detail",
        "provider_ref",
        "provider_data",
        "expires_at",
        "created_at",
        "updated_at",
        "last_heard_at",
        "completed_at",
    )
    fields = readonly_fields
    inlines = (TransferEventInline,)
    actions = ("approve", "reject")

    def has_add_permission(self, request: HttpRequest, obj: Any = None) -> bool:
        return False  # staff start verifications from the "New verification" page

    def _decide(self, request: HttpRequest, queryset: QuerySet, approve: bool) -> None:
        done = 0
        for t in queryset.filter(status=Status.REVIEW):
            done += services.transfer_review(
                transfer=t, approve=approve, reason="", actor=request.user
            )
        level = messages.SUCCESS if done else messages.WARNING
        self.message_user(
            request,
            f"{done} request(s) {'approved' if approve else 'rejected'} (only requests in review change).",
            level,
        )

    @admin.action(description="Approve selected requests in review")
    def approve(self, request: HttpRequest, queryset: QuerySet) -> None:
        self._decide(request, queryset, True)

    @admin.action(description="Reject selected requests in review")
    def reject(self, request: HttpRequest, queryset: QuerySet) -> None:
        self._decide(request, queryset, False)


@admin.register(TransferEvent)
class TransferEventAdmin(ReadOnlyAdmin):
    merchant_path = "transfer__merchant"
    list_display = (
        "transfer",
        "created_at",
        "kind",
        "status",
        "provider_status",
        "tx_hash",
        "source",
    )
    list_filter = ("kind", "status", "source")
    list_select_related = ("transfer",)


@admin.register(InboundEvent)
class InboundEventAdmin(MerchantScopedAdmin):
    list_display = (
        "id",
        "provider",
        "kind",
        "merchant",
        "state",
        "verified",
        "received_at",
        "attempts",
        "error",
    )
    list_filter = ("provider", "state", "verified", MerchantFilter)
    search_fields = ("dedupe_key", "kind")
    list_select_related = ("merchant",)
    show_full_result_count = False
    readonly_fields = (
        "provider",
        "kind",
        "merchant",
        "account",
        "transfer",
        "path",
        "headers",
        "body_size",
        "remote_addr",
        "received_at",
        "dedupe_key",
        "duplicate_of",
        "verified",
        "state",
        "processed_at",
        "attempts",
        "error",
        "erased_at",
    )
    fields = readonly_fields
    actions = ("reprocess",)

    def has_add_permission(self, request: HttpRequest, obj: Any = None) -> bool:
        return False

    def has_change_permission(self, request: HttpRequest, obj: Any = None) -> bool:
        return False

    @admin.action(description="Reprocess selected deliveries")
    def reprocess(self, request: HttpRequest, queryset: QuerySet) -> None:
        from kyc import tasks

        ids = list(
            queryset.exclude(state=InboundEvent.State.DUPLICATE).values_list("pk", flat=True)
        )
        InboundEvent.objects.filter(pk__in=ids).update(state=InboundEvent.State.RECEIVED)
        for pk in ids:
            tasks.process_inbound.delay(pk)
        services.audit_log(actor=request.user, action="inbound.reprocess", detail={"ids": ids})
        self.message_user(request, f"Queued {len(ids)} deliveries for processing.")


@admin.register(AuditEntry)
class AuditEntryAdmin(ReadOnlyAdmin):
    list_display = ("at", "actor", "merchant", "action", "object_type", "object_id")
    list_filter = ("action",)
    search_fields = ("object_id", "action")
