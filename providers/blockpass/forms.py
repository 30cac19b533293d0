from django import forms

from providers.forms import ProviderSettingsForm


class BlockpassSettingsForm(ProviderSettingsForm):
    secret_fields = ("client_secret", "webhook_secret")
    api_url = forms.URLField(label="API base URL")
    client_id = forms.CharField()
    client_secret = forms.CharField()
    webhook_secret = forms.CharField()
    allow_cert_promise = forms.BooleanField(required=False, label="Allow certificate promises")
