"""10,000 learners: read page by page, one INSERT per page (memory stays flat; see the bench)."""

from __future__ import annotations

import time
from typing import Any

import pytest
from django.db import connection
from django.test.utils import CaptureQueriesContext

from kyc.models import Certificate, ProviderAccount
from providers.sunbird import services
from providers.sunbird.models import IssuanceRun
from tests.sunbird.conftest import make_run


@pytest.mark.django_db(transaction=True)
def test_it_collects_10000_certificates_with_paginated_reads_and_bulk_writes(
    merchant: Any, account: Any, sandbox: Any
) -> None:
    ProviderAccount.objects.filter(pk=account.pk).update(
        settings={**account.settings, "page_size": 1000}
    )
    sandbox.batch("batch-10000", learners=10_000, delay=0, rate=0)
    run = make_run(merchant, batch_id="batch-10000", expected_count=10_000)
    started = time.monotonic()

    with CaptureQueriesContext(connection) as queries:
        run = services.run_execute_inline(run.pk, max_seconds=60)

    assert run.status == IssuanceRun.Status.DONE, run.last_error
    assert Certificate.objects.filter(merchant=merchant, batch_id="batch-10000").count() == 10_000
    inserts = [
        q for q in queries.captured_queries if q["sql"].startswith('INSERT INTO "kyc_certificate"')
    ]
    assert len(inserts) == 10  # one per page of 1,000, never one per learner
    assert sandbox.counts()["search"] == 11  # ten full pages and the empty one after them
    assert run.steps.get(name="collect").answer_summary["collected"] == 10_000
    assert time.monotonic() - started < 30
