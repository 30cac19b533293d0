"""Real Celery workers: a 200-learner run, and a worker killed mid-run."""

from __future__ import annotations

from typing import Any

import pytest

from kyc.models import Certificate
from providers.sunbird import services
from providers.sunbird.models import STEP_NAMES, IssuanceRun, IssuanceStep
from tests.conftest import wait_for
from tests.sunbird.conftest import make_run

FAST = {"SUNBIRD_POLL_SECONDS": "0.3"}


def _status(run: IssuanceRun) -> str:
    return IssuanceRun.objects.get(pk=run.pk).status


def _assert_complete(run: IssuanceRun, merchant: Any, sandbox: Any) -> None:
    run.refresh_from_db()
    assert run.status == IssuanceRun.Status.DONE, run.last_error
    steps = list(run.steps.order_by("order"))
    assert [s.name for s in steps] == list(STEP_NAMES)
    for s in steps:
        assert s.status == IssuanceStep.Status.DONE and s.finished_at and s.request_summary, s
    assert Certificate.objects.filter(merchant=merchant, batch_id=run.batch_id).count() == 200
    counts = sandbox.counts()
    assert counts["assign_key"] == 1 and counts["issue"] == 1 and counts["content_update"] == 1


@pytest.mark.worker
def test_it_issues_a_batch_of_200_on_a_real_worker(
    merchant: Any, account: Any, sandbox: Any, start_worker: Any
) -> None:
    start_worker(extra_env=FAST)
    sandbox.batch("batch-200", learners=200, delay=0.3, rate=400)

    run = make_run(merchant, enqueue=True, expected_count=200)

    wait_for(lambda: _status(run) in ("done", "failed"), timeout=40)
    _assert_complete(run, merchant, sandbox)


@pytest.mark.worker
def test_it_finishes_after_the_worker_is_killed_mid_run(
    merchant: Any, account: Any, sandbox: Any, start_worker: Any
) -> None:
    first = start_worker(extra_env=FAST)
    # Certificates trickle in over ~2.5 s, so the kill lands while "collect" is polling.
    sandbox.batch("batch-200", learners=200, delay=0.3, rate=80)
    run = make_run(merchant, enqueue=True, expected_count=200)

    def collecting() -> bool:
        run.refresh_from_db()
        return run.current_step == "collect" and 0 < run.collected_count < 200

    wait_for(collecting, timeout=30, interval=0.05)
    first.kill()  # SIGKILL: its reserved tasks stay unacked at the broker
    killed_at = IssuanceRun.objects.get(pk=run.pk).collected_count
    assert killed_at < 200

    start_worker(extra_env=FAST)
    # What beat does every minute: runs whose heartbeat went quiet are resumed.
    assert services.reconcile(stale_after=0) == 1

    wait_for(lambda: _status(run) in ("done", "failed"), timeout=40)
    _assert_complete(run, merchant, sandbox)
    assert all(s.attempts == 1 for s in run.steps.all())
