"""Talking to Sunbird: the merchant's configured account, and a run's config plus a cached
user token."""

from __future__ import annotations

from collections.abc import Callable

from django.utils import timezone

from kyc import services as kyc_services
from kyc.errors import InvalidInput, ProviderError
from kyc.models import Merchant, ProviderAccount
from kyc.renewal import call_with_renewal
from providers.sunbird import client
from providers.sunbird.services.common import PROVIDER, T


def account_for(merchant: Merchant) -> ProviderAccount:
    account = ProviderAccount.objects.filter(merchant=merchant, provider=PROVIDER).first()
    if account is None or not (account.settings or {}).get("base_url"):
        raise InvalidInput("Configure Sunbird (Providers → Sunbird eCreds) before issuing.")
    return account


class _Session:
    """A run's config plus a cached user token, refreshed before expiry or after a 401."""

    def __init__(self, merchant: Merchant) -> None:
        self.account = account_for(merchant)
        self.cfg = client.Config.from_settings(self.account.settings or {})

    def token(self, *, force: bool = False) -> str:
        now = timezone.now()
        if not force:
            cached = client.token_from_state(self.account.state or {}, now=now)
            if cached:
                return cached
        try:
            info = client.fetch_token(self.cfg, now=now)
        except ProviderError as exc:
            kyc_services.provider_account_set_state(
                account_id=self.account.pk, updates={"token_error": exc.message}
            )
            raise
        updates = {
            "user_token": info.access_token,
            "user_token_expires_at": info.expires_at.isoformat(),
            "token_error": "",
        }
        kyc_services.provider_account_set_state(account_id=self.account.pk, updates=updates)
        self.account.state = {**(self.account.state or {}), **updates}
        return info.access_token

    def call(self, fn: Callable[[str], T]) -> T:
        """Call with the cached token; when refused (any AuthenticationError, getting the
        token included), get a new token once and call again."""
        return call_with_renewal(
            lambda force: fn(self.token(force=force)),
            current=False,
            renew=lambda _cached: True,
            refused=lambda _exc: True,
        )
