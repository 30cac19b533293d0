from __future__ import annotations

from django import forms

from providers.corepass import items as catalogue
from providers.corepass.signature import parse_public_key
from providers.errors import InvalidInput
from providers.forms import ProviderSettingsForm


class CorePassSettingsForm(ProviderSettingsForm):
    provider_name = "corepass"
    url_fields = ("connector_url",)
    connector_url = forms.URLField(
        label="Connector URL", help_text="Base URL of your CorePass connector."
    )
    connector_public_key = forms.CharField(
        label="Connector public key",
        help_text="Ed448 public key (57 bytes) in hex or base64. Callbacks signed by any "
        "other key are refused.",
    )
    default_items = forms.CharField(
        required=False,
        help_text="Items asked for when a request names none, separated by commas or spaces "
        "(e.g. SH_EMAIL, SH_ANY_DOB; SH_ANY_<FIELD> takes the field from any verified document).",
    )

    def clean_connector_public_key(self) -> str:
        value = self.cleaned_data.get("connector_public_key", "")
        try:
            parse_public_key(value)
        except ValueError as exc:
            raise forms.ValidationError(str(exc)) from None
        return value.strip()

    def clean_default_items(self) -> str:
        value = self.cleaned_data.get("default_items", "")
        try:
            return ", ".join(catalogue.normalize_items(catalogue.parse_list(value)))
        except InvalidInput as exc:
            raise forms.ValidationError(exc.message) from None
