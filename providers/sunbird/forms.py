"""The merchant's Sunbird settings: credentials plus every endpoint path (2.3.5 guide defaults)."""

from __future__ import annotations

from collections.abc import Mapping
from typing import Any

from django import forms

from kyc.forms import ProviderSettingsForm
from providers.sunbird.client import ENDPOINTS


class SunbirdSettingsForm(ProviderSettingsForm):
    provider_name = "sunbird"
    setup_steps = (
        "Nothing to paste at Sunbird: the portal calls Sunbird and collects certificates itself.",
        "Enter your Sunbird base URL, API key and the Keycloak user the portal signs in "
        "with; the endpoint paths start with the defaults.",
    )
    secret_fields = ("api_key", "password")
    url_fields = ("base_url",)
    location_extra_fields = (*(f"path_{name}" for name in ENDPOINTS), "realm")
    base_url = forms.URLField(label="Base URL", help_text="e.g. https://staging.ntp.net.in")
    api_key = forms.CharField(label="API key", help_text="Sent as Authorization: Bearer <key>.")
    realm = forms.CharField(label="Keycloak realm", initial="sunbird")
    client_id = forms.CharField(label="Keycloak client", initial="admin-cli")
    username = forms.CharField(help_text="Keycloak user for X-Authenticated-User-Token.")
    password = forms.CharField()
    page_size = forms.IntegerField(
        label="Registry page size",
        initial=500,
        min_value=10,
        max_value=1000,
        required=False,
        help_text="Certificates read per registry search call.",
    )

    def __init__(self, *args: Any, **kwargs: Any) -> None:
        super().__init__(*args, **kwargs)
        # One path field per endpoint; the 2.3.5 guide's path is the default, current Sunbird's in help.
        for name, (default, alternative) in ENDPOINTS.items():
            key = f"path_{name}"
            self.fields[key] = forms.CharField(
                label=f"Path: {name.replace('_', ' ')}",
                required=False,
                initial=self.stored.get(key) or default,
                help_text=f"Default (Sunbird 2.3.5 guide): {default}. Alternative: {alternative}.",
            )

    def location_of(self, values: Mapping[str, Any]) -> dict[str, str]:
        # Blank paths and realm mean the defaults (client.Config.from_settings).
        location = super().location_of(values)
        for name, (default, _) in ENDPOINTS.items():
            location[f"path_{name}"] = location[f"path_{name}"] or default
        location["realm"] = location["realm"] or "sunbird"
        return location

    def clean(self) -> dict[str, Any]:
        data = super().clean() or {}
        for name, (default, _) in ENDPOINTS.items():
            key = f"path_{name}"
            value = (data.get(key) or "").strip() or default
            if not value.startswith("/"):
                self.add_error(key, "A path starts with /.")
            data[key] = value
        return data
