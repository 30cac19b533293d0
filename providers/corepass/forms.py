from django import forms

from providers.forms import ProviderSettingsForm


class CorePassSettingsForm(ProviderSettingsForm):
    connector_url = forms.URLField(
        label="Connector URL", help_text="Base URL of your CorePass connector."
    )
    connector_public_key = forms.CharField(
        label="Connector public key", help_text="Ed448 public key (57 bytes) in hex or base64."
    )
    default_items = forms.CharField(
        required=False, help_text="Comma-separated items asked for when a request names none."
    )
