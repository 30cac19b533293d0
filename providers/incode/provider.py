"""Incode as the core sees it: the adapter (settings form, start an onboarding)
plus the flow's hooks (stored webhooks, reconcile, page-poll check, erasure)."""

from __future__ import annotations

from typing import TYPE_CHECKING

from providers.incode import services, tasks, urls
from providers.incode.adapter import IncodeAdapter

if TYPE_CHECKING:
    from kyc.contract import UrlPatterns


class IncodeProvider(IncodeAdapter):
    def process_delivery(self, *, event_id: int) -> bool:
        services.inbound_process(event_id=event_id)
        return True

    def reconcile(self) -> int:
        return services.reconcile()

    def check_on_page_poll(self, *, page_token: str) -> None:
        tasks.check_transfer_by_page_token.delay(page_token)

    def record_erased(self, *, record_id: int) -> None:
        services.record_erased(record_id=record_id)

    def urlpatterns(self) -> UrlPatterns:
        return list(urls.urlpatterns)

    def sandbox_urlpatterns(self) -> UrlPatterns:
        from providers.incode import sandbox  # loaded only when SANDBOX mounts it

        return list(sandbox.urlpatterns)
