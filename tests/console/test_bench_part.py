"""The dashboard bench part's data: what it seeds is what the charts then count."""

from __future__ import annotations

from typing import Any

import pytest

from bench.parts import dashboard as part
from kyc import selectors
from kyc.models import TransferEvent, TransferRequest

pytestmark = pytest.mark.django_db


def test_it_seeds_every_outcome_and_timelines_the_funnel_counts(
    accounts: dict[str, Any], merchant: Any
) -> None:
    part.seed_transfers(accounts=[accounts["corepass"], accounts["portmone"]], count=40, batch="t")
    rows = TransferRequest.objects.filter(merchant=merchant)
    assert rows.count() == 80
    share = dict(part.MIX)
    for status, n in share.items():
        assert rows.filter(status=status).count() == 2 * 40 * n // 20, status
    assert TransferEvent.objects.filter(status="created").count() == 80
    funnel = {r["provider"]: r for r in selectors.dashboard_funnel(merchant)}
    cp = funnel["corepass"]
    assert cp["created"] == 40 and cp["completed"] == 22
    # accepted: completed, accepted, review (22 + 2 + 2 of 40) plus the failed and expired
    # ones whose timeline passed acceptance (the seeded opened ones)
    opened_bad = rows.filter(
        provider="corepass", status__in=["failed", "expired"], opened_at__isnull=False
    ).count()
    assert cp["accepted"] == 26 + opened_bad and opened_bad > 0
    daily = selectors.dashboard_daily(merchant)
    assert sum(d["total"] for d in daily) == 80
