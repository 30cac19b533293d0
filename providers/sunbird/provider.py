"""Sunbird eCreds as the core sees it: the adapter (settings form) plus the flow's
reconciliation of issuance runs and its merchant pages. It receives no deliveries."""

from __future__ import annotations

from typing import TYPE_CHECKING

from providers.sunbird import services, urls
from providers.sunbird.adapter import SunbirdAdapter

if TYPE_CHECKING:
    from kyc.contract import UrlPatterns


class SunbirdProvider(SunbirdAdapter):
    def reconcile(self) -> int:
        return services.reconcile()

    def urlpatterns(self) -> UrlPatterns:
        return list(urls.urlpatterns)

    def sandbox_urlpatterns(self) -> UrlPatterns:
        from providers.sunbird import sandbox  # loaded only when SANDBOX mounts it

        return list(sandbox.urlpatterns)
