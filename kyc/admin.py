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
from django.conf import settings
from django.contrib import admin, messages
from django.contrib.admin.views.main import ChangeList
from django.contrib.auth import get_user_model
from django.contrib.contenttypes.models import ContentType
from django.contrib.contenttypes.views import shortcut
from django.core.exceptions import PermissionDenied, ValidationError
from django.db.models import Model, QuerySet
from django.http import Http404, HttpRequest, HttpResponse
from django.template.response import TemplateResponse
from django.urls import path, reverse
from django.utils.html import format_html, format_html_join
from django.utils.safestring import mark_safe

from kyc import (
    admin_audit,
    admin_review,
    admin_twofactor,  # noqa: F401  (registers the staff authenticators)
    permissions,
    review,
    selectors,
    services,
)
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
from kyc.templatetags.admin_json import kv_table, stamp

MASK = "•••• hidden"
_VERDICT_FIELDS = {"status", "comment", "allow_resubmit"}


# --- readable evidence -------------------------------------------------------------------


def when(value: Any) -> str:
    """A time with seconds and its UTC offset (the reviewer's time zone: TIME_ZONE)."""
    return format_html('<span class="nowrap">{}</span>', stamp(value))


def when_short(value: Any) -> str:
    """A list column's time: seconds, no offset (the column header names the zone)."""
    text = stamp(value)
    return format_html('<span class="nowrap" title="{}">{}</span>', text, text[:19])


ZONE = f"({settings.TIME_ZONE})"


def time_column(field: str, description: str, *, short: bool = False) -> Any:
    """An admin column (or read-only field) showing the time in `field`: `short` for a
    list, sortable, with the zone in the header; else in full (when)."""

    def show(self: Any, obj: Model) -> str:
        value = getattr(obj, field)
        return when_short(value) if short else when(value)

    if short:
        return admin.display(description=f"{description} {ZONE}", ordering=field)(show)
    return admin.display(description=description)(show)


def badge_column(field: str, description: str) -> Any:
    """An admin column showing the choice in `field` as a coloured badge, sortable; an
    empty value shows as a dash."""

    def show(self: Any, obj: Model) -> str:
        value = getattr(obj, field)
        if not value:
            return "—"
        return admin_review.badge(value, getattr(obj, f"get_{field}_display")())

    return admin.display(description=description, ordering=field)(show)


def table_column(field: str, description: str) -> Any:
    """An admin read-only field showing the dict in `field` as a key/value table."""

    def show(self: Any, obj: Model) -> str:
        return kv_table(getattr(obj, field))

    return admin.display(description=description)(show)


def review_link(record_id: int | None, text: Any) -> str:
    """A link to a record's review page (all its evidence), or a dash without a record."""
    if record_id is None:
        return "—"
    url = reverse("admin:kyc_kycrecord_review", args=[record_id])
    return format_html('<a href="{}">{}</a>', url, text)


def admin_link(obj: Model | None, text: Any = None) -> str:
    """A link to the admin change page of `obj` (its str, or `text`)."""
    if obj is None:
        return "—"
    opts = obj._meta
    url = reverse(f"admin:{opts.app_label}_{opts.model_name}_change", args=[obj.pk])
    return format_html('<a href="{}">{}</a>', url, obj if text is None else text)


def changelist_link(model: Any, text: str, **filters: Any) -> str:
    from urllib.parse import urlencode

    opts = model._meta
    url = reverse(f"admin:{opts.app_label}_{opts.model_name}_changelist")
    return format_html('<a href="{}?{}">{}</a>', url, urlencode(filters), text)


# --- destructive actions confirm ------------------------------------------------------------


def confirm_action(
    model_admin: Any,
    request: HttpRequest,
    queryset: QuerySet,
    *,
    action: str,
    title: str,
    what: str,
    counts: dict[str, int],
    confirm_label: str,
    reason_kind: str = "",
    reason_label: str = "",
    error: str = "",
) -> TemplateResponse:
    """The page an admin action shows before it changes anything: what will happen, to how
    many rows, and (where asked) the reason. Its form posts the action again with post=yes."""
    from django.contrib.admin import helpers

    return TemplateResponse(
        request,
        "admin/kyc/confirm.html",
        {
            **model_admin.admin_site.each_context(request),
            "opts": model_admin.model._meta,
            "title": title,
            "what": what,
            "counts": counts,
            "objects": list(queryset[:50]),
            "more": max(0, queryset.count() - 50),
            "confirm_label": confirm_label,
            "reason_kind": reason_kind,
            "reason_label": reason_label,
            "reasons": admin_review.review_reasons(),
            "reason": (request.POST.get("reason") or "").strip(),
            "reason_code": request.POST.get("reason_code", ""),
            "note": (request.POST.get("note") or "").strip(),
            "error": error,
            "action": action,
            "action_checkbox_name": helpers.ACTION_CHECKBOX_NAME,
            "selected": [str(pk) for pk in queryset.values_list("pk", flat=True)],
            "back_url": reverse(
                f"admin:{model_admin.model._meta.app_label}_"
                f"{model_admin.model._meta.model_name}_changelist"
            ),
            "form_action": "",
        },
        status=400 if error else 200,
    )


def confirmed(request: HttpRequest) -> bool:
    return request.POST.get("post") == "yes"


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
        # Rows joined for a link (e.g. a delivery's request) bring no encrypted values either.
        related = self.list_select_related
        for name in related if isinstance(related, list | tuple) else ():
            if "__" in name:
                continue
            model = self.model._meta.get_field(name).related_model
            if model is not None:
                hidden += [f"{name}__{f.name}" for f in encrypted_fields(model)]
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


class LinkedListsMixin:
    """Filters the evidence links use (record -> requests -> events -> deliveries); the
    rows stay scoped to the user's merchants by get_queryset."""

    link_lookups: frozenset[str] = frozenset()

    def lookup_allowed(self, lookup: str, value: str, request: Any = None) -> bool:
        if lookup in self.link_lookups:
            return True
        return super().lookup_allowed(lookup, value, request)  # type: ignore[misc]


class EvidenceAdmin(MerchantScopedAdmin):
    """Stored evidence (deliveries, request events, audit entries, certificates): never
    deleted by merchant staff; a superuser may, and every row deleted is audited first
    (what it was, never its PII). The delete pages are Django's confirmation pages."""

    delete_rule: Rule = Gate.OPERATOR

    def delete_model(self, request: HttpRequest, obj: Any) -> None:
        if isinstance(obj, AuditEntry):
            # kyc.audit documents the gap first, so the chain still verifies.
            from kyc.audit import audit_entry_delete

            audit_entry_delete(entry=obj, actor=request.user)
            return
        merchant_pk = merchant_id_of(obj, self.merchant_path)
        services.audit_log(
            actor=request.user,
            action="evidence.deleted",
            obj=obj,
            merchant=Merchant.objects.filter(pk=merchant_pk).first() if merchant_pk else None,
            detail={"model": obj._meta.label, "id": str(obj.pk), "what": str(obj)[:200]},
        )
        # A queryset delete: append-only models refuse Model.delete() on purpose.
        type(obj)._default_manager.filter(pk=obj.pk).delete()

    def delete_queryset(self, request: HttpRequest, queryset: QuerySet) -> None:
        for obj in queryset:
            self.delete_model(request, obj)


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
    fields = (
        "provider",
        "slug",
        "external_id",
        "status",
        "comment",
        "allow_resubmit",
        "created",
        "erased_at",
    )
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


@admin.register(TransferEvent)
class TransferEventAdmin(LinkedListsMixin, EvidenceAdmin):
    link_lookups = frozenset({"inbound__id__exact", "transfer__id__exact"})
    merchant_path = "transfer__merchant"
    list_display = (
        "transfer_link",
        "at",
        "kind",
        "status_badge",
        "provider_status",
        "tx_hash",
        "source",
        "delivery",
    )
    list_display_links = ("at",)
    list_filter = ("kind", "status", "source")
    list_select_related = ("transfer",)
    date_hierarchy = "created_at"
    ordering = ("-created_at", "-id")
    fields = readonly_fields = (
        "transfer_link",
        "at",
        "kind",
        "status_badge",
        "provider_status",
        "tx_hash",
        "detail",
        "source",
        "delivery",
    )

    @admin.display(description="request")
    def transfer_link(self, obj: TransferEvent) -> str:
        return admin_link(obj.transfer, obj.transfer.reference)

    at = time_column("created_at", "at", short=True)
    status_badge = badge_column("status", "status")
    delivery = TransferEventInline.delivery


@admin.register(InboundEvent)
class InboundEventAdmin(LinkedListsMixin, EvidenceAdmin):
    link_lookups = frozenset({"transfer__id__exact", "transfer__record__id__exact"})
    list_display = (
        "id",
        "provider",
        "kind",
        "merchant",
        "transfer_link",
        "state_badge",
        "verified",
        "received",
        "attempts",
        "error",
    )
    list_filter = ("provider", "state", "verified", MerchantFilter)
    search_fields = ("dedupe_key", "kind")
    list_select_related = ("merchant", "transfer")
    show_full_result_count = False
    date_hierarchy = "received_at"
    ordering = ("-received_at", "-id")
    readonly_fields = (
        "provider",
        "kind",
        "merchant",
        "account",
        "transfer_link",
        "events",
        "path",
        "headers_table",
        "body_size",
        "remote_addr",
        "received",
        "dedupe_key",
        "duplicate_of",
        "verified",
        "state_badge",
        "processed",
        "attempts",
        "error",
        "erased_at",
    )
    fields = readonly_fields
    actions = ("reprocess", "choose_delivery")
    # Stored deliveries are evidence of what a provider sent: nobody edits them, and only
    # a superuser deletes one (audited, EvidenceAdmin).

    @admin.display(description="request")
    def transfer_link(self, obj: InboundEvent) -> str:
        t = obj.transfer
        return admin_link(t, t.reference) if t is not None else "—"

    @admin.display(description="events")
    def events(self, obj: InboundEvent) -> str:
        n = TransferEvent.objects.filter(inbound=obj).count()
        return changelist_link(TransferEvent, f"{n} event(s)", inbound__id__exact=obj.pk)

    headers_table = table_column("headers", "headers")
    state_badge = badge_column("state", "state")
    received = time_column("received_at", "received", short=True)
    processed = time_column("processed_at", "processed")

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
                "export/",
                self.admin_site.admin_view(self.export_view),
                name="kyc_auditentry_export",
            ),
            *super().get_urls(),
        ]

    def changelist_view(self, request: HttpRequest, extra_context: Any = None) -> HttpResponse:
        merchants = Merchant.objects.filter(
            pk__in=permissions.merchants_where(request.user, Action.VIEW)
        ).order_by("name")[:20]
        extra = {
            **(extra_context or {}),
            "chains": [admin_audit.chain_status(m) for m in merchants],
            "can_export": permissions.can_anywhere(request.user, Action.EXPORT_AUDIT),
            "export_url": reverse("admin:kyc_auditentry_export"),
        }
        return super().changelist_view(request, extra)

    def export_view(self, request: HttpRequest) -> HttpResponse:
        return admin_audit.export_view(self, request)


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
