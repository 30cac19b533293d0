"""Which provider account a webhook delivery is for."""

from __future__ import annotations

from kyc.models import ProviderAccount
from providers.blockpass.services.common import PROVIDER


def account_for_webhook_token(token: str) -> ProviderAccount | None:
    # `state` (encrypted, cached tokens) is not needed to receive a delivery: deferring it
    # saves a decryption on the hottest provider-facing path.
    return (
        ProviderAccount.objects.select_related("merchant")
        .defer("state")
        .filter(provider=PROVIDER, webhook_token=token)
        .first()
    )
