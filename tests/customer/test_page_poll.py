"""The status fragment the page polls: no SQL and 304 while nothing changes, the whole card
swapped when something does, 286 at the end, and polls thinning out in review."""

from __future__ import annotations

import datetime as dt
import re
from typing import Any

import pytest
from django.db import connection
from django.test import Client
from django.test.utils import CaptureQueriesContext
from django.utils import timezone

from kyc import customer, services
from kyc.contract import StatusUpdate
from kyc.status import Status
from tests import factories
from tests.customer.test_page_views import make

pytestmark = pytest.mark.django_db


def poll(t: Any, **headers: Any) -> Any:
    return Client().get(f"/t/{t.page_token}/status", **headers)


def test_it_answers_304_without_sql_while_nothing_changes_then_swaps_the_whole_card(
    merchant: Any, django_capture_on_commit_callbacks: Any
) -> None:
    t = make(merchant, qr_svg="<svg id='the-qr'></svg>", items=["SH_EMAIL"])
    page = Client().get(f"/t/{t.page_token}/").content.decode()
    tag = re.search(r'data-etag="([^"]+)"', page)
    assert tag is not None
    etag = tag.group(1).replace("&quot;", '"')
    first = poll(t)  # renders once and keeps the rendered fragment
    assert first.status_code == 200 and first["ETag"] == etag and b"the-qr" in first.content
    with CaptureQueriesContext(connection) as queries:
        same = poll(t, HTTP_IF_NONE_MATCH=etag)
        cached = poll(t)
    assert len(queries) == 0
    assert same.status_code == 304 and same.content == b""
    assert cached.status_code == 200 and cached.content == first.content
    assert poll(t, HTTP_IF_NONE_MATCH='"something-else"').status_code == 200  # control

    with django_capture_on_commit_callbacks(execute=True):
        services.transfer_apply(
            transfer_id=t.pk,
            update=StatusUpdate(status=Status.COMPLETED),
            source="test",
        )
    done = poll(t, HTTP_IF_NONE_MATCH=etag)
    body = done.content.decode()
    assert done.status_code == 286 and done["ETag"] != etag  # htmx stops polling
    assert 'data-status="completed"' in body and "All done" in body
    assert "the-qr" not in body and "hx-get" not in body and "<li>Email</li>" in body


def test_it_keeps_answering_286_at_the_end_even_to_a_matching_etag(merchant: Any) -> None:
    t = make(merchant, status=Status.FAILED, failure_code="expired")
    first = poll(t)
    assert first.status_code == 286
    assert poll(t, HTTP_IF_NONE_MATCH=first["ETag"]).status_code == 286


def test_it_keeps_one_rendered_fragment_per_language(merchant: Any) -> None:
    t = make(merchant)
    en = poll(t, HTTP_ACCEPT_LANGUAGE="en")
    uk = poll(t, HTTP_ACCEPT_LANGUAGE="uk")
    assert en["Content-Language"] == "en" and uk["Content-Language"] == "uk"
    assert en["ETag"] != uk["ETag"]
    assert poll(t, HTTP_ACCEPT_LANGUAGE="uk", HTTP_IF_NONE_MATCH=en["ETag"]).status_code == 200


def test_it_thins_out_polls_in_review_and_stops_after_a_day() -> None:
    now = dt.datetime(2026, 12, 1, 12, 0, tzinfo=dt.UTC)

    def review(waited: dt.timedelta) -> dict[str, Any]:
        return {"status": "review", "terminal": False, "review_since": (now - waited).isoformat()}

    m = dt.timedelta(minutes=1)
    assert customer.poll_interval(review(0 * m), now) == 2
    assert customer.poll_interval(review(1 * m), now) == 2
    assert customer.poll_interval(review(2 * m), now) == 30
    assert customer.poll_interval(review(59 * m), now) == 30
    assert customer.poll_interval(review(60 * m), now) == 300
    assert customer.poll_interval(review(24 * 60 * m - m), now) == 300
    assert customer.poll_interval(review(24 * 60 * m), now) is None
    assert customer.poll_interval({"status": "pending", "terminal": False}, now) == 2
    assert customer.poll_interval({"status": "completed", "terminal": True}, now) is None
    # no stamp yet: counted from now
    assert customer.poll_interval({"status": "review", "terminal": False}, now) == 2


@pytest.mark.parametrize(
    ("waited", "trigger"),
    [
        (dt.timedelta(seconds=30), 'hx-trigger="every 2s"'),
        (dt.timedelta(minutes=10), 'hx-trigger="every 30s"'),
        (dt.timedelta(hours=3), 'hx-trigger="every 300s"'),
    ],
)
def test_it_tells_the_page_the_next_poll_interval_in_review(
    merchant: Any, waited: dt.timedelta, trigger: str
) -> None:
    t = make(merchant, status=Status.REVIEW)
    factories.TransferEventFactory(transfer=t, created_at=timezone.now() - waited)
    r = poll(t)
    assert r.status_code == 200 and trigger in r.content.decode()
    assert 'id="check-again"' not in r.content.decode()


def test_it_stops_polling_after_a_day_in_review_and_offers_check_again(merchant: Any) -> None:
    t = make(merchant, status=Status.REVIEW)
    factories.TransferEventFactory(transfer=t, created_at=timezone.now() - dt.timedelta(hours=25))
    r = poll(t)
    body = r.content.decode()
    assert r.status_code == 286 and "hx-trigger" not in body
    assert re.search(rf'id="check-again" href="/t/{t.page_token}/">Check again<', body)
    page = Client().get(f"/t/{t.page_token}/").content.decode()
    assert "hx-trigger" not in page and 'id="check-again"' in page


def test_it_answers_from_the_cache_in_the_merchants_default_language_too(merchant: Any) -> None:
    merchant.default_language = "uk"
    merchant.save()
    t = make(merchant)
    first = poll(t, HTTP_ACCEPT_LANGUAGE="fr")  # no supported language: the merchant's
    assert first["Content-Language"] == "uk"
    with CaptureQueriesContext(connection) as queries:
        again = poll(t, HTTP_ACCEPT_LANGUAGE="fr")
        same = poll(t, HTTP_ACCEPT_LANGUAGE="fr", HTTP_IF_NONE_MATCH=first["ETag"])
    assert len(queries) == 0
    assert again.content == first.content and same.status_code == 304
