"""Webhook endpoints through the API: manage (write scope), read deliveries (read scope).

Routes (registered in portal/api/urls.py):
- /api/v1/webhook-endpoints/ (GET list, POST create: the answer carries the secret, once)
- /api/v1/webhook-endpoints/{id}/ (GET, PATCH, DELETE)
- /api/v1/webhook-endpoints/{id}/rotate-secret/ (POST: the new secret, once)
- /api/v1/webhook-endpoints/{id}/deliveries/ (GET: newest first, cursor-paginated)
- /api/v1/webhook-endpoints/{id}/recover/ (POST {"since"}: re-send failures since then)
- /api/v1/webhook-endpoints/{id}/test/ (POST: a `ping`)
- /api/v1/webhook-deliveries/{id}/ (GET) and /{id}/replay/ (POST)

Everything is scoped to the key's merchant (others' objects are 404); writes go through
kyc/outbox.py services.
"""

from __future__ import annotations

from typing import Any, cast

from django.db.models import Prefetch, QuerySet
from drf_spectacular.utils import extend_schema, extend_schema_view, inline_serializer
from rest_framework import mixins, serializers, status, viewsets
from rest_framework.decorators import action
from rest_framework.exceptions import ValidationError
from rest_framework.request import Request
from rest_framework.response import Response

from kyc import outbox
from kyc.errors import InvalidInput
from kyc.models import ApiKey, Merchant, WebhookAttempt, WebhookDelivery, WebhookEndpoint
from kyc.permissions import Action
from portal.api import examples as ex
from portal.api.auth import Grant, MemberSession
from portal.api.idempotency import IdempotentPostMixin
from portal.api.pagination import NewestIdFirstCursorPagination

EVENT_CHOICES = ["*", *outbox.EVENT_TYPES]


# --- serializers ------------------------------------------------------------------------


class WebhookEndpointSerializer(serializers.ModelSerializer):
    secret_rotating_until = serializers.DateTimeField(
        source="previous_secret_expires_at",
        read_only=True,
        allow_null=True,
        help_text="Until then the previous secret signs too (a second signature).",
    )

    class Meta:
        model = WebhookEndpoint
        fields = (
            "id",
            "url",
            "events",
            "description",
            "enabled",
            "disabled_reason",
            "disabled_at",
            "include_pii",
            "secret_rotating_until",
            "last_success_at",
            "last_failure_at",
            "last_error",
            "created_at",
            "updated_at",
        )
        read_only_fields = fields


class WebhookEndpointWithSecretSerializer(WebhookEndpointSerializer):
    secret = serializers.CharField(
        read_only=True, help_text="whsec_ + base64. Shown only in this answer: store it now."
    )

    class Meta(WebhookEndpointSerializer.Meta):
        fields = (*WebhookEndpointSerializer.Meta.fields, "secret")  # type: ignore[assignment]
        read_only_fields = fields  # type: ignore[assignment]


class WebhookEndpointCreateSerializer(serializers.Serializer):
    url = serializers.CharField(
        max_length=1000, help_text="https URL of your backend (public address, no redirects)."
    )
    events = serializers.ListField(
        child=serializers.ChoiceField(choices=EVENT_CHOICES),
        min_length=1,
        max_length=len(EVENT_CHOICES),
        required=False,
        help_text='Event types to receive, or ["*"] for every event (the default).',
    )
    description = serializers.CharField(
        max_length=200, required=False, allow_blank=True, default=""
    )


class WebhookEndpointUpdateSerializer(serializers.Serializer):
    url = serializers.CharField(max_length=1000, required=False)
    events = serializers.ListField(
        child=serializers.ChoiceField(choices=EVENT_CHOICES),
        min_length=1,
        max_length=len(EVENT_CHOICES),
        required=False,
    )
    description = serializers.CharField(max_length=200, required=False, allow_blank=True)
    enabled = serializers.BooleanField(
        required=False, help_text="true re-enables an endpoint the portal disabled."
    )


class WebhookAttemptSerializer(serializers.ModelSerializer):
    class Meta:
        model = WebhookAttempt
        fields = ("at", "status_code", "latency_ms", "response_body", "error", "trigger")


class WebhookDeliverySerializer(serializers.ModelSerializer):
    webhook_id = serializers.CharField(source="message.msg_id", read_only=True)
    event_type = serializers.CharField(source="message.event_type", read_only=True)
    endpoint = serializers.IntegerField(source="endpoint_id", read_only=True)
    attempt_count = serializers.IntegerField(source="attempts", read_only=True)
    attempts = WebhookAttemptSerializer(many=True, read_only=True, source="attempts_log")

    class Meta:
        model = WebhookDelivery
        fields = (
            "id",
            "webhook_id",
            "event_type",
            "endpoint",
            "state",
            "attempt_count",
            "next_attempt_at",
            "last_status",
            "last_error",
            "created_at",
            "attempts",
        )


class RecoverSerializer(serializers.Serializer):
    since = serializers.DateTimeField(help_text="Re-send every delivery that failed since then.")


_SecretAnswer = inline_serializer(
    "WebhookSecret",
    {
        "secret": serializers.CharField(),
        "secret_rotating_until": serializers.DateTimeField(),
    },
)
_RecoverAnswer = inline_serializer("WebhookRecovered", {"count": serializers.IntegerField()})
_TestAnswer = inline_serializer(
    "WebhookTestSent", {"webhook_id": serializers.CharField(), "type": serializers.CharField()}
)


def _invalid(exc: InvalidInput) -> ValidationError:
    return ValidationError({exc.field: [exc.message]})


def _body(form_class: type[serializers.Serializer], request: Request) -> dict[str, Any]:
    """The request body as `form_class` reads it; a 400 naming each field when it cannot."""
    form = form_class(data=request.data)
    form.is_valid(raise_exception=True)
    return dict(form.validated_data)


# --- views ----------------------------------------------------------------------------------


class _Scoped(IdempotentPostMixin, viewsets.GenericViewSet):
    pagination_class = NewestIdFirstCursorPagination
    lookup_value_regex = "[0-9]{1,18}"  # longer would overflow bigint: a 404, not a 500
    # A member's session may change endpoints where the Webhooks page allows it.
    session_write_action = Action.MANAGE_API_KEYS

    @property
    def key(self) -> ApiKey | None:
        """The API key, or None for a member's session."""
        grant = cast(Grant, self.request.auth)
        return grant if isinstance(grant, ApiKey) else None

    @property
    def actor(self) -> Any:
        grant = cast(Grant, self.request.auth)
        return grant.user if isinstance(grant, MemberSession) else None

    @property
    def merchant(self) -> Merchant:
        return cast(Grant, self.request.auth).merchant


def _deliveries() -> QuerySet[WebhookDelivery]:
    return WebhookDelivery.objects.select_related("message").prefetch_related(
        Prefetch("attempts_log", WebhookAttempt.objects.order_by("-at", "-id"))
    )


@extend_schema_view(
    list=extend_schema(
        summary="List webhook endpoints", examples=[ex.ok("Your endpoints", ex.ENDPOINT)]
    ),
    retrieve=extend_schema(
        summary="Read one webhook endpoint", examples=[ex.ok("An endpoint", ex.ENDPOINT)]
    ),
    destroy=extend_schema(summary="Delete a webhook endpoint"),
)
@extend_schema(tags=["Webhooks"])
class WebhookEndpointViewSet(
    mixins.ListModelMixin,
    mixins.RetrieveModelMixin,
    mixins.DestroyModelMixin,
    _Scoped,
):
    serializer_class = WebhookEndpointSerializer
    queryset = WebhookEndpoint.objects.none()  # for the schema; requests use get_queryset()
    http_method_names = ["get", "post", "patch", "delete", "head", "options"]

    def get_queryset(self) -> QuerySet[WebhookEndpoint]:
        # The secrets are encrypted and never served: not loaded, so not decrypted.
        qs = WebhookEndpoint.objects.filter(merchant=self.merchant)
        if self.action in ("list", "retrieve", "deliveries", "recover", "destroy"):
            qs = qs.defer("secret", "previous_secret")
        return qs

    @extend_schema(
        summary="Add a webhook endpoint",
        description="The answer carries the signing secret (`whsec_…`) once: store it.",
        request=WebhookEndpointCreateSerializer,
        responses={201: WebhookEndpointWithSecretSerializer},
        examples=[
            ex.req("Two events to your backend", ex.ENDPOINT_CREATE),
            ex.ok("Created, with its secret", {**ex.ENDPOINT, "secret": ex.SECRET}, "201"),
        ],
    )
    def create(self, request: Request) -> Response:
        data = _body(WebhookEndpointCreateSerializer, request)
        try:
            endpoint, secret = outbox.webhook_endpoint_create(
                merchant=self.merchant,
                url=data["url"],
                events=data.get("events"),
                description=data.get("description", ""),
                actor=self.actor,
                key=self.key,
            )
        except InvalidInput as exc:
            raise _invalid(exc) from None
        endpoint.secret = secret
        body = WebhookEndpointWithSecretSerializer(endpoint).data
        return Response(body, status=status.HTTP_201_CREATED)

    @extend_schema(
        summary="Change a webhook endpoint",
        request=WebhookEndpointUpdateSerializer,
        responses=WebhookEndpointSerializer,
        examples=[
            ex.req("Every event, re-enabled", ex.ENDPOINT_UPDATE),
            ex.ok("Changed", {**ex.ENDPOINT, "events": ["*"]}),
        ],
    )
    def partial_update(self, request: Request, pk: str) -> Response:
        endpoint = self.get_object()
        data = _body(WebhookEndpointUpdateSerializer, request)
        try:
            outbox.webhook_endpoint_update(
                endpoint=endpoint,
                url=data.get("url"),
                events=data.get("events"),
                description=data.get("description"),
                enabled=data.get("enabled"),
            )
        except InvalidInput as exc:
            raise _invalid(exc) from None
        return Response(WebhookEndpointSerializer(endpoint).data)

    def perform_destroy(self, instance: WebhookEndpoint) -> None:
        outbox.webhook_endpoint_delete(endpoint=instance)

    @extend_schema(
        summary="Rotate an endpoint's signing secret",
        description="The new secret, once; the old one keeps signing too for 24 h.",
        request=None,
        responses={200: _SecretAnswer},
        examples=[
            ex.ok(
                "The new secret",
                {"secret": ex.SECRET, "secret_rotating_until": "2026-12-02T12:00:00Z"},
            )
        ],
    )
    @action(detail=True, methods=["post"], url_path="rotate-secret")
    def rotate_secret(self, request: Request, pk: str) -> Response:
        endpoint = self.get_object()
        secret = outbox.webhook_endpoint_rotate_secret(endpoint=endpoint)
        return Response(
            {
                "secret": secret,
                "secret_rotating_until": serializers.DateTimeField().to_representation(
                    endpoint.previous_secret_expires_at
                ),
            }
        )

    @extend_schema(
        summary="List an endpoint's deliveries",
        description="Newest first, with every attempt.",
        request=None,
        responses=WebhookDeliverySerializer(many=True),
        examples=[ex.ok("A page of deliveries", ex.DELIVERY)],
    )
    @action(detail=True, methods=["get"])
    def deliveries(self, request: Request, pk: str) -> Response:
        endpoint = self.get_object()
        qs = _deliveries().filter(endpoint=endpoint)
        page = self.paginate_queryset(qs)
        return self.get_paginated_response(WebhookDeliverySerializer(page, many=True).data)

    @extend_schema(
        summary="Re-send an endpoint's failed deliveries",
        request=RecoverSerializer,
        responses={200: _RecoverAnswer},
        examples=[
            ex.req("Everything that failed since yesterday", {"since": "2026-11-30T12:00:00Z"}),
            ex.ok("Deliveries sent again", {"count": 3}),
        ],
    )
    @action(detail=True, methods=["post"])
    def recover(self, request: Request, pk: str) -> Response:
        endpoint = self.get_object()
        since = _body(RecoverSerializer, request)["since"]
        count = outbox.webhook_endpoint_recover(endpoint=endpoint, since=since)
        return Response({"count": count})

    @extend_schema(
        summary="Send a test event (ping)",
        request=None,
        responses={202: _TestAnswer},
        examples=[
            ex.ok("Queued", {"webhook_id": ex.DELIVERY["webhook_id"], "type": "ping"}, "202")
        ],
    )
    @action(detail=True, methods=["post"])
    def test(self, request: Request, pk: str) -> Response:
        endpoint = self.get_object()
        message = outbox.webhook_endpoint_test(endpoint=endpoint)
        return Response(
            {"webhook_id": message.msg_id, "type": message.event_type},
            status=status.HTTP_202_ACCEPTED,
        )


@extend_schema_view(
    retrieve=extend_schema(
        summary="Read one webhook delivery", examples=[ex.ok("A delivery", ex.DELIVERY)]
    )
)
@extend_schema(tags=["Webhooks"])
class WebhookDeliveryViewSet(mixins.RetrieveModelMixin, _Scoped):
    serializer_class = WebhookDeliverySerializer
    queryset = WebhookDelivery.objects.none()  # for the schema; requests use get_queryset()

    def get_queryset(self) -> QuerySet[WebhookDelivery]:
        return _deliveries().filter(endpoint__merchant=self.merchant)

    @extend_schema(
        summary="Send a delivery again",
        request=None,
        responses={202: WebhookDeliverySerializer},
        examples=[ex.ok("Queued again", {**ex.DELIVERY, "state": "pending"}, "202")],
    )
    @action(detail=True, methods=["post"])
    def replay(self, request: Request, pk: str) -> Response:
        delivery = self.get_object()
        outbox.webhook_delivery_replay(delivery=delivery)
        delivery = self.get_queryset().get(pk=delivery.pk)
        return Response(WebhookDeliverySerializer(delivery).data, status=status.HTTP_202_ACCEPTED)
