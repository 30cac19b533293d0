from django import forms

from providers.forms import ProviderSettingsForm


class IncodeSettingsForm(ProviderSettingsForm):
    secret_fields = ("api_key", "executive_password")
    api_url = forms.URLField(label="API URL")
    api_key = forms.CharField(label="API key")
    client_id = forms.CharField()
    flow_id = forms.CharField(label="Flow id")
    executive_email = forms.EmailField()
    executive_password = forms.CharField()
    auto_approve = forms.BooleanField(required=False)
