"""CorePass as the core sees it: the adapter (settings form, start a request)
plus the flow's hooks (stored callbacks, reconcile, inbound URLs)."""

from __future__ import annotations

from typing import TYPE_CHECKING

from providers.corepass import services, urls
from providers.corepass.adapter import CorePassAdapter

if TYPE_CHECKING:
    from kyc.contract import UrlPatterns


class CorePassProvider(CorePassAdapter):
    def process_delivery(self, *, event_id: int) -> bool:
        services.inbound_process(event_id=event_id)
        return True

    def reconcile(self) -> int:
        return services.reconcile()

    def urlpatterns(self) -> UrlPatterns:
        return list(urls.urlpatterns)

    def sandbox_urlpatterns(self) -> UrlPatterns:
        from providers.corepass import sandbox  # loaded only when SANDBOX mounts it

        return list(sandbox.urlpatterns)
