from django import forms

from providers.forms import ProviderSettingsForm


class SunbirdSettingsForm(ProviderSettingsForm):
    secret_fields = ("api_key", "password")
    base_url = forms.URLField(label="Base URL")
    api_key = forms.CharField(label="API key")
    realm = forms.CharField(label="Keycloak realm", initial="sunbird")
    client_id = forms.CharField(label="Keycloak client", initial="admin-cli")
    username = forms.CharField()
    password = forms.CharField()
