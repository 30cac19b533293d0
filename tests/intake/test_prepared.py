"""A callback's first read (kyc.prepared): SQL built once per process, the ORM's result.

What must hold: it reads the request, its account and its merchant exactly as the ORM
query it replaces (every column it loads, converted and decrypted the same way), leaves
only the named columns unread, needs no further query for the account or merchant,
answers None for an unknown token or another provider's, and locks the request's row
(only that row) when asked.
"""

from __future__ import annotations

from typing import Any

import pytest
from django.db import transaction

from kyc import prepared
from kyc.models import Merchant, ProviderAccount, TransferRequest
from tests.conftest import row_locked
from tests.factories import TransferRequestFactory

pytestmark = pytest.mark.django_db(transaction=True)


@pytest.fixture
def transfer(merchant: Merchant) -> TransferRequest:
    t = TransferRequestFactory(
        merchant=merchant,
        provider="corepass",
        subject="cb1234abcd",  # encrypted at rest: read back decrypted
        items=["SH_EMAIL", "PHONE"],
        provider_data={"expiration": 1234},
        provider_secrets={"kept": "out"},
        qr_payload="corepass:sign?x=1",
        deep_link="corepass:sign?x=1",
    )
    account = t.account
    account.settings = {"connector_url": "http://127.0.0.1:9", "default_items": "SH_EMAIL"}
    account.save()
    return t


def _loaded(obj: Any) -> dict[str, Any]:
    deferred = obj.get_deferred_fields()
    return {
        f.attname: getattr(obj, f.attname)
        for f in obj._meta.concrete_fields
        if f.attname not in deferred
    }


def test_it_reads_what_the_orm_reads(
    transfer: TransferRequest, django_assert_num_queries: Any
) -> None:
    orm = (
        TransferRequest.objects.select_related("account", "merchant")
        .defer("account__state", "merchant__logo", "provider_secrets", "qr_payload")
        .get(callback_token=transfer.callback_token)
    )
    with django_assert_num_queries(1):
        got = prepared.callback_transfer(
            token=transfer.callback_token, provider="corepass", lock=False
        )
        assert got is not None
        account, merchant = got.account, got.merchant  # loaded with it: no query
    assert _loaded(got) == _loaded(orm)
    assert _loaded(account) == _loaded(orm.account)
    assert _loaded(merchant) == _loaded(orm.merchant)
    assert got.subject == "cb1234abcd" and got.items == ["SH_EMAIL", "PHONE"]
    assert account.settings["default_items"] == "SH_EMAIL"
    assert got.get_deferred_fields() == {"provider_secrets", "qr_payload"}
    assert account.get_deferred_fields() == {"state"}
    assert merchant.get_deferred_fields() == {"logo"}
    assert not got._state.adding and got._state.db == "default"
    # A column it left unread is still there when asked for (one query).
    assert got.provider_secrets == {"kept": "out"}


def test_it_saves_like_an_orm_row(transfer: TransferRequest) -> None:
    got = prepared.callback_transfer(token=transfer.callback_token, provider="corepass", lock=False)
    assert got is not None
    got.status_detail = "changed"
    got.save()  # writes the loaded columns only; the unread ones are left as they were
    transfer.refresh_from_db()
    assert transfer.status_detail == "changed"
    assert transfer.provider_secrets == {"kept": "out"}
    assert transfer.qr_payload == "corepass:sign?x=1"


def test_an_unknown_token_or_another_provider_reads_nothing(transfer: TransferRequest) -> None:
    assert prepared.callback_transfer(token="nope", provider="corepass", lock=False) is None
    assert (
        prepared.callback_transfer(token=transfer.callback_token, provider="incode", lock=False)
        is None
    )
    # A page token is not a callback token.
    assert (
        prepared.callback_transfer(token=transfer.page_token, provider="corepass", lock=False)
        is None
    )


def test_it_locks_the_request_row_only_when_asked(transfer: TransferRequest) -> None:
    with transaction.atomic():
        prepared.callback_transfer(token=transfer.callback_token, provider="corepass", lock=False)
        assert not row_locked(TransferRequest, transfer.pk)
    with transaction.atomic():
        prepared.callback_transfer(token=transfer.callback_token, provider="corepass", lock=True)
        assert row_locked(TransferRequest, transfer.pk)
        # FOR UPDATE OF the request: the account and merchant stay free for others.
        assert not row_locked(ProviderAccount, transfer.account_id)
        assert not row_locked(Merchant, transfer.merchant_id)
    assert not row_locked(TransferRequest, transfer.pk)
