"""Verifications and customers lists: search, filters, pages, badges in words."""

from __future__ import annotations

import datetime as dt
from typing import Any

import pytest
from django.urls import reverse
from django.utils import timezone

from kyc.models import KYCRecord
from kyc.status import Status
from tests.console.conftest import make_transfer

pytestmark = pytest.mark.django_db


@pytest.fixture
def many(accounts: dict[str, Any], merchant: Any) -> None:
    """60 CorePass requests (alternately completed and failed with a raw provider code), 3
    Portmone ones waiting, one from 10 days ago; every CorePass one has a customer."""
    now = timezone.now()
    for i in range(60):
        record = KYCRecord.objects.create(merchant=merchant, reference=f"shop-{i:03}")
        make_transfer(
            accounts["corepass"],
            reference=f"shop-{i:03}",
            status=Status.COMPLETED if i % 2 else Status.FAILED,
            provider_status="FINISH_FAILED" if not i % 2 else "FINISH_SUCCESS",
            created=now - dt.timedelta(minutes=i + 1),
            record=record,
        )
    for i in range(3):
        make_transfer(accounts["portmone"], reference=f"pm-{i}", status=Status.PENDING, created=now)
    make_transfer(accounts["portmone"], reference="old-one", created=now - dt.timedelta(days=10))


def test_it_pages_through_every_request_newest_first(owner: Any, many: None) -> None:
    first = owner.get(reverse("transfer_list")).content.decode()
    assert "Page 1 of 2 · 64 in all" in first
    assert first.index("pm-0") < first.index("shop-000") < first.index("shop-040")
    assert "old-one" not in first
    second = owner.get(reverse("transfer_list"), {"page": 2}).content.decode()
    assert "old-one" in second and "shop-000" not in second


def test_it_searches_and_filters(owner: Any, many: None) -> None:
    url = reverse("transfer_list")
    found = owner.get(url, {"q": "SHOP-01"}).content.decode()
    assert "10 in all" in found and "shop-015" in found and "shop-020" not in found
    failed = owner.get(url, {"status": "outcome:failed", "provider": "corepass"}).content.decode()
    assert "30 in all" in failed and "shop-000" in failed and "shop-001" not in failed
    waiting = owner.get(url, {"status": "pending"}).content.decode()
    assert "4 in all" in waiting and "pm-2" in waiting  # pm-0..2 and old-one
    ten_days = (timezone.now() - dt.timedelta(days=10)).date().isoformat()
    dated = owner.get(url, {"created_from": ten_days, "created_to": ten_days}).content.decode()
    assert "1 in all" in dated and "old-one" in dated
    # filters survive paging
    paged = owner.get(url, {"provider": "corepass", "page": 1}).content.decode()
    assert "provider=corepass&amp;page=2" in paged


def test_it_shows_statuses_in_words_and_links_customers(
    owner: Any, many: None, merchant: Any
) -> None:
    page = owner.get(reverse("transfer_list"), {"q": "shop-00"}).content.decode()
    assert "FINISH_FAILED" not in page and "FINISH_SUCCESS" not in page
    assert 'class="badge badge-failed" data-status="failed">Failed<' in page
    assert 'class="badge badge-completed" data-status="completed">Completed<' in page
    record = KYCRecord.objects.get(merchant=merchant, reference="shop-003")
    assert reverse("customer_detail", args=[record.pk]) in page


def test_it_lists_and_filters_customers(owner: Any, many: None, merchant: Any) -> None:
    KYCRecord.objects.filter(reference="shop-007").update(review_status=KYCRecord.Review.IN_REVIEW)
    page = owner.get(reverse("customer_list"), {"review": "inreview"}).content.decode()
    assert "1 in all" in page and "shop-007" in page and "In review" in page
    assert "60 in all" in owner.get(reverse("customer_list")).content.decode()


def test_it_lists_only_the_merchants_own_requests(
    owner: Any, many: None, other_merchant: Any
) -> None:
    from kyc.models import ProviderAccount

    theirs = ProviderAccount.objects.create(merchant=other_merchant, provider="corepass")
    make_transfer(theirs, reference="their-secret-ref")
    page = owner.get(reverse("transfer_list"), {"q": "their"}).content.decode()
    assert "their-secret-ref" not in page and "0 in all" in page
