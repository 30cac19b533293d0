from typing import Any, ClassVar

from providers.base import BaseAdapter
from providers.incode.forms import IncodeSettingsForm


class IncodeAdapter(BaseAdapter):
    name: ClassVar[str] = "incode"
    label: ClassVar[str] = "Incode"
    starts_transfers: ClassVar[bool] = True
    form_class = IncodeSettingsForm

    def sandbox_settings(self, *, sandbox_url: str) -> dict[str, Any]:
        return {
            "api_url": sandbox_url.rstrip("/"),
            "api_key": "demo-api-key",
            "client_id": "demo-client",
            "flow_id": "demo-flow",
            "executive_email": "exec@example.com",
            "executive_password": "demo-exec-password",
            "auto_approve": True,
        }


ADAPTER = IncodeAdapter()
