"""Sunbird eCreds as the core sees it: the adapter (settings form) plus the flow's
reconciliation of issuance runs and its merchant pages. It receives no deliveries."""

from __future__ import annotations

from providers.sunbird import services
from providers.sunbird.adapter import SunbirdAdapter


class SunbirdProvider(SunbirdAdapter):
    urls = "providers.sunbird.urls"
    sandbox = "providers.sunbird.sandbox"

    def reconcile(self) -> int:
        return services.reconcile()
