"""The dashboard's funnel reads an index, not table rows: the requests that ended failed,
expired or cancelled (whose timelines it checks for an acceptance) are a range of the
outcome index, answered from the index alone with the id the semi-join needs, so the page
stays fast as a merchant's requests grow (make bench: dashboard at 100,000 requests)."""

from __future__ import annotations

from typing import Any

import pytest
from django.db import connection
from django.test.utils import CaptureQueriesContext

from kyc import selectors
from kyc.models import TransferEvent, TransferRequest
from kyc.status import Status
from tests.console.test_dashboard import _seed

pytestmark = [
    pytest.mark.django_db(transaction=True),  # VACUUM runs outside a transaction
    pytest.mark.skipif(connection.vendor != "postgresql", reason="PostgreSQL's planner"),
]


def _plans(run: Any) -> list[str]:
    """EXPLAIN of every query `run` sends, after a VACUUM ANALYZE, sequential and bitmap
    scans priced out: on a test-sized table they always win, whatever the indexes."""
    with CaptureQueriesContext(connection) as captured:
        run()
    plans = []
    with connection.cursor() as cursor:
        # What autovacuum does to a grown table: statistics and the visibility map.
        cursor.execute("VACUUM ANALYZE kyc_transferrequest")
        cursor.execute("VACUUM ANALYZE kyc_transferevent")
        cursor.execute("SET enable_seqscan = off")
        cursor.execute("SET enable_bitmapscan = off")
        try:
            for q in captured.captured_queries:
                cursor.execute("EXPLAIN " + q["sql"])
                plans.append("\n".join(row[0] for row in cursor.fetchall()))
        finally:
            cursor.execute("RESET enable_seqscan")
            cursor.execute("RESET enable_bitmapscan")
    return plans


def test_it_reads_the_funnel_s_late_acceptances_from_the_outcome_index_alone(
    accounts: dict[str, Any], merchant: Any
) -> None:
    _seed(accounts["corepass"], 1500)
    _seed(accounts["portmone"], 1500)
    TransferEvent.objects.bulk_create(  # every request's timeline passed acceptance
        TransferEvent(transfer=t, kind="status", status=Status.ACCEPTED, source="system")
        for t in TransferRequest.objects.all()
    )
    (passed,) = [
        p
        for p in _plans(lambda: selectors.dashboard_funnel(merchant, counts=[]))
        if "kyc_transferevent" in p
    ]
    assert "Index Only Scan using transfer_outcome_idx on kyc_transferrequest" in passed, passed
