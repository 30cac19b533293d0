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


def test_it_builds_the_page_state_from_the_request_without_provider_words(merchant) -> None:
    expires = dt.datetime(2026, 12, 1, 12, 0, tzinfo=dt.UTC)
    t = _transfer(
        merchant,
        status="failed",
        provider_status="FINISH_FAILED",
        failure_code="finish_failed",
        status_detail="The provider refused it.",
        expires_at=expires,
        redirect_url="https://shop.example/back",
        items=["SH_EMAIL"],
    )
    TransferEvent.objects.create(
        transfer=t, status="pending", provider_status="SENT", tx_hash="0xab"
    )
    with CaptureQueriesContext(connection) as queries:
        state = selectors.transfer_page_state(page_token=t.page_token)
    assert len(queries) == 1  # the request with its merchant: no events outside review
    assert state is not None
    version = state.pop("v")
    assert len(version) == 16
    assert state == {
        "status": "failed",
        "terminal": True,
        "provider": "corepass",
        "failure_code": "finish_failed",
        "expires_at": "2026-12-01T12:00:00+00:00",
        "redirect_url": "https://shop.example/back",
        "items": ["SH_EMAIL"],
        "review_since": "",
        "language": merchant.default_language,
        "link": state["link"],
        "brand": selectors.brand_digest(merchant),  # a branding save changes the card
    }
    # Nothing the provider said is kept for the page: no detail, provider status, tx hash.
    flat = repr(state)
    assert "refused" not in flat and "FINISH_FAILED" not in flat and "0xab" not in flat


def test_it_changes_the_version_when_what_the_page_shows_changes(merchant) -> None:
    t = _transfer(merchant, status="pending")
    first = selectors.transfer_page_state(page_token=t.page_token)
    same = selectors.transfer_page_state(page_token=t.page_token, refresh=True)
    assert first is not None and same is not None and first["v"] == same["v"]
    TransferRequest.objects.filter(pk=t.pk).update(deep_link="corepass:sign/x")
    linked = selectors.transfer_page_state(page_token=t.page_token, refresh=True)
    assert linked is not None and linked["v"] != first["v"]
    TransferRequest.objects.filter(pk=t.pk).update(status="accepted")
    moved = selectors.transfer_page_state(page_token=t.page_token, refresh=True)
    assert moved is not None and moved["v"] not in (first["v"], linked["v"])


def test_it_knows_since_when_a_request_waits_in_review(merchant) -> None:
    t = _transfer(merchant, status="review")
    entered = dt.datetime(2026, 12, 1, 11, 0, tzinfo=dt.UTC)
    TransferEvent.objects.create(transfer=t, created_at=entered, status="review")
    TransferEvent.objects.create(
        transfer=t, created_at=entered + dt.timedelta(hours=1), status="review"
    )
    TransferEvent.objects.create(
        transfer=t, created_at=entered - dt.timedelta(hours=1), status="pending"
    )
    state = selectors.transfer_page_state(page_token=t.page_token)
    assert state is not None and state["review_since"] == entered.isoformat()
    pending = TransferRequest.objects.create(
        merchant=merchant, account=t.account, provider="corepass", reference="r-2", status="pending"
    )
    other = selectors.transfer_page_state(page_token=pending.page_token)
    assert other is not None and other["review_since"] == ""


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
        caplog.at_level(logging.WARNING),
    ):
        state = selectors.transfer_page_state(page_token=t.page_token)
    assert state is not None and state["status"] == "pending"
    # Written through kyc.queued.cache_set (with a delivery's round trip when in one).
    assert [r.getMessage() for r in caplog.records if r.name.startswith("kyc.")] == [
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
