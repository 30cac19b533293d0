"""REST API. Every queryset is scoped to the API key's merchant; others' objects are 404."""

from __future__ import annotations

from typing import Any

from django.db.models import QuerySet
from drf_spectacular.utils import extend_schema
from rest_framework import mixins, status, viewsets
from rest_framework.exceptions import ValidationError
from rest_framework.request import Request
from rest_framework.response import Response

from kyc import services
from kyc.models import Certificate, KYCRecord, TransferRequest
from kyc.status import Status
from portal.api import serializers as s
from providers.errors import InvalidInput


class MerchantScoped:
    @property
    def merchant(self) -> Any:
        return self.request.auth.merchant  # type: ignore[attr-defined]


class TransferViewSet(
    MerchantScoped,
    mixins.CreateModelMixin,
    mixins.RetrieveModelMixin,
    mixins.ListModelMixin,
    viewsets.GenericViewSet,
):
    lookup_value_regex = "[0-9a-f-]{36}"
    queryset = TransferRequest.objects.none()  # for the schema; requests use get_queryset()

    def get_queryset(self) -> QuerySet[TransferRequest]:
        qs = TransferRequest.objects.filter(merchant=self.merchant).order_by("-created_at")
        if self.action == "retrieve":
            return qs.prefetch_related("events")
        return qs

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
        body = s.TransferSerializer(transfer).data
        if transfer.status == Status.FAILED:
            # The request is kept (nothing lost) but the provider refused or was down.
            code = (
                status.HTTP_503_SERVICE_UNAVAILABLE
                if transfer.failure_code in ("provider_unavailable", "provider_timeout")
                else status.HTTP_422_UNPROCESSABLE_ENTITY
            )
            return Response(body, status=code)
        return Response(body, status=status.HTTP_201_CREATED)


class RecordViewSet(MerchantScoped, viewsets.ReadOnlyModelViewSet):
    serializer_class = s.RecordSerializer
    lookup_value_regex = "[0-9]{1,18}"  # longer would overflow bigint: a 404, not a 500
    queryset = KYCRecord.objects.none()  # for the schema; requests use get_queryset()

    def get_queryset(self) -> QuerySet[KYCRecord]:
        return (
            KYCRecord.objects.filter(merchant=self.merchant)
            .order_by("-created_at")
            .prefetch_related("fields", "certificates")
        )


class CertificateViewSet(MerchantScoped, viewsets.ReadOnlyModelViewSet):
    serializer_class = s.CertificateSerializer
    lookup_value_regex = "[0-9]{1,18}"  # longer would overflow bigint: a 404, not a 500
    queryset = Certificate.objects.none()  # for the schema; requests use get_queryset()

    def get_queryset(self) -> QuerySet[Certificate]:
        return Certificate.objects.filter(merchant=self.merchant).order_by("-created_at")
