"""A run counts only the certificates its own issue call produced.

The sandbox registry publishes late (`delay`: seconds after the issue call before the
first certificate appears), as Sunbird's Kafka consumer does.
"""

from __future__ import annotations

import re
from typing import Any

import pytest

from kyc.models import Certificate
from providers.sunbird import services
from providers.sunbird.models import IssuanceRun, RunCertificate
from tests.sunbird.conftest import make_run

pytestmark = pytest.mark.django_db(transaction=True)
FAST_SECONDS = {"SUNBIRD_QUIET_SECONDS": 0.5}  # done 0.5 s after its last new certificate


def test_it_waits_for_a_reissue_published_late_and_counts_only_its_own(
    merchant: Any, account: Any, sandbox: Any, fast: Any
) -> None:
    sandbox.batch("again-20", learners=20, delay=0, rate=0)
    first = services.run_execute_inline(
        make_run(merchant, batch_id="again-20", expected_count=20).pk, max_seconds=20
    )
    assert first.status == IssuanceRun.Status.DONE
    old_ids = set(RunCertificate.objects.filter(run=first).values_list("external_id", flat=True))

    # The re-issued certificates appear 1.5 s after the call, at 20 per second.
    sandbox.batch("again-20", learners=20, delay=1.5, rate=20)
    second = make_run(
        merchant,
        batch_id="again-20",
        reissue=True,
        expected_count=20,
        sign_keys=["s-again-2"],
        enc_keys=["e-again-2"],
    )
    second = services.run_execute_inline(second.pk, max_seconds=30)

    assert second.status == IssuanceRun.Status.DONE, second.last_error
    mine = set(RunCertificate.objects.filter(run=second).values_list("external_id", flat=True))
    assert len(mine) == 20 and not (mine & old_ids)
    assert second.collected_count == 20
    assert Certificate.objects.filter(batch_id="again-20").count() == 40  # all stored
    issue = second.steps.get(name="issue")
    assert (second.finished_at - issue.finished_at).total_seconds() >= 1.4


def test_it_says_how_many_arrived_when_it_times_out_and_resumes(
    merchant: Any, account: Any, sandbox: Any, fast: Any
) -> None:
    fast.SUNBIRD_COLLECT_TIMEOUT_SECONDS = 1.0
    sandbox.batch("slow-50", learners=50, delay=0.3, rate=15)
    run = make_run(merchant, batch_id="slow-50", expected_count=50)

    run = services.run_execute_inline(run.pk, max_seconds=20)

    assert run.status == IssuanceRun.Status.FAILED and run.current_step == "collect"
    m = re.search(r"(\d+) of 50 arrived", run.last_error)
    assert m and 0 < int(m.group(1)) < 50, run.last_error

    fast.SUNBIRD_COLLECT_TIMEOUT_SECONDS = 30.0
    run = services.run_execute_inline(run.pk, max_seconds=30)  # the retry button's resume

    assert run.status == IssuanceRun.Status.DONE, run.last_error
    assert run.collected_count == 50
    assert Certificate.objects.filter(batch_id="slow-50").count() == 50
    assert sandbox.counts()["issue"] == 1
