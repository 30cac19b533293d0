from typing import Any, ClassVar

from providers.base import BaseAdapter
from providers.corepass.forms import CorePassSettingsForm


class CorePassAdapter(BaseAdapter):
    name: ClassVar[str] = "corepass"
    label: ClassVar[str] = "CorePass"
    starts_transfers: ClassVar[bool] = True
    form_class = CorePassSettingsForm

    def sandbox_settings(self, *, sandbox_url: str) -> dict[str, Any]:
        return {"connector_url": sandbox_url.rstrip("/"), "default_items": "SH_EMAIL"}


ADAPTER = CorePassAdapter()
