"""Merchant pages about customers (KYC records): a searchable list and one customer with
the data received (masked; revealed by role, audited) and their verifications."""

from __future__ import annotations

from typing import Any

from django import forms
from django.contrib.auth.decorators import login_required
from django.core.paginator import Paginator
from django.http import HttpRequest, HttpResponse
from django.shortcuts import get_object_or_404, render
from django.views.decorators.http import require_GET

from kyc import permissions, registry, reveal
from kyc.models import IdentityField, KYCRecord
from kyc.permissions import Action, current_merchant, require
from portal.transfers import PER_PAGE, field_label, page_links, transfers_of_record


class CustomerFilterForm(forms.Form):
    q = forms.CharField(
        required=False, label="Reference", max_length=200, help_text="Part of your reference."
    )
    review = forms.ChoiceField(
        required=False,
        label="Review",
        choices=[("", "Any review status"), *KYCRecord.Review.choices],
    )
    provider = forms.ChoiceField(required=False)

    def __init__(self, *args: Any, **kwargs: Any) -> None:
        super().__init__(*args, **kwargs)
        self.fields["provider"].choices = [("", "Any provider"), *registry.choices()]  # type: ignore[attr-defined]


@login_required
@require(Action.VIEW)
@require_GET
def customer_list(request: HttpRequest) -> HttpResponse:
    merchant = current_merchant(request)
    form = CustomerFilterForm(request.GET or None)
    qs = (
        KYCRecord.objects.filter(merchant=merchant)
        .only("id", "reference", "provider", "review_status", "created_at", "erased_at")
        .order_by("-created_at", "-pk")
    )
    if form.is_valid():
        data = form.cleaned_data
        if data["q"]:
            qs = qs.filter(reference__icontains=data["q"].strip())
        if data["review"]:
            qs = qs.filter(review_status=data["review"])
        if data["provider"]:
            qs = qs.filter(provider=data["provider"])
    page = Paginator(qs, PER_PAGE).get_page(request.GET.get("page"))
    return render(
        request,
        "portal/customer_list.html",
        {"form": form, "page": page, "links": page_links(request, page), "merchant": merchant},
    )


@login_required
@require(Action.VIEW)
@require_GET
def customer_detail(request: HttpRequest, pk: int) -> HttpResponse:
    merchant = current_merchant(request)
    record = get_object_or_404(
        KYCRecord.objects.defer("secrets", "external_id"), pk=pk, merchant=merchant
    )
    fields = list(
        IdentityField.objects.filter(record=record)
        .order_by("key")
        .only("pk", "key", "provider", "status", "received_at", "erased_at", "record_id")
    )
    can_reveal = permissions.can(request.user, merchant, Action.REVEAL_PII)
    values: dict[int, Any] = {}
    grant = None
    if fields and can_reveal:
        values, grant = reveal.revealed_values(
            record=record, session_key=request.session.session_key
        )
    return render(
        request,
        "portal/customer_detail.html",
        {
            "record": record,
            "fields": [
                {
                    "field": f,
                    "label": field_label(f.key),
                    "revealed": f.pk in values,
                    "value": values.get(f.pk),
                }
                for f in fields
            ],
            "may_reveal": can_reveal,
            "can_reveal": can_reveal
            and any(f.erased_at is None and f.pk not in values for f in fields),
            "grant": grant,
            "purposes": reveal.PURPOSES,
            "transfers": transfers_of_record(record.pk)[:100],
            "merchant": merchant,
        },
    )
