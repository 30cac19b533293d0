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

from django.contrib import admin, messages
from django.contrib.admin.views.main import ChangeList
from django.contrib.auth import get_user_model
from django.db.models import Model, QuerySet
from django.http import Http404, HttpRequest, HttpResponse

from kyc import permissions, selectors, services
from kyc.crypto import encrypted_fields
from kyc.models import AuditEntry, Merchant
from kyc.permissions import Action, Gate, Rule


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
