"""A whole run, executed synchronously against the sandbox (the code path the tasks use)."""

from __future__ import annotations

from typing import Any

import pytest

from kyc.models import Certificate
from providers.sunbird import services
from providers.sunbird.models import STEP_NAMES, IssuanceRun, IssuanceStep
from tests.sunbird.conftest import make_run


@pytest.mark.django_db(transaction=True)
def test_it_runs_every_step_and_stores_one_certificate_per_learner(
    merchant: Any, account: Any, sandbox: Any
) -> None:
    sandbox.batch("batch-200", learners=200, delay=0, rate=0)
    run = make_run(merchant, expected_count=200)

    run = services.run_execute_inline(run.pk, max_seconds=30)

    assert run.status == IssuanceRun.Status.DONE
    steps = list(run.steps.order_by("order"))
    assert [s.name for s in steps] == list(STEP_NAMES)
    assert all(s.status == IssuanceStep.Status.DONE and s.attempts == 1 for s in steps)
    assert steps[2].request_summary["signKeys"] == ["sign-batch-200"]
    certs = Certificate.objects.filter(merchant=merchant, provider="sunbird", batch_id="batch-200")
    assert certs.count() == 200
    one = certs.order_by("recipient_id").first()
    assert one.recipient_id == "user-000000" and one.recipient_name == "Learner 0"
    assert one.slug == "100PercentCompletionCertificate" and one.download_url.endswith(".pdf")
    assert run.collected_count == 200
    counts = sandbox.counts()
    assert counts["assign_key"] == 1 and counts["issue"] == 1 and counts["content_update"] == 1
