from django import forms

from kyc.forms import ProviderSettingsForm


class IncodeSettingsForm(ProviderSettingsForm):
    provider_name = "incode"
    uses_webhook_url = True
    setup_steps = (
        "In the Incode dashboard, copy the API URL, API key, client id and the flow id of "
        "your flow into the fields below, and create an executive user for the portal.",
        "In the Incode dashboard's webhook settings, paste the webhook URL shown here as "
        "the onboarding status webhook.",
        "Test connection logs in as the executive with what is on this page, before you save.",
    )
    items_note = "The flow configured in your Incode dashboard decides what is asked."
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
