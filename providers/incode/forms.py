from django import forms

from providers.forms import ProviderSettingsForm


class IncodeSettingsForm(ProviderSettingsForm):
    provider_name = "incode"
    secret_fields = ("api_key", "executive_password")
    url_fields = ("api_url",)
    api_url = forms.URLField(label="API URL", help_text="e.g. https://demo-api.incodesmile.com")
    api_key = forms.CharField(label="API key")
    client_id = forms.CharField()
    flow_id = forms.CharField(
        label="Flow id", help_text="The flow (configuration) id of your dashboard."
    )
    executive_email = forms.EmailField(
        help_text="Executive user: the portal logs in with it to get the 24-hour admin token."
    )
    executive_password = forms.CharField()
    auto_approve = forms.BooleanField(
        required=False,
        help_text="Approve at Incode and complete the request when the overall score is OK; "
        "otherwise requests wait for compliance review.",
    )
