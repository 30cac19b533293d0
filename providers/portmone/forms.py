from django import forms

from providers.forms import ProviderSettingsForm


class PortmoneSettingsForm(ProviderSettingsForm):
    secret_fields = ("password",)
    base_url = forms.URLField(label="Base URL")
    login = forms.CharField(label="Partner login")
    password = forms.CharField(label="Partner password")
    default_facts = forms.CharField(
        required=False, help_text="Comma-separated facts asked for by default."
    )
