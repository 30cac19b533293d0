"""Outgoing webhook deliveries with every attempt; replay re-sends the original id."""

from __future__ import annotations

from django.contrib import admin
from django.db.models import QuerySet
from django.http import HttpRequest
from django.utils.html import format_html_join
from django.utils.safestring import mark_safe

from kyc.admin.base import ReadOnlyAdmin
from kyc.models import WebhookDelivery
from kyc.permissions import Action


@admin.register(WebhookDelivery)
class WebhookDeliveryAdmin(ReadOnlyAdmin):
    """Outgoing webhook deliveries with every attempt; replay re-sends the original id.
    Like the merchant's Webhooks page: owners and administrators only."""

    merchant_path = "endpoint__merchant"
    view_rule = Action.MANAGE_API_KEYS
    list_display = ("id", "endpoint", "event_type", "webhook_id", "state", "attempts")
    list_filter = ("state",)
    list_select_related = ("endpoint", "message")
    search_fields = ("message__msg_id",)
    fields = readonly_fields = (
        "endpoint",
        "event_type",
        "webhook_id",
        "state",
        "attempts",
        "next_attempt_at",
        "last_status",
        "last_error",
        "created_at",
        "attempt_log",
    )
    actions = ("replay",)

    @admin.display(description="event")
    def event_type(self, obj: WebhookDelivery) -> str:
        return obj.message.event_type

    @admin.display(description="webhook-id")
    def webhook_id(self, obj: WebhookDelivery) -> str:
        return obj.message.msg_id

    @admin.display(description="attempts (newest first)")
    def attempt_log(self, obj: WebhookDelivery) -> str:
        return format_html_join(
            mark_safe("<br>"),  # noqa: S308  (a constant)
            "{} · {} · {} ms · {} · {}",
            (
                (a.at, a.status_code or "no answer", a.latency_ms, a.error or "ok", a.trigger)
                for a in obj.attempts_log.order_by("-at", "-id")
            ),
        )

    @admin.action(description="Replay selected deliveries", permissions=["manage_api_keys"])
    def replay(self, request: HttpRequest, queryset: QuerySet) -> None:
        from kyc import outbox

        for delivery in self.permitted(request, queryset, Action.MANAGE_API_KEYS):
            outbox.webhook_delivery_replay(delivery=delivery, actor=request.user)
