"""kyc/selectors.py in detail: who sees which merchants, which tokens are keys, and what the
customer page's status fragment is built from (each test kills mutants `make mutate` found)."""

from __future__ import annotations

import datetime as dt
import logging
from unittest import mock

import pytest
from django.contrib.auth.models import AnonymousUser
from django.core.cache import cache
from django.db import connection
from django.test.utils import CaptureQueriesContext

from kyc import selectors, services
from kyc.models import Merchant, TransferEvent, TransferRequest
from tests import factories

pytestmark = pytest.mark.django_db


def test_it_gives_each_user_only_the_merchants_they_belong_to(merchant, other_merchant) -> None:
    member = factories.staff_user(merchant)
    root = factories.UserFactory(is_staff=True, is_superuser=True)
    assert list(selectors.merchants_for_user(member)) == [merchant]
    assert selectors.merchant_ids_for_user(member) == [merchant.pk]
    assert set(selectors.merchants_for_user(root)) == set(Merchant.objects.all())
    assert {merchant, other_merchant} <= set(selectors.merchants_for_user(root))
    assert list(selectors.merchants_for_user(AnonymousUser())) == []
    assert list(selectors.merchants_for_user(object())) == []  # no is_authenticated at all


def test_it_finds_a_key_only_from_its_full_kp_token(merchant) -> None:
    key, raw = services.api_key_create(merchant=merchant, name="k")
    _, prefix, secret = raw.split("_", 2)
    assert selectors.api_key_for_token(raw) == key
    assert selectors.api_key_for_token(f"kp_{prefix}_{secret}_extra") is None
    assert selectors.api_key_for_token(f"xx_{prefix}_{secret}") is None
    assert selectors.api_key_for_token(f"kp_{prefix}") is None
    assert selectors.api_key_for_token(f"kp_nosuch_{secret}") is None
    services.api_key_revoke(key=key)
    assert selectors.api_key_for_token(raw) is None


def _transfer(merchant, **kwargs) -> TransferRequest:
    account = factories.ProviderAccountFactory(merchant=merchant)
    transfer = TransferRequest.objects.create(
        merchant=merchant, account=account, provider="corepass", reference="r-1", **kwargs
    )
    cache.delete(selectors.page_state_key(transfer.page_token))
    return transfer


def test_it_builds_the_status_fragment_from_the_request_and_its_events(merchant) -> None:
    expires = dt.datetime(2026, 12, 1, 12, 0, tzinfo=dt.UTC)
    t = _transfer(
        merchant,
        status="failed",
        provider_status="ERROR",
        status_detail="The provider refused it.",
        expires_at=expires,
        redirect_url="https://shop.example/back",
    )
    at1 = dt.datetime(2026, 12, 1, 11, 0, tzinfo=dt.UTC)
    TransferEvent.objects.create(
        transfer=t, created_at=at1 + dt.timedelta(minutes=5), status="failed", kind="error"
    )
    TransferEvent.objects.create(
        transfer=t, created_at=at1, status="pending", provider_status="SENT", tx_hash="0xab"
    )
    with CaptureQueriesContext(connection) as queries:
        state = selectors.transfer_page_state(page_token=t.page_token)
    assert len(queries) == 2  # the request's shown columns, then its events: nothing deferred
    assert state == {
        "status": "failed",
        "status_label": "Failed",
        "words": "Something went wrong and the request could not be completed.",
        "detail": "The provider refused it.",
        "provider_status": "ERROR",
        "terminal": True,
        "expires_at": "2026-12-01T12:00:00+00:00",
        "redirect_url": "https://shop.example/back",
        "events": [
            {
                "at": at1.isoformat(),
                "status": "pending",
                "provider_status": "SENT",
                "tx_hash": "0xab",
                "kind": "status",
            },
            {
                "at": (at1 + dt.timedelta(minutes=5)).isoformat(),
                "status": "failed",
                "provider_status": "",
                "tx_hash": "",
                "kind": "error",
            },
        ],
        "provider": "corepass",
    }


def test_it_keeps_the_detail_hidden_until_a_request_ends(merchant) -> None:
    t = _transfer(merchant, status="pending", status_detail="internal note")
    state = selectors.transfer_page_state(page_token=t.page_token)
    assert state is not None
    assert state["detail"] == "" and state["terminal"] is False and state["expires_at"] == ""
    assert state["words"] == "Scan the code with your phone to continue."


def test_it_answers_polls_from_the_cache_until_asked_to_refresh(merchant) -> None:
    t = _transfer(merchant, status="pending")
    first = selectors.transfer_page_state(page_token=t.page_token)
    assert cache.get(selectors.page_state_key(t.page_token)) == first
    TransferRequest.objects.filter(pk=t.pk).update(status="accepted")
    with CaptureQueriesContext(connection) as queries:
        again = selectors.transfer_page_state(page_token=t.page_token)
    assert again == first and len(queries) == 0
    fresh = selectors.transfer_page_state(page_token=t.page_token, refresh=True)
    assert fresh is not None and fresh["status"] == "accepted"
    assert cache.get(selectors.page_state_key(t.page_token))["status"] == "accepted"
    assert selectors.transfer_page_state(page_token="no-such-token") is None


def test_it_answers_from_the_database_while_the_cache_is_down(merchant, caplog) -> None:
    t = _transfer(merchant, status="pending")
    down = ConnectionError("redis down")
    with (
        mock.patch.object(selectors.cache, "get", side_effect=down),
        mock.patch.object(selectors.cache, "set", side_effect=down),
        caplog.at_level(logging.WARNING, logger="kyc.selectors"),
    ):
        state = selectors.transfer_page_state(page_token=t.page_token)
    assert state is not None and state["status"] == "pending"
    assert [r.getMessage() for r in caplog.records if r.name == "kyc.selectors"] == [
        "page state not cached, cache unavailable: ConnectionError"
    ]


def test_it_lists_only_the_merchants_own_transfers_and_records(merchant, other_merchant) -> None:
    from kyc.models import KYCRecord

    mine = _transfer(merchant, status="pending")
    record = KYCRecord.objects.create(merchant=merchant, reference="r-1")
    TransferRequest.objects.filter(pk=mine.pk).update(record=record)
    theirs = _transfer(other_merchant, status="pending")
    KYCRecord.objects.create(merchant=other_merchant, reference="r-1")
    with CaptureQueriesContext(connection) as queries:
        listed = list(selectors.transfers_for_merchant(merchant))
        references = [t.record.reference for t in listed]  # no query per row
    assert listed == [mine] and theirs not in listed and references == ["r-1"]
    assert len(queries) == 1
    assert list(selectors.records_for_merchant(merchant)) == [record]


def test_it_asks_the_database_only_about_well_formed_tokens_and_loads_the_merchant_once(
    merchant,
) -> None:
    _, raw = services.api_key_create(merchant=merchant, name="k")
    _, prefix, secret = raw.split("_", 2)
    with CaptureQueriesContext(connection) as queries:
        assert selectors.api_key_for_token(f"xx_{prefix}_{secret}") is None
        assert selectors.api_key_for_token(f"kp_{prefix}") is None
    assert len(queries) == 0  # garbage costs no query
    with CaptureQueriesContext(connection) as queries:
        key = selectors.api_key_for_token(raw)
        assert key is not None and key.merchant.name == merchant.name
    assert len(queries) == 1  # the key and its merchant in one query


def test_it_caches_the_fragment_for_an_hour(merchant) -> None:
    t = _transfer(merchant, status="pending")
    selectors.transfer_page_state(page_token=t.page_token)
    redis_key = cache.make_and_validate_key(selectors.page_state_key(t.page_token))
    ttl = cache._cache.get_client(redis_key).ttl(redis_key)  # type: ignore[attr-defined]
    assert selectors.PAGE_STATE_TTL - 60 < ttl <= selectors.PAGE_STATE_TTL == 3600


def test_it_lists_events_of_the_same_instant_in_arrival_order(merchant) -> None:
    t = _transfer(merchant, status="pending")
    at = dt.datetime(2026, 12, 1, 11, 0, tzinfo=dt.UTC)
    # stored in the opposite order of their ids: only the id can break the tie
    TransferEvent.objects.create(id=900_001, transfer=t, created_at=at, status="accepted", kind="b")
    TransferEvent.objects.create(id=900_000, transfer=t, created_at=at, status="pending", kind="a")
    state = selectors.transfer_page_state(page_token=t.page_token, refresh=True)
    assert state is not None and [e["kind"] for e in state["events"]] == ["a", "b"]
