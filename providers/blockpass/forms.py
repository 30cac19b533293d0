from __future__ import annotations

from typing import Any

from django import forms
from django.utils import timezone

from kyc.forms import ProviderSettingsForm
from providers.blockpass import signature


class BlockpassSettingsForm(ProviderSettingsForm):
    provider_name = "blockpass"
    uses_webhook_url = True
    setup_steps = (
        "In the Blockpass console, paste the webhook URL shown here as your webhook "
        "endpoint, and again as the base URL of your service endpoints (the app then calls "
        "…/api/register, …/api/upload and the others under it).",
        "From the same console, copy the client id, client secret and webhook secret into "
        "the fields below.",
    )
    secret_fields = ("client_secret", "webhook_secret")
    url_fields = ("api_url",)
    # The webhook secret only verifies what Blockpass sends us; it is never sent anywhere.
    outbound_secret_fields = ("client_secret",)
    api_url = forms.URLField(
        label="API base URL", help_text="e.g. https://kyc.blockpass.org (sandbox: your sandbox URL)"
    )
    client_id = forms.CharField(help_text="Your Blockpass service's client id.")
    client_secret = forms.CharField()
    webhook_secret = forms.CharField(
        help_text="Changing it keeps the previous secret valid for 24 hours."
    )
    allow_cert_promise = forms.BooleanField(required=False, label="Allow certificate promises")
    required_fields = forms.CharField(
        required=False,
        help_text="Identity slugs you require, comma-separated (as in the Blockpass console).",
    )
    optional_fields = forms.CharField(required=False, help_text="Optional slugs, comma-separated.")
    certificates = forms.CharField(
        required=False, help_text="Certificate slugs you accept, e.g. onfido-service-cert."
    )

    def merged_settings(self) -> dict[str, Any]:
        new_secret = self.cleaned_data.get("webhook_secret") or ""
        merged = super().merged_settings()
        # Rotation: super() already wrote the new secret; recompute from what was stored so
        # the previous secret and its grace period are kept.
        merged["webhook_secret"] = self.stored.get("webhook_secret", "")
        return signature.rotate(merged, new_secret, now=timezone.now())


def slugs(value: Any) -> list[str]:
    if isinstance(value, (list, tuple)):
        return [str(v).strip() for v in value if str(v).strip()]
    return [s.strip() for s in str(value or "").split(",") if s.strip()]
