"""A record's Blockpass token: read, stored under a row lock, renewed when Blockpass
refuses it."""

from __future__ import annotations

import datetime as dt
from collections.abc import Callable
from typing import TypeVar

from django.db import transaction

from kyc.errors import AuthenticationError
from kyc.models import KYCRecord, ProviderAccount
from kyc.renewal import call_with_renewal
from providers.blockpass import client
from providers.blockpass.schemas import Token
from providers.blockpass.services.common import SECRETS_KEY

T = TypeVar("T")


def record_token(record: KYCRecord) -> Token | None:
    data = (record.secrets or {}).get(SECRETS_KEY)
    return Token.from_dict(data) if data and data.get("access_token") else None


def record_token_store(*, record_id: int, token: Token) -> None:
    """Persist a (new or renewed) token under a row lock: Blockpass may invalidate the old one."""
    with transaction.atomic():
        record = KYCRecord.objects.select_for_update().get(pk=record_id)
        secrets = dict(record.secrets or {})
        secrets[SECRETS_KEY] = token.to_dict()
        record.secrets = secrets
        record.save(update_fields=["secrets", "updated_at"])


def _renew(*, account: ProviderAccount, token: Token, now: dt.datetime) -> Token:
    if not token.refresh_token:
        raise AuthenticationError("no refresh token stored for this record", code="token_expired")
    return client.token_renew(
        api_url=account.settings.get("api_url", ""),
        client_secret=account.settings.get("client_secret", ""),
        token=token,
        now=now,
    )


def call_with_token(
    *,
    account: ProviderAccount,
    token: Token,
    fn: Callable[[str], T],
    persist: Callable[[Token], None],
    now: dt.datetime,
) -> T:
    """Call Blockpass with a record token: renew first when it has expired, and on a 401
    renew once and retry once. Every renewed token is handed to `persist` right away."""
    if token.expired(now=now):
        token = _renew(account=account, token=token, now=now)
        persist(token)

    def renew(refused: Token) -> Token:
        fresh = _renew(account=account, token=refused, now=now)
        persist(fresh)
        return fresh

    return call_with_renewal(lambda t: fn(t.access_token), current=token, renew=renew)
