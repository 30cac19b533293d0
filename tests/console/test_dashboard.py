"""The dashboard: known requests in, known numbers out; and the same number of queries
whatever the amount of data."""

from __future__ import annotations

import datetime as dt
import re
from typing import Any

import pytest
from django.db import connection
from django.test.utils import CaptureQueriesContext
from django.urls import reverse
from django.utils import timezone

from kyc import selectors
from kyc.models import KYCRecord, TransferRequest
from kyc.status import Status
from tests.console.conftest import ACCEPTED, make_transfer, waiting_review

pytestmark = pytest.mark.django_db

MIN = dt.timedelta(minutes=1)


def cells(html: str, table_id: str, row_marker: str) -> list[str]:
    """The text of the cells of one row (found by an attribute) of one table."""
    table = html.split(f'id="{table_id}"', 1)[1].split("</table>", 1)[0]
    row = table.split(row_marker, 1)[1].split("</tr>", 1)[0]
    return [
        re.sub(r"<[^>]+>", "", c).strip()
        for c in re.findall(r"<t[dh][^>]*>(.*?)</t[dh]>", row, re.S)
    ]


@pytest.fixture
def known(accounts: dict[str, Any], merchant: Any) -> dict[str, Any]:
    """CorePass: 3 completed (1, 2 and 10 minutes), 1 failed after the customer accepted,
    1 expired unopened, 2 waiting (opened); Portmone: 1 completed in 5 minutes; plus one
    CorePass request 40 days old (outside the window)."""
    cp, pm = accounts["corepass"], accounts["portmone"]
    now = timezone.now()
    at = now - dt.timedelta(minutes=30)
    done = dict(status=Status.COMPLETED, opened=True, passed=ACCEPTED)
    made = [
        make_transfer(cp, created=at, took=1 * MIN, **done),
        make_transfer(cp, created=at, took=2 * MIN, **done),
        make_transfer(cp, created=at, took=10 * MIN, **done),
        make_transfer(
            cp,
            created=at,
            status=Status.FAILED,
            opened=True,
            passed=ACCEPTED,
            provider_status="FINISH_FAILED",
        ),
        make_transfer(cp, created=at, status=Status.EXPIRED, passed=(Status.PENDING,)),
        make_transfer(cp, created=at, status=Status.PENDING, opened=True),
        make_transfer(cp, created=at, status=Status.PENDING, opened=True),
        make_transfer(pm, created=at, took=5 * MIN, **done),
        make_transfer(cp, created=now - dt.timedelta(days=40), took=MIN, **done),
    ]
    # two reviews waiting: one for 30 hours (past the 24 h target), one for 2 hours
    for ref, waited in (("late", 30), ("fresh", 2)):
        waiting_review(merchant, f"review-{ref}", waited)
    return {"day": at.astimezone(dt.UTC).date(), "made": made}


def test_it_shows_known_numbers_in_every_chart(owner: Any, known: dict[str, Any]) -> None:
    page = owner.get(reverse("dashboard")).content.decode()
    # per day: today's row of the data table, in legend order
    today = cells(page, "daily-table", f'data-day="{known["day"]:%Y-%m-%d}"')
    assert today == [f"{known['day']:%Y-%m-%d}", "4", "1", "1", "2", "8"]
    assert 'id="stat-total">8<' in page  # the 40-day-old request is outside the window
    assert 'data-total="completed">4<' in page and 'data-total="failed">1<' in page
    # funnel: created, opened, accepted (the failed one had accepted), completed, median
    assert cells(page, "funnel-table", 'data-provider="corepass"') == [
        "CorePass",
        "7",
        "6",
        "4",
        "3",
        "2 min 0 s (3 completed)",
    ]
    assert cells(page, "funnel-table", 'data-provider="portmone"')[:5] == [
        "Portmone",
        "1",
        "1",
        "1",
        "1",
    ]
    # median over all 4 completions: 1, 2, 5, 10 minutes -> 3.5 minutes
    assert 'id="stat-median">3 min 30 s<' in page
    # reviews: 2 waiting, 1 late, the oldest 30 hours
    assert 'id="stat-reviews">2<' in page
    assert "1 d 6 h" in page and "past the 24 h target" in page
    # the SVG carries the same numbers for screen readers, and no raw provider code shows
    assert "8 verifications started in the last 30 days: 4 completed" in page
    assert "FINISH_FAILED" not in page
    assert "Failed" in page  # the failed request's badge, in words


def test_it_computes_the_embedded_median_like_postgresql(
    known: dict[str, Any], merchant: Any
) -> None:
    """SQLite has no percentile_cont: the fallback picks the middle rows. Run here against
    the same rows, it must agree with PostgreSQL's exact median (odd and even counts)."""
    done = TransferRequest.objects.filter(
        merchant=merchant,
        status=Status.COMPLETED,
        created_at__gte=selectors.dashboard_since(days=30),
    )
    assert selectors._median_sqlite(done, done.count()) == dt.timedelta(minutes=3, seconds=30)
    cp = done.filter(provider="corepass")
    assert selectors._median_sqlite(cp, cp.count()) == 2 * MIN
    assert selectors.dashboard_median_time(merchant)["overall"] == dt.timedelta(
        minutes=3, seconds=30
    )
    assert selectors._median_sqlite(done.none(), 0) is None


def _seed(account: Any, count: int) -> None:
    now = timezone.now()
    statuses = [Status.COMPLETED, Status.FAILED, Status.EXPIRED, Status.PENDING, Status.ACCEPTED]
    TransferRequest.objects.bulk_create(
        [
            TransferRequest(
                merchant=account.merchant,
                account=account,
                provider=account.provider,
                reference=f"bulk-{account.provider}-{i}",
                status=statuses[i % len(statuses)],
                created_at=now - dt.timedelta(hours=i % 700),
                opened_at=now if i % 2 else None,
                completed_at=now if i % len(statuses) == 0 else None,
            )
            for i in range(count)
        ]
    )


def test_it_costs_the_same_queries_at_10_and_200_requests(
    owner: Any, accounts: dict[str, Any], merchant: Any, django_assert_max_num_queries: Any
) -> None:
    KYCRecord.objects.create(
        merchant=merchant, reference="r", review_status=KYCRecord.Review.IN_REVIEW
    )
    _seed(accounts["corepass"], 10)
    owner.get(reverse("dashboard"))  # the session's first page writes its activity stamp
    with CaptureQueriesContext(connection) as small:
        assert owner.get(reverse("dashboard")).status_code == 200
    _seed(accounts["portmone"], 95)
    _seed(accounts["incode"], 95)
    assert TransferRequest.objects.count() == 200
    with django_assert_max_num_queries(len(small)), CaptureQueriesContext(connection) as big:
        page = owner.get(reverse("dashboard"))
    assert page.status_code == 200
    assert len(big) == len(small)
    # the positive control: the bigger page did count the new rows
    assert 'data-provider="incode"' in page.content.decode()


def test_it_says_plainly_when_there_is_nothing_yet(owner: Any, accounts: dict[str, Any]) -> None:
    page = owner.get(reverse("dashboard")).content.decode()
    assert 'id="stat-total">0<' in page and 'id="stat-median">—<' in page
    assert "No verifications in the last 30 days." in page
    assert "No review waiting." in page
    assert page.count('data-day="') == 30  # every day still has its row, with zeros
