"""Odd list input the fuzzer found: times with offsets the database refuses are read in
UTC; times outside the calendar once in UTC, and cursors we never issued, are a 400 in
the one error shape; never a 500."""

from __future__ import annotations

import base64
from typing import Any
from urllib.parse import urlencode

import pytest

from kyc.models import KYCRecord

LISTS = ["/api/v1/transfers/", "/api/v1/records/", "/api/v1/certificates/"]


def _cursor(query: str) -> str:
    return base64.b64encode(query.encode()).decode()


BAD = {
    "not a time": {"created_before": "garbage"},
    "UTC before year 1": {"created_after": "0001-01-01T00:00:00+05:00"},
    "UTC after year 9999": {"created_before": "9999-12-31T23:59:59-05:00"},
    "cursor, garbage position": {"cursor": _cursor("p=garbage")},
    "cursor, NUL in position": {"cursor": _cursor("p=a\x00b")},
    "cursor, month 13": {"cursor": _cursor("p=2026-13-01 00:00:00+00:00")},
}


@pytest.mark.django_db
@pytest.mark.parametrize("path", LISTS)
@pytest.mark.parametrize("params", BAD.values(), ids=list(BAD))
def test_it_refuses_odd_list_input_in_the_one_error_shape(
    api: Any, path: str, params: dict[str, str]
) -> None:
    r = api.get(f"{path}?{urlencode(params)}")
    assert r.status_code == 400, (path, params, r.content[:300])
    body = r.json()
    assert body["code"] == "invalid" and set(body["errors"]) == set(params), body


@pytest.mark.parametrize(
    "path", ["/api/v1/webhook-endpoints/", "/api/v1/webhook-endpoints/1/deliveries/"]
)
@pytest.mark.django_db
def test_it_refuses_a_webhook_cursor_that_is_not_an_id(api: Any, path: str) -> None:
    for position in ("garbage", "a\x00b", "99999999999999999999999"):
        r = api.get(f"{path}?{urlencode({'cursor': _cursor(f'p={position}')})}")
        assert r.status_code in (400, 404), (position, r.content[:300])
        if r.status_code == 400:
            assert r.json()["errors"] == {"cursor": ["Invalid cursor."]}


@pytest.mark.django_db
def test_it_still_pages_with_its_own_cursors_and_reads_any_sane_offset(
    api: Any, merchant: Any
) -> None:
    for i in range(5):
        KYCRecord.objects.create(merchant=merchant, reference=f"r{i}")
    seen: list[str] = []
    url = "/api/v1/records/?limit=2"
    while url:
        body = api.get(url).json()
        seen += [row["reference"] for row in body["results"]]
        url = body["next"]
    assert sorted(seen) == [f"r{i}" for i in range(5)], seen
    # offsets the database takes, and those it does not (shifted to UTC first)
    for when in ("2000-01-01T00:00:00+15:00", "2000-01-01T00:00:00-19:02"):
        r = api.get("/api/v1/records/?" + urlencode({"created_after": when}))
        assert r.status_code == 200 and len(r.json()["results"]) == 5, when
    r = api.get("/api/v1/records/?" + urlencode({"created_after": "2999-01-01T00:00:00Z"}))
    assert r.status_code == 200 and r.json()["results"] == []
    # a cursor position with such an offset is read the same way
    r = api.get("/api/v1/records/?" + urlencode({"cursor": _cursor("p=2999-01-01 00:00-19:02")}))
    assert r.status_code == 200 and len(r.json()["results"]) == 5
