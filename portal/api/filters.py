"""Filters on the API's lists (django-filter): `status`, `provider`, `reference`,
`created_after`, `created_before`. Several values of `status` or `provider`: repeat the
parameter (`?status=pending&status=accepted`). A value that is not a choice, or a time
that is not ISO 8601, is a 400 naming the parameter."""

from __future__ import annotations

import django_filters as df

from kyc import registry
from kyc.models import Certificate, KYCRecord, ReviewState, TransferRequest
from kyc.status import Status

_AFTER = "Created at or after this time (ISO 8601, e.g. 2026-12-01T00:00:00Z)."
_BEFORE = "Created before this time (ISO 8601)."


def _providers() -> list[tuple[str, str]]:
    return list(registry.choices())


class _Common(df.FilterSet):
    provider = df.MultipleChoiceFilter(choices=_providers, help_text="Provider name(s).")
    reference = df.CharFilter(help_text="Your reference, exactly as you sent it.")
    created_after = df.IsoDateTimeFilter(
        field_name="created_at", lookup_expr="gte", label="Created after", help_text=_AFTER
    )
    created_before = df.IsoDateTimeFilter(
        field_name="created_at", lookup_expr="lt", label="Created before", help_text=_BEFORE
    )


class TransferFilter(_Common):
    status = df.MultipleChoiceFilter(choices=Status.choices, help_text="Request status(es).")

    class Meta:
        model = TransferRequest
        fields = ("status", "provider", "reference", "created_after", "created_before")


class RecordFilter(_Common):
    status = df.MultipleChoiceFilter(
        field_name="review_status",
        choices=KYCRecord.Review.choices,
        help_text="Review status(es) of the record.",
    )

    class Meta:
        model = KYCRecord
        fields = ("status", "provider", "reference", "created_after", "created_before")


class CertificateFilter(_Common):
    status = df.MultipleChoiceFilter(
        choices=ReviewState.choices, help_text="Review status(es) of the certificate."
    )
    reference = df.CharFilter(
        field_name="record__reference", help_text="The customer's reference (its record's)."
    )

    class Meta:
        model = Certificate
        fields = ("status", "provider", "reference", "created_after", "created_before")
