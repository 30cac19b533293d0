"""Blockpass as the core sees it: the adapter (settings form) plus the flow's hooks
(stored webhooks, reconcile, the webhook and the app's merchant API URLs)."""

from __future__ import annotations

from typing import TYPE_CHECKING

from providers.blockpass import services, urls
from providers.blockpass.adapter import BlockpassAdapter

if TYPE_CHECKING:
    from kyc.contract import UrlPatterns


class BlockpassProvider(BlockpassAdapter):
    def process_delivery(self, *, event_id: int) -> bool:
        services.inbound_process(event_id=event_id)
        return True

    def reconcile(self) -> int:
        return services.reconcile()

    def urlpatterns(self) -> UrlPatterns:
        return list(urls.urlpatterns)

    def sandbox_urlpatterns(self) -> UrlPatterns:
        from providers.blockpass import sandbox  # loaded only when SANDBOX mounts it

        return list(sandbox.urlpatterns)
