"""Sunbird eCreds as the core sees it: the one class the core talks to (settings form,
connection test, state lines, reconciliation of issuance runs, its merchant pages).

Sunbird issues certificates; it starts no verification (starts_transfers stays False)
and receives no deliveries. The issuance run itself lives in services/ and tasks.py
(its merchant pages in views.py), which call client.py.
"""

from __future__ import annotations

import datetime as dt
from typing import Any, ClassVar

from kyc import errors
from kyc.contract import Provider
from providers.sunbird import client, services
from providers.sunbird.forms import SunbirdSettingsForm


class SunbirdProvider(Provider):
    name: ClassVar[str] = "sunbird"
    label: ClassVar[str] = "Sunbird eCreds"
    form_class = SunbirdSettingsForm
    urls = "providers.sunbird.urls"
    sandbox = "providers.sunbird.sandbox"

    def sandbox_settings(self, *, sandbox_url: str) -> dict[str, Any]:
        settings: dict[str, Any] = {
            "base_url": sandbox_url.rstrip("/"),
            "api_key": "demo-sunbird-key",
            "realm": "sunbird",
            "client_id": "admin-cli",
            "username": "demo-admin",
            "password": "demo-admin-password",
            "page_size": 500,
        }
        settings.update({f"path_{k}": v for k, (v, _) in client.ENDPOINTS.items()})
        return settings

    def test_connection(self, *, settings: dict[str, Any], state: dict[str, Any]) -> str:
        cfg = client.Config.from_settings(settings)
        if not cfg.base_url:
            raise errors.PermanentError("Base URL is not set", code="not_configured")
        token = client.fetch_token(cfg, now=dt.datetime.now(dt.UTC))
        orgs = client.org_search(cfg, user_token=token.access_token)
        return f"user token obtained; {len(orgs)} active root org(s) visible"

    def describe_state(self, *, state: dict[str, Any]) -> list[tuple[str, str]]:
        lines = []
        if state.get("user_token_expires_at"):
            lines.append(("User token valid until", str(state["user_token_expires_at"])))
        if state.get("token_error"):
            lines.append(("Last token error", str(state["token_error"])))
        return lines

    def reconcile(self) -> int:
        return services.reconcile()
