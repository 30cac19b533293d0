"""Blockpass as the core sees it: the adapter (settings form) plus the flow's hooks
(stored webhooks, reconcile, the webhook and the app's merchant API URLs)."""

from __future__ import annotations

from kyc.contract import Delivery, Verdict
from providers.blockpass import services
from providers.blockpass.adapter import BlockpassAdapter


class BlockpassProvider(BlockpassAdapter):
    urls = "providers.blockpass.urls"
    sandbox = "providers.blockpass.sandbox"
    review_resubmit = True  # the app re-uploads the items staff asked for

    def inbound_check(self, delivery: Delivery) -> Verdict:
        return services.webhook_check(delivery)

    def inbound_received(self, *, event_id: int) -> None:
        services.enqueue_process(event_id)

    def inbound_duplicate(self, *, original_id: int, original_state: str) -> None:
        services.webhook_duplicate(original_id=original_id, original_state=original_state)

    def process_delivery(self, *, event_id: int) -> bool:
        services.inbound_process(event_id=event_id)
        return True

    def reconcile(self) -> int:
        return services.reconcile()

    def record_erased(self, *, record_id: int) -> None:
        services.record_reference_forget(record_id=record_id)
