"""Merchants and who works there: merchants, memberships, API keys, provider accounts."""

from __future__ import annotations

from typing import Any

from django import forms
from django.contrib import admin
from django.core.exceptions import ValidationError
from django.db.models import QuerySet
from django.http import HttpRequest
from django.template.response import TemplateResponse

import kyc.admin.review as admin_review
from kyc import permissions, services
from kyc.admin.base import MerchantFilter, MerchantScopedAdmin
from kyc.admin.confirm import confirm_action, confirmed
from kyc.models import ApiKey, Membership, Merchant, ProviderAccount
from kyc.permissions import Action, Gate


@admin.register(Merchant)
class MerchantAdmin(MerchantScopedAdmin):
    merchant_path = "pk"
    change_rule = Action.MANAGE_MERCHANT
    add_rule = delete_rule = Gate.OPERATOR  # staff never create or remove merchants
    list_display = ("name", "slug", "retention_days", "review_sla_hours", "created_at")
    readonly_fields = ("created_at",)
    search_fields = ("name", "slug")
    prepopulated_fields = {"slug": ("name",)}
    fieldsets = (
        (None, {"fields": ("name", "slug", "created_at")}),
        ("Compliance", {"fields": ("retention_days", "review_sla_hours")}),
        (
            "Customer page",
            {
                "fields": (
                    "brand_color",
                    "support_contact",
                    "privacy_url",
                    "restart_url",
                    "default_language",
                )
            },
        ),
    )


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

    @admin.action(description="Revoke selected keys…", permissions=["manage_api_keys"])
    def revoke(self, request: HttpRequest, queryset: QuerySet) -> TemplateResponse | None:
        allowed = self.permitted(request, queryset, Action.MANAGE_API_KEYS).filter(
            revoked_at__isnull=True
        )
        if not confirmed(request):
            return confirm_action(
                self,
                request,
                allowed,
                action="revoke",
                title="Revoke these API keys?",
                what=(
                    "Every backend call made with these keys is refused from now on "
                    "(401). A revoked key cannot be turned back on; create a new one instead."
                ),
                counts={
                    admin_review.plural(n, "active key to revoke", "active keys to revoke"): n
                    for n in [allowed.count()]
                },
                confirm_label="Yes, revoke them",
            )
        n = 0
        for key in allowed:
            services.api_key_revoke(key=key, actor=request.user)
            n += 1
        self.message_user(request, f"Revoked {n} API key(s).")
        return None


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
