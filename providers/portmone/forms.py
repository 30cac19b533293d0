"""Merchant settings for Portmone: credentials, the API paths (defaults filled in), facts."""

from __future__ import annotations

from collections.abc import Mapping
from typing import Any

from django import forms

from kyc.forms import ProviderSettingsForm
from providers.portmone.client import DEFAULT_FACTS, DEFAULT_PATHS

_PATH_HELP = "Path on the base URL; {id} is replaced by the share request id."


def _path_field(name: str, label: str) -> forms.CharField:
    return forms.CharField(
        label=label,
        initial=DEFAULT_PATHS[name],
        max_length=300,
        help_text=f"{_PATH_HELP} Default: {DEFAULT_PATHS[name]}",
    )


# Facts a Portmone partner commonly asks for (the picker on "New verification").
FACTS: tuple[tuple[str, str], ...] = (
    ("age_over_18", "Over 18"),
    ("age_over_21", "Over 21"),
    ("full_name", "Full name"),
    ("date_of_birth", "Date of birth"),
    ("citizenship", "Citizenship"),
)


class PortmoneSettingsForm(ProviderSettingsForm):
    provider_name = "portmone"
    setup_steps = (
        "Enter the partner login and password Portmone gave you, and the partner API's "
        "base URL. The API paths are filled in with Portmone's defaults.",
        'Nothing to paste at Portmone: with "Send the webhook URL" on, each request tells '
        "Portmone where to notify. Status is also checked by polling, so it works without.",
    )
    item_catalogue = (("Facts", FACTS, True),)
    items_setting = "default_facts"
    secret_fields = ("password",)
    url_fields = ("base_url",)
    location_extra_fields = tuple(DEFAULT_PATHS)
    base_url = forms.URLField(label="Base URL", help_text="Portmone partner API, e.g. https://…")
    login = forms.CharField(label="Partner login", max_length=200)
    password = forms.CharField(label="Partner password", max_length=500)
    auth_path = _path_field("auth_path", "Partner auth path")
    create_path = _path_field("create_path", "Create data share request path")
    status_path = _path_field("status_path", "Data share request status path")
    facts_path = _path_field("facts_path", "Shared facts path")
    default_facts = forms.CharField(
        required=False,
        initial=", ".join(DEFAULT_FACTS),
        help_text="Comma-separated facts asked for when a request names none "
        "(e.g. age_over_18, full_name, date_of_birth, citizenship).",
    )
    webhook_enabled = forms.BooleanField(
        required=False,
        label="Send the webhook URL",
        help_text="Each request asks Portmone to notify this account's webhook URL when it "
        "changes (nothing to paste). "
        "Status polling runs either way; a notification only makes it sooner.",
    )

    def __init__(self, *args: Any, **kwargs: Any) -> None:
        super().__init__(*args, **kwargs)
        # Stored blanks (older accounts) still show the default path.
        for name, default in DEFAULT_PATHS.items():
            if not self.initial.get(name):
                self.initial[name] = default

    def location_of(self, values: Mapping[str, Any]) -> dict[str, str]:
        # A blank stored path means the default (ClientConfig.from_settings).
        location = super().location_of(values)
        for name, default in DEFAULT_PATHS.items():
            location[name] = location[name] or default
        return location

    def clean(self) -> dict[str, Any]:
        data = super().clean() or {}
        for name in DEFAULT_PATHS:
            value = (data.get(name) or "").strip()
            if value and not value.startswith("/"):
                self.add_error(name, "A path starts with /.")
            if name in ("status_path", "facts_path") and value and "{id}" not in value:
                self.add_error(name, "The path must contain {id}.")
        return data
