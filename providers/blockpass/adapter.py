from typing import Any, ClassVar

from providers.base import BaseAdapter
from providers.blockpass.forms import BlockpassSettingsForm


class BlockpassAdapter(BaseAdapter):
    name: ClassVar[str] = "blockpass"
    label: ClassVar[str] = "Blockpass"
    form_class = BlockpassSettingsForm

    def sandbox_settings(self, *, sandbox_url: str) -> dict[str, Any]:
        return {
            "api_url": sandbox_url.rstrip("/"),
            "client_id": "demo_service",
            "client_secret": "demo-client-secret",
            "webhook_secret": "demo-webhook-secret",
            "allow_cert_promise": True,
        }


ADAPTER = BlockpassAdapter()
