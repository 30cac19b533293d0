"""Incode requests waiting for compliance review, each linked to the review page
(approve or reject with a reason; an approval is also sent to Incode)."""

from __future__ import annotations

from typing import Any

from django.contrib import admin
from django.db.models import QuerySet
from django.http import Http404, HttpRequest, HttpResponse
from django.urls import path, reverse
from django.utils.html import format_html

from kyc import permissions, reveal
from kyc.admin.base import ReadOnlyAdmin
from kyc.permissions import Action
from kyc.status import Status
from kyc.templatetags.admin_json import stamp
from providers.incode.models import IncodeImage, IncodeReview

REVEAL_FIRST = "Reveal to see the ID images."


def image_view(request: HttpRequest, pk: int) -> HttpResponse:
    """One stored ID/selfie image, decrypted, to a member who may see the record and whose
    session has an active reveal of it (kyc.reveal: POST with a purpose, audited once).
    Never cached; otherwise 403 with the placeholder text."""
    image = (
        IncodeImage.objects.select_related("transfer__record__merchant")
        .filter(pk=pk, erased_at__isnull=True)
        .first()
    )
    record = image.transfer.record if image is not None else None
    if image is None or record is None or record.erased_at is not None:
        raise Http404("No such image")
    if not permissions.can(request.user, record.merchant, Action.VIEW):
        raise Http404("No such image")
    grant = (
        reveal.record_revealed(record=record, session_key=request.session.session_key)
        if permissions.can(request.user, record.merchant, Action.REVEAL_PII)
        else None
    )
    if grant is None or image.data is None:
        response = HttpResponse(REVEAL_FIRST, status=403, content_type="text/plain")
    else:
        response = HttpResponse(bytes(image.data), content_type=image.content_type)
        response["Content-Disposition"] = "inline"
        response["X-Content-Type-Options"] = "nosniff"
    response["Cache-Control"] = "no-store"
    return response


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

    def get_urls(self) -> list[Any]:
        view = self.admin_site.admin_view(image_view)
        return [path("image/<int:pk>/", view, name="kyc_incode_image"), *super().get_urls()]

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
