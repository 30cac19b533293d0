"""REST API. Every queryset is scoped to the caller's merchant; others' objects are 404.

The caller is an API key (`Authorization: Bearer`) or a signed-in member's session (the
browsable API); see portal/api/auth.py. Lists are filtered with django-filter
(portal/api/filters.py) and cursor-paginated (portal/api/pagination.py); every POST
honours `Idempotency-Key` (portal/api/idempotency.py).
"""

from __future__ import annotations

from typing import Any, cast

from django.db.models import Prefetch, QuerySet
from django_filters.rest_framework import DjangoFilterBackend
from drf_spectacular.utils import OpenApiResponse, extend_schema, extend_schema_view
from rest_framework import mixins, status, viewsets
from rest_framework.decorators import action
from rest_framework.exceptions import ValidationError
from rest_framework.request import Request
from rest_framework.response import Response

from kyc import services
from kyc.errors import InvalidInput
from kyc.models import ApiKey, Certificate, IdentityField, KYCRecord, Merchant, TransferRequest
from kyc.status import Status
from portal.api import errors
from portal.api import examples as ex
from portal.api import serializers as s
from portal.api.auth import Grant, MemberSession, may_read_pii
from portal.api.filters import CertificateFilter, RecordFilter, TransferFilter
from portal.api.idempotency import IdempotentPostMixin
from portal.api.pagination import NewestFirstCursorPagination


class MerchantScopedViewSet(IdempotentPostMixin, viewsets.GenericViewSet):
    """Scopes every query to the caller's merchant, and audits decrypted identity values.

    Serializers decrypt values only when the caller may (a key with the `pii` scope, a
    member whose role and permission allow revealing; context "reveal_pii") and note each
    one they serve in context "pii_read"; a response that carried any gets one audit
    entry (key or user, endpoint, records, field names).
    """

    filter_backends = [DjangoFilterBackend]
    pagination_class = NewestFirstCursorPagination

    @property
    def grant(self) -> Grant:
        return cast(Grant, self.request.auth)

    @property
    def key(self) -> ApiKey | None:
        """The API key, or None for a member's session."""
        return self.grant if isinstance(self.grant, ApiKey) else None

    @property
    def actor(self) -> Any:
        """Who acts, for services: the API key, or the signed-in user."""
        grant = self.grant
        return grant.user if isinstance(grant, MemberSession) else grant

    @property
    def merchant(self) -> Merchant:
        return self.grant.merchant

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
            endpoint = f"{request.method} {request.path}"
            if self.key is not None:
                services.api_key_pii_read_audit(key=self.key, endpoint=endpoint, fields=served)
            else:
                services.audit_log(
                    actor=self.actor,
                    action="pii.api_read",
                    merchant=self.merchant,
                    detail={
                        "endpoint": endpoint[:300],
                        "records": sorted(served),
                        "fields": {str(k): sorted(v) for k, v in sorted(served.items())},
                    },
                )
        return super().finalize_response(request, response, *args, **kwargs)


class ReadOnlyMerchantViewSet(
    mixins.RetrieveModelMixin, mixins.ListModelMixin, MerchantScopedViewSet
):
    """List and read rows with an integer id (records, certificates)."""

    lookup_value_regex = "[0-9]{1,18}"  # longer would overflow bigint: a 404, not a 500


_TRANSFER_LIST = (
    "Newest first, cursor-paginated (`next`/`previous` links). Filter with `status`, "
    "`provider` (repeat either for several values), `reference`, `created_after`, "
    "`created_before`."
)


@extend_schema_view(
    list=extend_schema(
        summary="List verification requests",
        description=_TRANSFER_LIST,
        examples=[ex.ok("A page of requests", ex.TRANSFER_ROW)],
    ),
    retrieve=extend_schema(
        summary="Read one verification request",
        description="Its status, timeline (`events`) and the values received so far (`data`).",
        examples=[ex.ok("A request waiting for the customer", ex.TRANSFER)],
    ),
)
@extend_schema(tags=["Verifications"])
class TransferViewSet(
    mixins.CreateModelMixin,
    mixins.RetrieveModelMixin,
    mixins.ListModelMixin,
    MerchantScopedViewSet,
):
    lookup_value_regex = "[0-9a-f-]{36}"
    queryset = TransferRequest.objects.none()  # for the schema; requests use get_queryset()
    filterset_class = TransferFilter

    def get_queryset(self) -> QuerySet[TransferRequest]:
        # Encrypted columns no response shows are not loaded, so not decrypted.
        qs = (
            TransferRequest.objects.filter(merchant=self.merchant)
            .order_by("-created_at")
            .defer("subject", "provider_secrets", "qr_payload", "qr_svg")
        )
        if self.action in ("retrieve", "cancel"):
            return qs.prefetch_related("events")
        return qs.defer("deep_link") if self.action == "list" else qs

    def get_serializer_class(self) -> type:
        if self.action == "create":
            return s.TransferCreateSerializer
        if self.action == "list":
            return s.TransferListSerializer
        return s.TransferSerializer

    @extend_schema(
        summary="Start a verification request",
        description=(
            "Creates the request, then asks the provider to start it. 201: started; the "
            "answer's `page_url` is the page to send the customer to. If the provider "
            "refused (422) or is down (503), the request is kept as `failed` and the "
            "error body also carries it (its fields beside `detail` and `code`)."
        ),
        request=s.TransferCreateSerializer,
        responses={
            201: s.TransferSerializer,
            422: OpenApiResponse(
                s.ErrorSerializer,
                description="The provider refused (the failed request's fields included), "
                "or the Idempotency-Key was used for another request.",
            ),
            503: OpenApiResponse(
                s.ErrorSerializer,
                description="The provider is down: the request is kept as failed "
                "(its fields included); start a new one later.",
            ),
        },
        examples=[
            *ex.transfer_create_requests(),
            ex.ok("Started", ex.TRANSFER, "201"),
            ex.ok(
                "The provider refused",
                {
                    **ex.TRANSFER,
                    "status": "failed",
                    "failure_code": "items_not_verified",
                    "status_detail": "The customer has not verified these items in CorePass.",
                    "events": [],
                    "detail": "The customer has not verified these items in CorePass.",
                    "code": "items_not_verified",
                },
                "422",
            ),
        ],
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
                actor=self.grant.user if isinstance(self.grant, MemberSession) else None,
                source="api",
            )
        except InvalidInput as exc:
            field = "coreid" if exc.field == "subject" else exc.field
            raise ValidationError({field: [exc.message]}) from None
        # cast: TransferSerializer's own "data" field shadows Serializer.data for mypy.
        answer = s.TransferSerializer(transfer, context=self.get_serializer_context())
        body = cast(dict[str, Any], answer.data)
        if transfer.status == Status.FAILED:
            # The request is kept (nothing lost) but the provider refused or was down.
            code = (
                status.HTTP_503_SERVICE_UNAVAILABLE
                if transfer.failure_code in ("provider_unavailable", "provider_timeout")
                else status.HTTP_422_UNPROCESSABLE_ENTITY
            )
            failed = {
                **body,
                **errors.body(transfer.status_detail or "The provider refused.", "provider_error"),
            }
            if transfer.failure_code:
                failed["code"] = transfer.failure_code
            return Response(failed, status=code)
        return Response(body, status=status.HTTP_201_CREATED)

    @extend_schema(
        summary="Cancel a verification request",
        description=(
            "Ends a request that has not ended yet: its status becomes `cancelled`, the "
            "`verification.canceled` webhook goes out and the cancel is audited. The "
            "provider is told where it has a way to hear it (Incode: the interview is "
            "deleted); for the others the request is cancelled in the portal, and "
            "anything the provider sends later is ignored. Cancelling a cancelled request "
            "answers 200 with the same body; any other ended request (completed, failed, "
            "declined, expired, rejected) is a 409."
        ),
        request=None,
        responses={200: s.TransferSerializer},
        examples=[ex.ok("Cancelled", ex.CANCELLED)],
    )
    @action(detail=True, methods=["post"])
    def cancel(self, request: Request, pk: str) -> Response:
        transfer = self.get_object()
        try:
            services.transfer_cancel(transfer=transfer, actor=self.actor)
        except services.TransferNotCancellable as exc:
            raise errors.conflict(str(exc)) from None
        transfer = self.get_queryset().get(pk=transfer.pk)
        return Response(s.TransferSerializer(transfer, context=self.get_serializer_context()).data)


@extend_schema_view(
    list=extend_schema(
        summary="List customer records",
        description=(
            "One record per customer reference, with the identity values received "
            "(masked without the `pii` scope) and certificates. " + _TRANSFER_LIST
        ).replace("`status`", "`status` (review status)", 1),
        examples=[ex.ok("A page of records", ex.RECORD)],
    ),
    retrieve=extend_schema(
        summary="Read one customer record",
        examples=[ex.ok("A record (values masked)", ex.RECORD)],
    ),
)
@extend_schema(tags=["Customer records"])
class RecordViewSet(ReadOnlyMerchantViewSet):
    serializer_class = s.RecordSerializer
    queryset = KYCRecord.objects.none()  # for the schema; requests use get_queryset()
    filterset_class = RecordFilter

    def get_queryset(self) -> QuerySet[KYCRecord]:
        return (
            KYCRecord.objects.filter(merchant=self.merchant)
            .order_by("-created_at")
            .defer("external_id", "secrets")  # encrypted, never served: not decrypted
            .prefetch_related(Prefetch("certificates", _certificates()))
        )

    def filter_queryset(self, queryset: QuerySet[Any]) -> QuerySet[Any]:
        # Values are loaded (and so decrypted) only for a caller who may see them.
        fields = s.identity_fields_for_api(
            IdentityField.objects.order_by("key"), reveal=self.reveal_pii()
        )
        return super().filter_queryset(queryset).prefetch_related(Prefetch("fields", fields))


@extend_schema_view(
    list=extend_schema(
        summary="List certificates",
        description=(
            "Certificates received (Blockpass) or issued (Sunbird). `reference` is the "
            "customer's record reference. " + _TRANSFER_LIST
        ),
        examples=[ex.ok("A page of certificates", ex.CERTIFICATE)],
    ),
    retrieve=extend_schema(
        summary="Read one certificate",
        examples=[ex.ok("A certificate", ex.CERTIFICATE)],
    ),
)
@extend_schema(tags=["Certificates"])
class CertificateViewSet(ReadOnlyMerchantViewSet):
    serializer_class = s.CertificateSerializer
    queryset = Certificate.objects.none()  # for the schema; requests use get_queryset()
    filterset_class = CertificateFilter

    def get_queryset(self) -> QuerySet[Certificate]:
        return _certificates().filter(merchant=self.merchant).order_by("-created_at")


def _certificates() -> QuerySet[Certificate]:
    """The raw certificate and the recipient's name are encrypted and never served."""
    return Certificate.objects.defer("raw", "recipient_name")
