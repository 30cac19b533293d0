"""Lists: filters (status, provider, reference, created_after, created_before) and cursor
pages for transfers, records and certificates."""

from __future__ import annotations

import datetime as dt
from typing import Any

import pytest
from django.utils import timezone

from kyc.models import KYCRecord
from kyc.status import Status
from tests import factories
from tests.api.conftest import key_client, pending_transfer

pytestmark = pytest.mark.django_db

T0 = dt.datetime(2026, 11, 1, 12, 0, tzinfo=dt.UTC)


def _ids(api: Any, url: str, **params: Any) -> list[str]:
    r = api.get(url, params)
    assert r.status_code == 200, r.json()
    return [str(row["id"]) for row in r.json()["results"]]


@pytest.fixture
def rows(merchant: Any, other_merchant: Any) -> dict[str, Any]:
    a = pending_transfer(merchant, reference="alice", created_at=T0)
    b = pending_transfer(
        merchant, reference="bob", status=Status.COMPLETED, created_at=T0 + dt.timedelta(days=1)
    )
    c = factories.TransferRequestFactory(
        merchant=merchant,
        provider="incode",
        reference="carol",
        status=Status.FAILED,
        created_at=T0 + dt.timedelta(days=2),
    )
    foreign = pending_transfer(other_merchant, reference="alice", created_at=T0)
    return {"a": a, "b": b, "c": c, "foreign": foreign}


def test_it_filters_transfers_by_each_parameter(merchant: Any, rows: dict[str, Any]) -> None:
    api = key_client(merchant)
    a, b, c = (str(rows[k].pk) for k in "abc")
    url = "/api/v1/transfers/"
    assert _ids(api, url) == [c, b, a]  # control: everything of this merchant, newest first
    assert _ids(api, url, status="pending") == [a]
    assert _ids(api, url + "?status=pending&status=failed") == [c, a]
    assert _ids(api, url, provider="incode") == [c]
    assert _ids(api, url, reference="alice") == [a]  # not the other merchant's alice
    assert _ids(api, url, created_after="2026-11-02T00:00:00Z") == [c, b]
    assert _ids(api, url, created_before="2026-11-02T12:00:00Z") == [a]  # before: exclusive
    assert _ids(api, url, created_after="2026-11-02T00:00:00Z", provider="corepass") == [b]


@pytest.mark.parametrize(
    ("param", "value"),
    [("status", "nope"), ("provider", "nope"), ("created_after", "yesterday")],
)
def test_it_answers_400_naming_a_bad_filter(
    merchant: Any, rows: dict[str, Any], param: str, value: str
) -> None:
    r = key_client(merchant).get("/api/v1/transfers/", {param: value})
    assert r.status_code == 400
    assert r.json()["code"] == "invalid" and param in r.json()["errors"]


def test_it_filters_records_and_certificates(merchant: Any, rows: dict[str, Any]) -> None:
    api = key_client(merchant)
    bob = KYCRecord.objects.get(merchant=merchant, reference="bob")
    KYCRecord.objects.filter(pk=bob.pk).update(review_status=KYCRecord.Review.APPROVED)
    assert _ids(api, "/api/v1/records/", status="approved") == [str(bob.pk)]
    assert _ids(api, "/api/v1/records/", reference="alice") == [
        str(KYCRecord.objects.get(merchant=merchant, reference="alice").pk)
    ]
    cert = factories.CertificateFactory(record=bob, provider="sunbird", external_id="e1")
    factories.CertificateFactory(merchant=merchant, provider="blockpass", external_id="e2")
    assert _ids(api, "/api/v1/certificates/", reference="bob") == [str(cert.pk)]
    assert _ids(api, "/api/v1/certificates/", provider="sunbird") == [str(cert.pk)]
    assert len(_ids(api, "/api/v1/certificates/")) == 2  # control


def test_it_pages_with_a_cursor_without_repeats_or_gaps(merchant: Any) -> None:
    api = key_client(merchant)
    now = timezone.now()
    made = [
        pending_transfer(merchant, reference=f"p-{n}", created_at=now - dt.timedelta(seconds=n))
        for n in range(7)
    ]
    page = api.get("/api/v1/transfers/", {"limit": 3}).json()
    assert "count" not in page and page["previous"] is None
    seen = [row["id"] for row in page["results"]]
    # a request created meanwhile does not shift the next page
    pending_transfer(merchant, reference="new", created_at=now + dt.timedelta(seconds=5))
    while page["next"]:
        assert "limit=3" in page["next"]
        page = api.get(page["next"]).json()
        seen += [row["id"] for row in page["results"]]
    assert seen == [str(t.pk) for t in made]


def test_it_lowers_a_large_limit_and_refuses_a_forged_cursor(merchant: Any) -> None:
    api = key_client(merchant)
    for n in range(3):
        pending_transfer(merchant, reference=f"q-{n}")
    assert len(api.get("/api/v1/transfers/", {"limit": 1000}).json()["results"]) == 3
    r = api.get("/api/v1/transfers/", {"cursor": "bz1hYmM="})  # base64 of "o=abc"
    assert r.status_code == 400 and "cursor" in r.json()["errors"]
