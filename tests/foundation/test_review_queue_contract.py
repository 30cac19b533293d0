"""kyc.selectors.review_queue and reviews_waiting in detail: which records wait for a staff
decision, at which merchants, since when and in which order (each test kills a mutant
`make mutate` found in the tenant-scoped queue behind the admin's "Needs review" page)."""

from __future__ import annotations

import datetime as dt

import pytest
from django.utils import timezone

from kyc import selectors
from kyc.models import KYCRecord, ProviderAccount, TransferRequest
from kyc.status import Status
from tests import factories

pytestmark = pytest.mark.django_db

NOW = timezone.now()


def record(merchant, reference: str, *, hours_ago: float, **fields) -> KYCRecord:
    return KYCRecord.objects.create(
        merchant=merchant,
        reference=reference,
        created_at=NOW - dt.timedelta(hours=hours_ago),
        **fields,
    )


def in_review(merchant, reference: str, *, hours_ago: float, **fields) -> KYCRecord:
    return record(
        merchant, reference, hours_ago=hours_ago, review_status=KYCRecord.Review.IN_REVIEW, **fields
    )


def request_in_review(merchant, rec: KYCRecord | None, status: str = Status.REVIEW) -> None:
    account = ProviderAccount.objects.filter(merchant=merchant, provider="corepass").first()
    account = account or factories.ProviderAccountFactory(merchant=merchant, provider="corepass")
    TransferRequest.objects.create(
        merchant=merchant,
        account=account,
        provider="corepass",
        reference=rec.reference if rec else "no-record",
        status=status,
        record=rec,
    )


def queue(*merchants) -> list[str]:
    return [r.reference for r in selectors.review_queue([m.pk for m in merchants])]


def test_it_lists_only_the_given_merchants_records_that_wait(merchant, other_merchant) -> None:
    in_review(merchant, "mine", hours_ago=2)
    in_review(other_merchant, "theirs", hours_ago=3)
    record(merchant, "decided", hours_ago=4, review_status=KYCRecord.Review.APPROVED)
    in_review(merchant, "erased", hours_ago=5, erased_at=NOW)
    assert queue(merchant) == ["mine"]
    assert queue(other_merchant) == ["theirs"]
    assert queue(merchant, other_merchant) == ["theirs", "mine"]
    assert queue() == []


def test_it_counts_a_record_whose_request_waits_in_review(merchant) -> None:
    waiting = record(merchant, "request-waits", hours_ago=1)
    request_in_review(merchant, waiting)
    idle = record(merchant, "request-pending", hours_ago=2)
    request_in_review(merchant, idle, status=Status.PENDING)
    request_in_review(merchant, None)  # a request in review with no record adds nothing
    assert queue(merchant) == ["request-waits"]


def test_it_orders_by_review_since_else_creation_then_by_id(merchant) -> None:
    entered_late = in_review(merchant, "created-first", hours_ago=10, review_since=NOW)
    in_review(merchant, "created-second", hours_ago=5)
    tie = NOW - dt.timedelta(hours=7)
    a = in_review(merchant, "tie-a", hours_ago=2, review_since=tie)
    b = in_review(merchant, "tie-b", hours_ago=1, review_since=tie)
    assert a.pk < b.pk
    # rewrite the first row (an indexed column, so its index entries move too): the table
    # and its indexes now hold it after the second one, so only the id (not the order rows
    # were stored in) can put it first among equal waits
    KYCRecord.objects.filter(pk=a.pk).update(created_at=NOW - dt.timedelta(hours=3))
    assert queue(merchant) == ["tie-a", "tie-b", "created-second", "created-first"]
    assert entered_late.reference == queue(merchant)[-1]


def test_it_counts_the_waiting_reviews_and_how_long_the_oldest_waited(
    merchant, other_merchant
) -> None:
    assert selectors.reviews_waiting(merchant) == (0, None)
    in_review(merchant, "new", hours_ago=1)
    in_review(merchant, "old", hours_ago=30)
    in_review(other_merchant, "theirs", hours_ago=90)
    count, oldest = selectors.reviews_waiting(merchant)
    assert count == 2
    assert oldest is not None and 29.9 < oldest.total_seconds() / 3600 < 30.5
    # control: the other merchant's own count and age
    count, oldest = selectors.reviews_waiting(other_merchant)
    assert count == 1 and oldest is not None and 89.9 < oldest.total_seconds() / 3600 < 90.5
