"""Site-wide admin pieces: the scoped view-on-site shortcut, and the Django permissions
merchant staff need (kyc.permissions decides per merchant)."""

from __future__ import annotations

from django.contrib import admin
from django.contrib.contenttypes.models import ContentType
from django.contrib.contenttypes.views import shortcut
from django.core.exceptions import ValidationError
from django.http import Http404, HttpRequest, HttpResponse

from kyc.admin.base import RoleRules
from kyc.admin.records import ReviewInline
from kyc.permissions import Action


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
