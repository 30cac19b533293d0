"""Destructive admin actions confirm first: what will happen, to how many rows, and
(where asked) the reason."""

from __future__ import annotations

from typing import Any

from django.db.models import QuerySet
from django.http import HttpRequest
from django.template.response import TemplateResponse
from django.urls import reverse

import kyc.admin.review as admin_review


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
