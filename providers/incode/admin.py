"""Incode requests waiting for compliance review, each linked to the review page
(approve or reject with a reason; an approval is also sent to Incode)."""

from __future__ import annotations

from django.contrib import admin
from django.db.models import QuerySet
from django.http import HttpRequest
from django.urls import reverse
from django.utils.html import format_html

from kyc.admin import ReadOnlyAdmin
from kyc.permissions import Action
from kyc.status import Status
from kyc.templatetags.admin_json import stamp
from providers.incode.models import IncodeReview


@admin.register(IncodeReview)
class IncodeReviewAdmin(ReadOnlyAdmin):
    view_rule = Action.REVIEW  # the review queue: reviewers' work, decided on the review page
    list_display = (
        "reference",
        "merchant",
        "overall_score",
        "status_detail",
        "waiting",
        "review",
    )
    list_select_related = ("merchant", "record")
    ordering = ("created_at",)

    def get_queryset(self, request: HttpRequest) -> QuerySet:
        return super().get_queryset(request).filter(provider="incode", status=Status.REVIEW)

    @admin.display(description="Incode score")
    def overall_score(self, obj: IncodeReview) -> str:
        score = (obj.provider_data or {}).get("score") or {}
        return " ".join(filter(None, [score.get("overall_status"), score.get("overall_value")]))

    @admin.display(description="in review since", ordering="created_at")
    def waiting(self, obj: IncodeReview) -> str:
        since = obj.record.review_since if obj.record_id and obj.record else None
        return stamp(since or obj.updated_at)

    @admin.display(description="Decide")
    def review(self, obj: IncodeReview) -> str:
        if obj.record_id is None:
            return format_html(
                '<a class="button" href="{}">Approve or reject…</a>',
                reverse("incode_review", args=[obj.pk]),
            )
        return format_html(
            '<a class="button" href="{}">Review {} (all evidence)…</a> '
            '<a href="{}">Incode decision form</a>',
            reverse("admin:kyc_kycrecord_review", args=[obj.record_id]),
            obj.record,
            reverse("incode_review", args=[obj.pk]),
        )
