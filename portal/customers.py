"""Merchant pages about customers (KYC records): a searchable list and one customer with
the data received (masked; revealed by role, audited) and their verifications."""

from __future__ import annotations

from typing import Any

from django import forms
from django.contrib.auth.decorators import login_required
from django.db.models import QuerySet
from django.http import HttpRequest, HttpResponse
from django.shortcuts import get_object_or_404, render
from django.views.decorators.http import require_GET

from kyc.models import IdentityField, KYCRecord
from kyc.permissions import Action, current_merchant, require
from portal.transfers import ListFilterForm, list_page, received_context, transfers_of_record


class CustomerFilterForm(ListFilterForm):
    field_order = ("q", "review", "provider")
    review = forms.ChoiceField(
        required=False,
        label="Review",
        choices=[("", "Any review status"), *KYCRecord.Review.choices],
    )

    def narrow(self, qs: QuerySet[Any], data: dict[str, Any]) -> QuerySet[Any]:
        return qs.filter(review_status=data["review"]) if data["review"] else qs


@login_required
@require(Action.VIEW)
@require_GET
def customer_list(request: HttpRequest) -> HttpResponse:
    rows = KYCRecord.objects.only(
        "id", "reference", "provider", "review_status", "created_at", "erased_at"
    )
    return list_page(request, "portal/customer_list.html", CustomerFilterForm, rows)


@login_required
@require(Action.VIEW)
@require_GET
def customer_detail(request: HttpRequest, pk: int) -> HttpResponse:
    merchant = current_merchant(request)
    record = get_object_or_404(
        KYCRecord.objects.defer("secrets", "external_id"), pk=pk, merchant=merchant
    )
    fields = IdentityField.objects.filter(record=record)
    return render(
        request,
        "portal/customer_detail.html",
        {
            "record": record,
            **received_context(request, merchant=merchant, record=record, fields=fields),
            "transfers": transfers_of_record(record.pk)[:100],
            "merchant": merchant,
        },
    )
