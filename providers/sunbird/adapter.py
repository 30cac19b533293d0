from typing import Any, ClassVar

from providers.base import BaseAdapter
from providers.sunbird.forms import SunbirdSettingsForm


class SunbirdAdapter(BaseAdapter):
    name: ClassVar[str] = "sunbird"
    label: ClassVar[str] = "Sunbird eCreds"
    form_class = SunbirdSettingsForm

    def sandbox_settings(self, *, sandbox_url: str) -> dict[str, Any]:
        return {
            "base_url": sandbox_url.rstrip("/"),
            "api_key": "demo-sunbird-key",
            "realm": "sunbird",
            "client_id": "admin-cli",
            "username": "demo-admin",
            "password": "demo-admin-password",
        }


ADAPTER = SunbirdAdapter()
