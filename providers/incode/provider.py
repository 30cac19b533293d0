"""Incode as the core sees it: the adapter (settings form, start an onboarding)
plus the flow's hooks (stored webhooks, reconcile, page-poll check, erasure)."""

from __future__ import annotations

from typing import Any

from kyc.models import TransferRequest
from providers.incode import services, tasks
from providers.incode.adapter import IncodeAdapter


class IncodeProvider(IncodeAdapter):
    urls = "providers.incode.urls"
    sandbox = "providers.incode.sandbox"

    def process_delivery(self, *, event_id: int) -> bool:
        services.inbound_process(event_id=event_id)
        return True

    def reconcile(self) -> int:
        return services.reconcile()

    def check_on_page_poll(self, *, page_token: str) -> None:
        tasks.check_transfer_by_page_token.delay(page_token)

    def record_erased(self, *, record_id: int) -> None:
        services.record_erased(record_id=record_id)

    def transfer_cancel(self, *, transfer_id: str) -> bool:
        # Incode has no cancel call; deleting the interview ends the onboarding session
        # (its URL stops working) and erases what the customer sent so far.
        return services.transfer_cancelled(transfer_id=transfer_id)

    def review_decide(self, *, transfer_id: str, approve: bool, reason: str, actor: Any) -> bool:
        # The staff decision, and an approval is also sent to Incode (after commit).
        transfer = TransferRequest.objects.get(pk=transfer_id)
        services.transfer_decide(transfer=transfer, approve=approve, reason=reason, actor=actor)
        return True
