"""Times on the review page are in the reviewer's own time zone (the browser's, sent once in
the `tz` cookie by static/js/reviewer_tz.js); an unknown or malformed zone falls back to the
portal's TIME_ZONE."""

from __future__ import annotations

import re

import pytest
from django.urls import reverse

from kyc.models import Membership
from tests.admin_workspace.conftest import Desk, member

pytestmark = pytest.mark.django_db

STAMP = re.compile(r"\d{4}-\d\d-\d\d \d\d:\d\d:\d\d (?:UTC[+-]\d\d:\d\d|\w+ \(UTC[+-]\d\d:\d\d\))")


def _stamps(desk: Desk, tz: str | None) -> list[str]:
    client = member(desk.merchant, Membership.Role.COMPLIANCE)
    if tz is not None:
        client.cookies["tz"] = tz
    html = client.get(reverse("admin:kyc_kycrecord_review", args=[desk.old.pk])).content.decode()
    return STAMP.findall(html)


def test_it_shows_times_in_the_reviewers_time_zone(desk: Desk) -> None:
    kyiv = _stamps(desk, "Europe%2FKyiv")  # as the script writes it (URL-encoded)
    assert kyiv and all("(UTC+02:00)" in s for s in kyiv), kyiv[:3]  # December: EET
    tokyo = _stamps(desk, "Asia/Tokyo")
    assert tokyo and all("(UTC+09:00)" in s for s in tokyo), tokyo[:3]


@pytest.mark.parametrize("tz", [None, "", "Not/AZone", "../../etc/passwd", "x" * 100])
def test_it_falls_back_to_the_portals_zone_for_anything_else(desk: Desk, tz: str | None) -> None:
    stamps = _stamps(desk, tz)
    assert stamps and all(s.endswith("UTC+00:00") for s in stamps), stamps[:3]


def test_it_loads_the_script_that_reports_the_zone(desk: Desk) -> None:
    client = member(desk.merchant, Membership.Role.COMPLIANCE)
    html = client.get(reverse("admin:kyc_kycrecord_review", args=[desk.old.pk])).content.decode()
    assert "js/reviewer_tz.js" in html
