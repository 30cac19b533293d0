"""REST API. Every queryset is scoped to the API key's merchant; others' objects are 404."""

from __future__ import annotations

from typing import Any, cast

from django.db.models import Prefetch, QuerySet
from drf_spectacular.utils import extend_schema
from rest_framework import mixins, status, viewsets
from rest_framework.exceptions import ValidationError
from rest_framework.request import Request
from rest_framework.response import Response

from kyc import services
from kyc.models import ApiKey, Certificate, IdentityField, KYCRecord, TransferRequest
from kyc.status import Status
from portal.api import serializers as s
from portal.api.auth import may_read_pii
from providers.errors import InvalidInput


class MerchantScopedViewSet(viewsets.GenericViewSet):
    """Scopes every query to the key's merchant, and audits decrypted identity values.

    Serializers decrypt values only when the key has the `pii` scope (context
    "reveal_pii") and note each one they serve in context "pii_read"; a response
    that carried any gets one audit entry (key, endpoint, records, field names).
    """

    @property
    def key(self) -> ApiKey:
        return cast(ApiKey, self.request.auth)

    @property
    def merchant(self) -> Any:
        return self.key.merchant

    def pii_served(self) -> dict[int, set[str]]:
        served: dict[int, set[str]] | None = getattr(self, "_pii_served", None)
        if served is None:
            served = {}
            self._pii_served = served
        return served

    def reveal_pii(self) -> bool:
        return may_read_pii(self.request)

    def get_serializer_context(self) -> dict[str, Any]:
        context = dict(super().get_serializer_context())
        context["reveal_pii"] = self.reveal_pii()
        context["pii_read"] = self.pii_served()
        return context

    def finalize_response(
        self, request: Request, response: Response, *args: Any, **kwargs: Any
    ) -> Response:
        served = self.pii_served()
        if served and not getattr(response, "exception", False):
            services.api_key_pii_read_audit(
                key=self.key, endpoint=f"{request.method} {request.path}", fields=served
            )
        return super().finalize_response(request, response, *args, **kwargs)


class TransferViewSet(
    mixins.CreateModelMixin,
    mixins.RetrieveModelMixin,
    mixins.ListModelMixin,
    MerchantScopedViewSet,
):
    lookup_value_regex = "[0-9a-f-]{36}"
    queryset = TransferRequest.objects.none()  # for the schema; requests use get_queryset()

    def get_queryset(self) -> QuerySet[TransferRequest]:
        # Encrypted columns no response shows are not loaded, so not decrypted.
        qs = (
            TransferRequest.objects.filter(merchant=self.merchant)
            .order_by("-created_at")
            .defer("subject", "provider_secrets", "qr_payload", "qr_svg")
        )
        if self.action == "retrieve":
            return qs.prefetch_related("events")
        return qs.defer("deep_link") if self.action == "list" else qs

    def get_serializer_class(self) -> type:
        if self.action == "create":
            return s.TransferCreateSerializer
        if self.action == "list":
            return s.TransferListSerializer
        return s.TransferSerializer

    @extend_schema(
        request=s.TransferCreateSerializer,
        responses={201: s.TransferSerializer, 422: s.TransferSerializer, 503: s.TransferSerializer},
    )
    def create(self, request: Request, *args: Any, **kwargs: Any) -> Response:
        form = s.TransferCreateSerializer(data=request.data)
        form.is_valid(raise_exception=True)
        data = form.validated_data
        try:
            transfer = services.transfer_create(
                merchant=self.merchant,
                provider=data["provider"],
                reference=data["reference"],
                subject=data.get("coreid", ""),
                items=data.get("items") or [],
                redirect_url=data.get("redirect_url", ""),
                source="api",
            )
        except InvalidInput as exc:
            field = "coreid" if exc.field == "subject" else exc.field
            raise ValidationError({field: [exc.message]}) from None
        body = s.TransferSerializer(transfer, context=self.get_serializer_context()).data
        if transfer.status == Status.FAILED:
            # The request is kept (nothing lost) but the provider refused or was down.
            code = (
                status.HTTP_503_SERVICE_UNAVAILABLE
                if transfer.failure_code in ("provider_unavailable", "provider_timeout")
                else status.HTTP_422_UNPROCESSABLE_ENTITY
            )
            return Response(body, status=code)
        return Response(body, status=status.HTTP_201_CREATED)


class RecordViewSet(mixins.RetrieveModelMixin, mixins.ListModelMixin, MerchantScopedViewSet):
    serializer_class = s.RecordSerializer
    lookup_value_regex = "[0-9]{1,18}"  # longer would overflow bigint: a 404, not a 500
    queryset = KYCRecord.objects.none()  # for the schema; requests use get_queryset()

    def get_queryset(self) -> QuerySet[KYCRecord]:
        return (
            KYCRecord.objects.filter(merchant=self.merchant)
            .order_by("-created_at")
            .defer("external_id", "secrets")  # encrypted, never served: not decrypted
            .prefetch_related(Prefetch("certificates", _certificates()))
        )

    def filter_queryset(self, queryset: QuerySet[Any]) -> QuerySet[Any]:
        # Values are loaded (and so decrypted) only for a key that may see them.
        fields = s.identity_fields_for_api(
            IdentityField.objects.order_by("key"), reveal=self.reveal_pii()
        )
        return super().filter_queryset(queryset).prefetch_related(Prefetch("fields", fields))


class CertificateViewSet(mixins.RetrieveModelMixin, mixins.ListModelMixin, MerchantScopedViewSet):
    serializer_class = s.CertificateSerializer
    lookup_value_regex = "[0-9]{1,18}"  # longer would overflow bigint: a 404, not a 500
    queryset = Certificate.objects.none()  # for the schema; requests use get_queryset()

    def get_queryset(self) -> QuerySet[Certificate]:
        return _certificates().filter(merchant=self.merchant).order_by("-created_at")


def _certificates() -> QuerySet[Certificate]:
    """The raw certificate and the recipient's name are encrypted and never served."""
    return Certificate.objects.defer("raw", "recipient_name")
