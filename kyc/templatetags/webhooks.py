"""`{% disabled_webhook_endpoints merchant as disabled %}`: endpoints the portal (or a
person) switched off, with the reason, for the dashboard's warning."""

from __future__ import annotations

from django import template
from django.db.models import QuerySet

from kyc.models import Merchant, WebhookEndpoint

register = template.Library()


@register.simple_tag
def disabled_webhook_endpoints(merchant: Merchant | None) -> QuerySet[WebhookEndpoint]:
    if merchant is None:
        return WebhookEndpoint.objects.none()
    return (
        WebhookEndpoint.objects.filter(merchant=merchant, enabled=False)
        .only("pk", "url", "disabled_reason", "disabled_at")
        .order_by("-disabled_at")
    )
