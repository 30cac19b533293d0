"""Filters on the API's lists (django-filter): `status`, `provider`, `reference`,
`created_after`, `created_before`. Several values of `status` or `provider`: repeat the
parameter (`?status=pending&status=accepted`). A value that is not a choice, or a time
that is not ISO 8601, is a 400 naming the parameter."""

from __future__ import annotations

from datetime import UTC, datetime
from typing import Any

import django_filters as df
from django.core.exceptions import ValidationError
from django.utils.dateparse import parse_datetime
from django_filters.fields import IsoDateTimeField
from django_filters.utils import handle_timezone

from kyc import registry
from kyc.models import Certificate, KYCRecord, ReviewState, TransferRequest
from kyc.status import Status

_AFTER = "Created at or after this time (ISO 8601, e.g. 2026-12-01T00:00:00Z)."
_BEFORE = "Created before this time (ISO 8601)."


def _providers() -> list[tuple[str, str]]:
    return list(registry.choices())


def parse_utc(value: str) -> datetime:
    """An ISO 8601 time as UTC, or ValueError. Python reads offsets up to 24 hours, the
    database only up to 15:59: shifted to UTC first, any offset Python reads is fine. A
    time whose UTC leaves years 1-9999 (0001-01-01T00:00+05:00) is bad input, not a 500."""
    try:
        parsed = parse_datetime(value)
    except ValueError:
        parsed = None  # the right shape, not a time (month 13, offset 99:00)
    if parsed is None:
        raise ValueError(value)
    try:
        return handle_timezone(parsed).astimezone(UTC)  # type: ignore[no-any-return]
    except OverflowError:
        raise ValueError(value) from None


class _UtcIsoDateTimeField(IsoDateTimeField):
    """ISO 8601, handed to the database in UTC (see parse_utc); out of range is a 400."""

    def to_python(self, value: Any) -> datetime | None:
        result = super().to_python(value)
        if result is None:
            return None
        try:
            return result.astimezone(UTC)  # type: ignore[no-any-return]
        except OverflowError:
            raise ValidationError(self.error_messages["invalid"], code="invalid") from None


class _UtcIsoDateTimeFilter(df.IsoDateTimeFilter):
    field_class = _UtcIsoDateTimeField


class _Common(df.FilterSet):
    provider = df.MultipleChoiceFilter(choices=_providers, help_text="Provider name(s).")
    reference = df.CharFilter(help_text="Your reference, exactly as you sent it.")
    created_after = _UtcIsoDateTimeFilter(
        field_name="created_at", lookup_expr="gte", label="Created after", help_text=_AFTER
    )
    created_before = _UtcIsoDateTimeFilter(
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
