from typing import Any, ClassVar

from providers.base import BaseAdapter
from providers.portmone.forms import PortmoneSettingsForm


class PortmoneAdapter(BaseAdapter):
    name: ClassVar[str] = "portmone"
    label: ClassVar[str] = "Portmone"
    starts_transfers: ClassVar[bool] = True
    form_class = PortmoneSettingsForm

    def sandbox_settings(self, *, sandbox_url: str) -> dict[str, Any]:
        return {
            "base_url": sandbox_url.rstrip("/"),
            "login": "demo-partner",
            "password": "demo-partner-password",
            "default_facts": "age_over_18",
        }


ADAPTER = PortmoneAdapter()
