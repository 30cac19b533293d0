"""CorePass as the core sees it: the adapter (settings form, start a request)
plus the flow's hooks (stored callbacks, reconcile, inbound URLs)."""

from __future__ import annotations

from typing import Any

from kyc.contract import Delivery, Verdict
from providers.corepass import services
from providers.corepass.adapter import CorePassAdapter


class CorePassProvider(CorePassAdapter):
    urls = "providers.corepass.urls"
    sandbox = "providers.corepass.sandbox"

    def inbound_check(self, delivery: Delivery) -> Verdict:
        return services.callback_process(
            transfer=delivery.transfer,
            kind=delivery.kind,
            content_type=delivery.headers.get("content-type", ""),
            body=delivery.body,
            now=services.now_ts(),
        )

    def inbound_apply(self, *, event: Any, delivery: Delivery, verdict: Verdict) -> Verdict:
        return services.callback_apply(event=event, transfer=delivery.transfer, verdict=verdict)

    def process_delivery(self, *, event_id: int) -> bool:
        services.inbound_process(event_id=event_id)
        return True

    def reconcile(self) -> int:
        return services.reconcile()

    def delivery_choose(self, *, event_id: int, actor: Any) -> bool:
        return services.data_delivery_accept(event_id=event_id, actor=actor)
