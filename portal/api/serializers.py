from __future__ import annotations

from typing import Any

from django.db.models import QuerySet
from drf_spectacular.utils import extend_schema_field
from rest_framework import serializers

from kyc import registry
from kyc.models import Certificate, IdentityField, KYCRecord, TransferEvent, TransferRequest
from kyc.services import transfer_page_url


class ErrorSerializer(serializers.Serializer):
    """Every error the API answers (portal/api/errors.py)."""

    detail = serializers.CharField(help_text="What went wrong, for a person to read.")
    code = serializers.CharField(
        help_text="Stable, for programs: e.g. invalid, not_authenticated, authentication_failed, "
        "permission_denied, not_found, conflict, idempotency_key_reused, "
        "idempotency_in_progress, throttled, or a provider failure code."
    )
    # Only describes the body (this serializer never validates input): the name shadows
    # Serializer.errors, which DRF's metaclass keeps apart from declared fields.
    errors = serializers.DictField(  # type: ignore[assignment]
        required=False,
        help_text="400 only: the messages per input field (a list, or per list item).",
    )


class TransferCreateSerializer(serializers.Serializer):
    provider = serializers.ChoiceField(choices=[p for p, _ in registry.choices()])
    reference = serializers.CharField(
        max_length=200, help_text="Your own reference for this customer."
    )
    coreid = serializers.CharField(
        required=False,
        allow_blank=True,
        max_length=100,
        help_text="CorePass: the customer's CoreID.",
    )
    items = serializers.ListField(
        child=serializers.CharField(max_length=100),
        required=False,
        default=list,
        max_length=60,
        help_text="What to ask for (CorePass items, Portmone facts). Defaults come from the provider settings.",
    )
    redirect_url = serializers.URLField(
        required=False, allow_blank=True, help_text="Where the customer goes when done."
    )


class TransferEventSerializer(serializers.ModelSerializer):
    class Meta:
        model = TransferEvent
        fields = ("created_at", "kind", "status", "provider_status", "tx_hash", "detail", "source")


class FieldValueSerializer(serializers.ModelSerializer):
    """One identity value. It is shown only to a key with the `pii` scope, and each
    response showing values is audited. Without `pii`, `value` is null and `masked`
    is true; the key, status and date still say what arrived."""

    # Without `pii` the value is not even decrypted (the views leave it out of the
    # query). With it, each value served is noted in context["pii_read"]
    # ({record id: field names}) for the one audit entry the view writes per response.

    value = serializers.SerializerMethodField(
        method_name="shown_value",
        help_text="The value; null when masked (key without the `pii` scope) or erased.",
    )
    masked = serializers.SerializerMethodField(
        help_text="True when a value exists but this key lacks the `pii` scope to see it."
    )

    class Meta:
        model = IdentityField
        fields = ("key", "value", "masked", "status", "received_at")

    def _reveal(self) -> bool:
        return bool(self.context.get("reveal_pii"))

    # Not get_value(): that name is Field.get_value(), which DRF calls for input.
    def shown_value(self, obj: IdentityField) -> str | None:
        if not self._reveal():
            return None
        value = obj.value
        if value is not None:
            seen: dict[int, set[str]] = self.context.get("pii_read", {})
            seen.setdefault(obj.record_id, set()).add(obj.key)
        return value

    def get_masked(self, obj: IdentityField) -> bool:
        return not self._reveal() and obj.erased_at is None


def identity_fields_for_api(
    qs: QuerySet[IdentityField], *, reveal: bool
) -> QuerySet[IdentityField]:
    """Peppers are never served; values are loaded (so decrypted) only when shown."""
    return qs.defer("pepper") if reveal else qs.defer("pepper", "value")


class TransferSerializer(serializers.ModelSerializer):
    page_url = serializers.SerializerMethodField()
    deep_link = serializers.CharField(read_only=True)
    events = TransferEventSerializer(many=True, read_only=True)
    data = serializers.SerializerMethodField()  # type: ignore[assignment]

    class Meta:
        model = TransferRequest
        fields = (
            "id",
            "provider",
            "reference",
            "items",
            "status",
            "provider_status",
            "failure_code",
            "status_detail",
            "page_url",
            "deep_link",
            "expires_at",
            "created_at",
            "updated_at",
            "completed_at",
            "events",
            "data",
        )

    def get_page_url(self, obj: TransferRequest) -> str:
        return transfer_page_url(obj)

    @extend_schema_field(FieldValueSerializer(many=True))
    def get_data(self, obj: TransferRequest) -> Any:
        """Values received for this request, once they arrived (masked without `pii`)."""
        fields = identity_fields_for_api(
            IdentityField.objects.filter(transfer=obj, erased_at__isnull=True).order_by("key"),
            reveal=bool(self.context.get("reveal_pii")),
        )
        return FieldValueSerializer(fields, many=True, context=self.context).data


class TransferListSerializer(TransferSerializer):
    class Meta(TransferSerializer.Meta):
        fields = (  # type: ignore[assignment]
            "id",
            "provider",
            "reference",
            "status",
            "provider_status",
            "page_url",
            "expires_at",
            "created_at",
        )


class CertificateSerializer(serializers.ModelSerializer):
    class Meta:
        model = Certificate
        fields = (
            "id",
            "provider",
            "slug",
            "external_id",
            "status",
            "recipient_id",
            "course_id",
            "batch_id",
            "download_url",
            "created_at",
        )


class RecordSerializer(serializers.ModelSerializer):
    # The identity values are "fields" in the answer. Declared in get_fields(): a class
    # attribute named `fields` would clash with Serializer's own `fields` property.
    certificates = CertificateSerializer(many=True, read_only=True)

    class Meta:
        model = KYCRecord
        fields = (
            "id",
            "reference",
            "provider",
            "review_status",
            "created_at",
            "updated_at",
            "erased_at",
            "fields",
            "certificates",
        )

    def get_fields(self) -> dict[str, serializers.Field]:
        out = dict(super().get_fields())  # "fields" there: the reverse relation's ids
        out["fields"] = FieldValueSerializer(many=True, read_only=True)
        return {name: out[name] for name in self.Meta.fields}
