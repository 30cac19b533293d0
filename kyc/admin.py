"""Admin for compliance staff.

Staff who are not superusers see only their own merchants' rows: in changelists,
change pages (404 for others'), filters, foreign-key choices and autocomplete.
PII is masked; revealing a value needs the `kyc.reveal_pii` permission and is audited.

What a staff member may do with a row is decided by their role at the row's merchant,
through kyc.permissions (the one table): each model admin names the Action (or Gate)
that viewing, adding, changing and deleting need, and each admin action the Action it
needs, on top of Django's model permissions. Append-only history (deliveries, transfer
events, audit entries) is deleted by nobody.
"""

from __future__ import annotations

from typing import Any

from django import forms
from django.contrib import admin, messages
from django.contrib.admin.views.main import ChangeList
from django.contrib.auth import get_user_model
from django.contrib.contenttypes.models import ContentType
from django.contrib.contenttypes.views import shortcut
from django.core.exceptions import PermissionDenied, ValidationError
from django.db.models import Model, QuerySet
from django.http import Http404, HttpRequest, HttpResponse
from django.shortcuts import render
from django.urls import path, reverse
from django.utils.html import format_html, format_html_join
from django.utils.safestring import mark_safe

from kyc import permissions, selectors, services
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
    WebhookDelivery,
)
from kyc.permissions import Action, Gate, Rule
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


def merchant_id_of(obj: Model, merchant_path: str) -> int | None:
    """The id of the merchant an object belongs to, following e.g. "record__merchant"."""
    *hops, last = merchant_path.split("__")
    target: Any = obj
    for hop in hops:
        target = getattr(target, hop, None)
        if target is None:
            return None
    return target.pk if last == "pk" else getattr(target, f"{last}_id", None)


class RoleRules:
    """What each admin operation needs (kyc.permissions), shared by model admins and inlines."""

    view_rule: Rule = Action.VIEW
    add_rule: Rule = Gate.NOBODY
    change_rule: Rule = Gate.NOBODY
    delete_rule: Rule = Gate.NOBODY


class MerchantScopedAdmin(RoleRules, admin.ModelAdmin):
    """Scopes everything a non-superuser sees to the merchants they belong to, and lets
    them do only what their role at the object's merchant allows."""

    merchant_path: str = "merchant"

    # --- roles -------------------------------------------------------------------

    def _allows(self, request: HttpRequest, rule: Rule, obj: Any = None) -> bool:
        merchant = None if obj is None else merchant_id_of(obj, self.merchant_path)
        if obj is not None and merchant is None and not request.user.is_superuser:
            return False  # a row of no merchant is the operators' business
        return permissions.allows(request.user, rule, merchant)

    def has_view_permission(self, request: HttpRequest, obj: Any = None) -> bool:
        return super().has_view_permission(request, obj) and self._allows(
            request, self.view_rule, obj
        )

    def has_add_permission(self, request: HttpRequest, obj: Any = None) -> bool:
        return super().has_add_permission(request) and self._allows(request, self.add_rule)

    def has_change_permission(self, request: HttpRequest, obj: Any = None) -> bool:
        return super().has_change_permission(request, obj) and self._allows(
            request, self.change_rule, obj
        )

    def has_delete_permission(self, request: HttpRequest, obj: Any = None) -> bool:
        return super().has_delete_permission(request, obj) and self._allows(
            request, self.delete_rule, obj
        )

    # Admin actions declare `permissions=[...]`; Django asks has_<name>_permission.
    def has_review_permission(self, request: HttpRequest) -> bool:
        return permissions.can_anywhere(request.user, Action.REVIEW)

    def has_erase_permission(self, request: HttpRequest) -> bool:
        return permissions.can_anywhere(request.user, Action.ERASE)

    def has_retry_permission(self, request: HttpRequest) -> bool:
        return permissions.can_anywhere(request.user, Action.RETRY)

    def has_manage_api_keys_permission(self, request: HttpRequest) -> bool:
        return permissions.can_anywhere(request.user, Action.MANAGE_API_KEYS)

    def has_start_issuance_permission(self, request: HttpRequest) -> bool:
        return permissions.can_anywhere(request.user, Action.START_ISSUANCE)

    def permitted(self, request: HttpRequest, queryset: QuerySet, action: Action) -> QuerySet:
        """The selected rows at merchants where the user's role allows `action`; a user
        who is, say, compliance at one merchant and viewer at another acts on the first only."""
        if request.user.is_superuser:
            return queryset
        allowed = queryset.filter(
            **{f"{self.merchant_path}__in": permissions.merchants_where(request.user, action)}
        )
        skipped = queryset.count() - allowed.count()
        if skipped:
            self.message_user(
                request,
                f"{skipped} selected row(s) skipped: your role there does not allow you to "
                f"{permissions.LABELS[action]}.",
                messages.WARNING,
            )
        return allowed

    def write_merchant_ids(self, request: HttpRequest) -> list[int]:
        """Merchants a new or changed row may point at: those where the user may add/change."""
        ids: set[int] = set()
        for rule in (self.add_rule, self.change_rule):
            if isinstance(rule, Action):
                ids.update(permissions.merchants_where(request.user, rule))
        return sorted(ids)

    def get_changelist(self, request: HttpRequest, **kwargs: Any) -> type[ChangeList]:
        return DeferEncryptedChangeList

    def get_ordering(self, request: HttpRequest) -> Any:
        # Newest first, and a stable order for pagination and autocomplete.
        return self.ordering or ("-pk",)

    def get_queryset(self, request: HttpRequest) -> QuerySet:
        qs = super().get_queryset(request)
        if request.user.is_superuser:
            return qs
        # Only rows at merchants where the role may view this model: another merchant's
        # row, or one the role may not see, is simply not there (404).
        ids = (
            permissions.merchants_where(request.user, self.view_rule)
            if isinstance(self.view_rule, Action)
            else []
        )
        return qs.filter(**{f"{self.merchant_path}__in": ids})

    def formfield_for_foreignkey(self, db_field: Any, request: HttpRequest, **kwargs: Any) -> Any:
        if not request.user.is_superuser:
            ids = self.write_merchant_ids(request)
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
    """Rows nobody adds, changes or deletes through the admin (superusers included)."""

    add_rule = change_rule = delete_rule = Gate.NOBODY


@admin.register(Merchant)
class MerchantAdmin(MerchantScopedAdmin):
    merchant_path = "pk"
    change_rule = Action.MANAGE_MERCHANT
    add_rule = delete_rule = Gate.OPERATOR  # staff never create or remove merchants
    list_display = ("name", "slug", "retention_days", "created_at")
    readonly_fields = ("created_at",)
    search_fields = ("name", "slug")
    prepopulated_fields = {"slug": ("name",)}


class MembershipForm(forms.ModelForm):
    """Refuses what the change-permission check cannot see: the submitted values."""

    request: HttpRequest  # set by MembershipAdmin.get_form

    class Meta:
        model = Membership
        fields = ("user", "merchant", "role")

    def clean(self) -> dict[str, Any]:
        data = super().clean() or {}
        user = self.request.user
        if user.is_superuser:
            return data
        # On a change, user and merchant are read-only: they come from the instance.
        merchant = data.get("merchant") or getattr(self.instance, "merchant", None)
        member = data.get("user") or getattr(self.instance, "user", None)
        if member is not None and member.pk == user.pk:
            raise ValidationError("You cannot change your own membership; ask another owner.")
        if data.get("role") == Membership.Role.OWNER and (
            merchant is None or permissions.role_for(user, merchant) != Membership.Role.OWNER
        ):
            raise ValidationError({"role": "Only an owner of this merchant can make an owner."})
        return data


@admin.register(Membership)
class MembershipAdmin(MerchantScopedAdmin):
    """Admins and owners manage members. Nobody changes or removes their own membership
    (no raising one's own role), only owners make owners, and an owner's membership is
    changed or removed by nobody but a superuser (no owner pushes another out)."""

    add_rule = change_rule = delete_rule = Action.MANAGE_MEMBERS
    form = MembershipForm
    list_display = ("user", "merchant", "role")
    list_filter = ("role", MerchantFilter)
    autocomplete_fields = ("merchant",)

    def _untouchable(self, request: HttpRequest, obj: Membership | None) -> bool:
        if obj is None or request.user.is_superuser:
            return False
        return obj.user_id == request.user.pk or obj.role == Membership.Role.OWNER

    def has_change_permission(self, request: HttpRequest, obj: Any = None) -> bool:
        return super().has_change_permission(request, obj) and not self._untouchable(request, obj)

    def has_delete_permission(self, request: HttpRequest, obj: Any = None) -> bool:
        return super().has_delete_permission(request, obj) and not self._untouchable(request, obj)

    def get_readonly_fields(self, request: HttpRequest, obj: Any = None) -> Any:
        # A membership changes role, never hands (user) or merchant.
        return ("user", "merchant") if obj is not None else ()

    def get_form(
        self, request: HttpRequest, obj: Any = None, change: bool = False, **kwargs: Any
    ) -> Any:
        form = super().get_form(request, obj, change=change, **kwargs)
        form.request = request  # type: ignore[attr-defined]
        return form

    def save_model(self, request: HttpRequest, obj: Any, form: Any, change: bool) -> None:
        super().save_model(request, obj, form, change)
        services.audit_log(
            actor=request.user,
            action="membership.changed" if change else "membership.added",
            obj=obj,
            detail={"user": obj.user_id, "role": obj.role, "via": "admin"},
        )

    def delete_model(self, request: HttpRequest, obj: Any) -> None:
        services.audit_log(
            actor=request.user,
            action="membership.removed",
            obj=obj,
            detail={"user": obj.user_id, "role": obj.role, "via": "admin"},
        )
        super().delete_model(request, obj)

    def delete_queryset(self, request: HttpRequest, queryset: QuerySet) -> None:
        for obj in queryset:
            self.delete_model(request, obj)


@admin.register(ApiKey)
class ApiKeyAdmin(MerchantScopedAdmin):
    # Keys are created on the merchant's API keys page (shown once there), and revoked,
    # never deleted: the row says who made the key and when it stopped working.
    view_rule = change_rule = Action.MANAGE_API_KEYS
    list_display = ("name", "prefix", "merchant", "created_at", "last_used_at", "revoked_at")
    list_filter = (MerchantFilter,)
    readonly_fields = (
        "merchant",
        "prefix",
        "hashed",
        "created_at",
        "last_used_at",
        "revoked_at",
        "created_by",
    )
    fields = ("name", *readonly_fields)
    actions = ("revoke",)

    @admin.action(description="Revoke selected keys", permissions=["manage_api_keys"])
    def revoke(self, request: HttpRequest, queryset: QuerySet) -> None:
        for key in self.permitted(request, queryset, Action.MANAGE_API_KEYS):
            services.api_key_revoke(key=key, actor=request.user)


@admin.register(ProviderAccount)
class ProviderAccountAdmin(MerchantScopedAdmin):
    # The account's webhook token is on the page: only those who manage settings see it.
    view_rule = change_rule = Action.MANAGE_PROVIDER_SETTINGS
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


class ReviewInline(admin.TabularInline):
    """Inline rows of a record whose status and comment are a reviewer's decision."""

    merchant_path = "merchant"  # of the parent object the inline is shown on

    def has_change_permission(self, request: HttpRequest, obj: Any = None) -> bool:
        merchant = None if obj is None else merchant_id_of(obj, self.merchant_path)
        return super().has_change_permission(request, obj) and permissions.allows(
            request.user, Action.REVIEW, merchant
        )


class IdentityFieldInline(ReviewInline):
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


class CertificateInline(ReviewInline):
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
    # Review status and comment are the editable fields; records are erased, not deleted.
    change_rule = Action.REVIEW

    @admin.action(description="Erase this customer's personal data now", permissions=["erase"])
    def erase_pii(self, request: HttpRequest, queryset: QuerySet) -> None:
        records = list(self.permitted(request, queryset, Action.ERASE))
        for record in records:
            services.record_erase(record=record, actor=request.user, reason="erased by staff")
        self.message_user(request, f"Erased personal data of {len(records)} record(s).")


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
        if not permissions.can(request.user, field.record.merchant, Action.REVEAL_PII):
            raise PermissionDenied(
                "Revealing needs a compliance or owner role at this merchant and the "
                "'Can reveal personal data' permission."
            )
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
    change_rule = Action.REVIEW  # status, comment, allow_resubmit; erased, never deleted


class TransferEventInline(admin.TabularInline):  # append-only history
    model = TransferEvent
    extra = 0
    fields = ("created_at", "kind", "status", "provider_status", "tx_hash", "detail", "source")
    readonly_fields = fields
    can_delete = False

    def has_add_permission(self, request: HttpRequest, obj: Any = None) -> bool:
        return False

    def has_change_permission(self, request: HttpRequest, obj: Any = None) -> bool:
        return False

    def has_delete_permission(self, request: HttpRequest, obj: Any = None) -> bool:
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
    # Started from the "New verification" page or the API; every field is read-only here
    # and a request is never deleted (its events are append-only history).

    def _decide(self, request: HttpRequest, queryset: QuerySet, approve: bool) -> None:
        done = 0
        for t in self.permitted(request, queryset, Action.REVIEW).filter(status=Status.REVIEW):
            done += services.transfer_review(
                transfer=t, approve=approve, reason="", actor=request.user
            )
        level = messages.SUCCESS if done else messages.WARNING
        self.message_user(
            request,
            f"{done} request(s) {'approved' if approve else 'rejected'} (only requests in review change).",
            level,
        )

    @admin.action(description="Approve selected requests in review", permissions=["review"])
    def approve(self, request: HttpRequest, queryset: QuerySet) -> None:
        self._decide(request, queryset, True)

    @admin.action(description="Reject selected requests in review", permissions=["review"])
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
    actions = ("reprocess", "choose_delivery")
    # Stored deliveries are evidence of what a provider sent: nobody edits or deletes them
    # (the add/change/delete rules stay Gate.NOBODY).

    @admin.action(description="Reprocess selected deliveries", permissions=["retry"])
    def reprocess(self, request: HttpRequest, queryset: QuerySet) -> None:
        from kyc import tasks

        ids = list(
            self.permitted(request, queryset, Action.RETRY)
            .exclude(state=InboundEvent.State.DUPLICATE)
            .values_list("pk", flat=True)
        )
        InboundEvent.objects.filter(pk__in=ids).update(state=InboundEvent.State.RECEIVED)
        for pk in ids:
            tasks.process_inbound.delay(pk)
        services.audit_log(actor=request.user, action="inbound.reprocess", detail={"ids": ids})
        self.message_user(request, f"Queued {len(ids)} deliveries for processing.")

    @admin.action(
        description="Apply the selected delivery to its request in review (settles a conflict)",
        permissions=["review"],
    )
    def choose_delivery(self, request: HttpRequest, queryset: QuerySet) -> None:
        # Two different data deliveries for one request are never first-wins: staff pick
        # one here; the provider applies it and marks the others as not chosen.
        from kyc import registry

        events = list(self.permitted(request, queryset, Action.REVIEW)[:2])
        if len(events) != 1:
            self.message_user(request, "Select exactly one delivery.", messages.ERROR)
            return
        event = events[0]
        provider = registry.find(event.provider)
        if provider is None or not provider.delivery_choose(event_id=event.pk, actor=request.user):
            self.message_user(
                request,
                f"Delivery #{event.pk} settles nothing: only a kept conflicting delivery of a "
                "request in review can be applied.",
                messages.ERROR,
            )
            return
        self.message_user(request, f"Delivery #{event.pk} applied; the request is completed.")


@admin.register(AuditEntry)
class AuditEntryAdmin(ReadOnlyAdmin):
    list_display = ("at", "actor", "merchant", "action", "object_type", "object_id")
    list_filter = ("action",)
    search_fields = ("object_id", "action")


@admin.register(WebhookDelivery)
class WebhookDeliveryAdmin(ReadOnlyAdmin):
    """Outgoing webhook deliveries with every attempt; replay re-sends the original id.
    Like the merchant's Webhooks page: owners and administrators only."""

    merchant_path = "endpoint__merchant"
    view_rule = Action.MANAGE_API_KEYS
    list_display = ("id", "endpoint", "event_type", "webhook_id", "state", "attempts")
    list_filter = ("state",)
    list_select_related = ("endpoint", "message")
    search_fields = ("message__msg_id",)
    fields = readonly_fields = (
        "endpoint",
        "event_type",
        "webhook_id",
        "state",
        "attempts",
        "next_attempt_at",
        "last_status",
        "last_error",
        "created_at",
        "attempt_log",
    )
    actions = ("replay",)

    @admin.display(description="event")
    def event_type(self, obj: WebhookDelivery) -> str:
        return obj.message.event_type

    @admin.display(description="webhook-id")
    def webhook_id(self, obj: WebhookDelivery) -> str:
        return obj.message.msg_id

    @admin.display(description="attempts (newest first)")
    def attempt_log(self, obj: WebhookDelivery) -> str:
        return format_html_join(
            mark_safe("<br>"),  # noqa: S308  (a constant)
            "{} · {} · {} ms · {} · {}",
            (
                (a.at, a.status_code or "no answer", a.latency_ms, a.error or "ok", a.trigger)
                for a in obj.attempts_log.order_by("-at", "-id")
            ),
        )

    @admin.action(description="Replay selected deliveries", permissions=["manage_api_keys"])
    def replay(self, request: HttpRequest, queryset: QuerySet) -> None:
        from kyc import outbox

        for delivery in self.permitted(request, queryset, Action.MANAGE_API_KEYS):
            outbox.webhook_delivery_replay(delivery=delivery, actor=request.user)


def view_on_site(request: HttpRequest, content_type_id: str, object_id: str) -> HttpResponse:
    """The admin's /admin/r/<ct>/<id>/ shortcut, scoped like everything else.

    Django's own view looks the object up unscoped and answers "has no associated URL"
    for one that exists but "doesn't exist" otherwise, telling staff whether another
    merchant's object exists. Here an object the user may not view gets exactly the
    answer of one that does not exist.
    """
    if not request.user.is_superuser:
        obj = None
        try:
            model = ContentType.objects.get_for_id(int(content_type_id)).model_class()
        except (ValueError, ContentType.DoesNotExist):
            model = None
        model_admin = admin.site._registry.get(model) if model is not None else None
        if model_admin is not None:
            try:
                obj = model_admin.get_queryset(request).filter(pk=object_id).first()
            except (ValueError, ValidationError):
                obj = None
        if model_admin is None or obj is None or not model_admin.has_view_permission(request, obj):
            raise Http404("No such object")
    return shortcut(request, content_type_id, object_id)


def staff_permissions() -> set[tuple[str, str]]:
    """(app label, codename) of the Django permissions merchant staff need: view every
    registered kyc model, and add/change/delete where some role may (the role decides
    per merchant). Never `reveal_pii`: that is granted per person."""
    needed: set[tuple[str, str]] = set()
    for model, model_admin in admin.site._registry.items():
        if not isinstance(model_admin, RoleRules):
            continue
        opts = model._meta
        for verb, rule in (
            ("view", model_admin.view_rule),
            ("add", model_admin.add_rule),
            ("change", model_admin.change_rule),
            ("delete", model_admin.delete_rule),
        ):
            if isinstance(rule, Action):
                needed.add((opts.app_label, f"{verb}_{opts.model_name}"))
        for inline in model_admin.inlines:
            if issubclass(inline, ReviewInline):
                inline_opts = inline.model._meta
                needed.add((inline_opts.app_label, f"change_{inline_opts.model_name}"))
    return needed
