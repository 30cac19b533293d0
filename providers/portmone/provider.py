"""Portmone as the core sees it: the adapter (settings form, start a share request)
plus the flow's hooks (poll chain, page-poll check, stored deliveries, reconcile)."""

from __future__ import annotations

from kyc.contract import Delivery, Verdict
from providers.portmone import services, tasks
from providers.portmone.adapter import PortmoneAdapter


class PortmoneProvider(PortmoneAdapter):
    urls = "providers.portmone.urls"
    sandbox = "providers.portmone.sandbox"

    def transfer_started(self, *, transfer_id: str) -> None:
        services.transfer_started(transfer_id=transfer_id)

    def account_auth_failed(self, *, account_id: int, message: str) -> bool:
        services.account_auth_failed(account_id=account_id, message=message)
        return True

    def inbound_check(self, delivery: Delivery) -> Verdict:
        return services.webhook_check(delivery)

    def process_delivery(self, *, event_id: int) -> bool:
        services.inbound_process(event_id=event_id)
        return True

    def reconcile(self) -> int:
        return services.reconcile()

    def check_on_page_poll(self, *, page_token: str) -> None:
        tasks.check_transfer_by_page_token.delay(page_token)
