"""Steps are idempotent: finished steps never call Sunbird again; failed ones resume."""

from __future__ import annotations

import datetime as dt
from typing import Any

import pytest

from kyc.models import Certificate, ProviderAccount
from providers.sunbird import services, tasks
from providers.sunbird.models import IssuanceRun, IssuanceStep
from tests.sunbird.conftest import make_run

pytestmark = pytest.mark.django_db(transaction=True)


def _finished_run(merchant: Any, sandbox: Any, batch: str = "b-20", **kw: Any) -> IssuanceRun:
    sandbox.batch(batch, learners=20, delay=0, rate=0)
    run = make_run(merchant, batch_id=batch, expected_count=20, **kw)
    run = services.run_execute_inline(run.pk, max_seconds=20)
    assert run.status == IssuanceRun.Status.DONE
    return run


def test_it_does_nothing_twice_when_a_finished_step_runs_again(
    merchant: Any, account: Any, sandbox: Any
) -> None:
    run = _finished_run(merchant, sandbox)
    before = sandbox.counts()

    # A redelivered task for every step, with the run's own token, and a resume.
    for name, task in tasks.TASKS.items():
        task.run(run.pk, run.chain_token)
        outcome = services.step_execute(run_id=run.pk, name=name, token=run.chain_token)
        assert outcome.detail in ("already done", "superseded or not running")
    services.run_resume(run_id=run.pk)
    services.run_execute_inline(run.pk, max_seconds=5)

    after = sandbox.counts()
    for call in ("assign_key", "content_update", "issue", "token"):
        assert after[call] == before[call], call
    assert all(s.attempts == 1 for s in run.steps.all())
    assert Certificate.objects.filter(batch_id="b-20").count() == 20


def test_it_does_not_assign_again_after_a_worker_died_mid_call(
    merchant: Any, account: Any, sandbox: Any
) -> None:
    run = _finished_run(merchant, sandbox)
    # Pretend the worker died after Sunbird assigned the keys but before we recorded it.
    IssuanceStep.objects.filter(
        run=run, name__in=["assign_keys", "attach_template", "issue", "collect"]
    ).update(status=IssuanceStep.Status.PENDING)
    IssuanceStep.objects.filter(run=run, name__in=["assign_keys", "issue"]).update(
        status=IssuanceStep.Status.RUNNING
    )
    IssuanceRun.objects.filter(pk=run.pk).update(status=IssuanceRun.Status.RUNNING)

    services.run_execute_inline(run.pk, max_seconds=20)

    counts = sandbox.counts()
    assert counts["assign_key"] == 1 and counts["issue"] == 1
    assign = run.steps.get(name="assign_keys")
    assert "not assigned again" in assign.answer_summary["resumed"] and assign.attempts == 2
    assert "not issued again" in run.steps.get(name="issue").answer_summary["resumed"]


def test_it_reissues_only_when_asked(merchant: Any, account: Any, sandbox: Any) -> None:
    _finished_run(merchant, sandbox, batch="b-20")
    _finished_run(merchant, sandbox, batch="c-20", reissue=True)
    issued = [c for c in sandbox.calls() if c["call"] == "issue"]
    assert [c["reIssue"] for c in issued] == [False, True]


def test_it_resumes_from_the_failed_step_after_a_retry(
    merchant: Any, account: Any, sandbox: Any
) -> None:
    sandbox.batch("b-20", learners=20, delay=0, rate=0)
    good = dict(account.settings)
    account.settings = {**good, "path_issue": "/api/course/batch/cert/v9/nope"}
    account.save()
    run = make_run(merchant, batch_id="b-20", expected_count=20)

    run = services.run_execute_inline(run.pk, max_seconds=20)

    assert run.status == IssuanceRun.Status.FAILED and run.current_step == "issue"
    failed = run.steps.get(name="issue")
    assert failed.status == IssuanceStep.Status.FAILED and "404" in failed.error
    assert run.steps.get(name="collect").status == IssuanceStep.Status.PENDING

    ProviderAccount.objects.filter(pk=account.pk).update(settings=good)
    run = services.run_execute_inline(run.pk, max_seconds=20)

    assert run.status == IssuanceRun.Status.DONE
    assert run.steps.get(name="issue").attempts == 2
    assert run.steps.get(name="assign_keys").attempts == 1
    assert sandbox.counts()["assign_key"] == 1 and sandbox.counts()["issue"] == 1


def test_it_fails_clearly_for_an_unknown_root_org(
    merchant: Any, account: Any, sandbox: Any
) -> None:
    run = make_run(merchant, root_org_id="0999")
    run = services.run_execute_inline(run.pk, max_seconds=10)
    assert run.status == IssuanceRun.Status.FAILED
    assert "0999 is not an active root org" in run.last_error
    assert sandbox.counts()["assign_key"] == 0


def test_it_waits_for_the_registry_count_to_settle_without_an_expected_count(
    merchant: Any, account: Any, sandbox: Any, settings: Any
) -> None:
    settings.SUNBIRD_POLL_SECONDS = 0.05
    settings.SUNBIRD_QUIET_SECONDS = 0.5
    sandbox.batch("b-30", learners=30, delay=0, rate=0)
    run = services.run_execute_inline(make_run(merchant, batch_id="b-30").pk, max_seconds=10)
    assert run.status == IssuanceRun.Status.DONE and run.collected_count == 30
    collect = run.steps.get(name="collect")
    # Quiet for a period of time, not for one poll: several unchanged polls first.
    assert collect.answer_summary["polls"] >= 4
    assert run.finished_at - run.last_growth_at >= dt.timedelta(seconds=0.5)


def test_it_resumes_stale_runs_from_reconcile(merchant: Any, account: Any, sandbox: Any) -> None:
    run = make_run(merchant, batch_id="b-20")
    token = run.chain_token
    assert services.reconcile() == 0  # fresh heartbeat: someone is on it
    assert services.reconcile(stale_after=-1) == 1
    run.refresh_from_db()
    assert run.chain_token != token  # the old chain's tasks now do nothing
    assert services.step_execute(run_id=run.pk, name="find_root_org", token=token).next_step is None


def test_it_fails_the_step_when_the_account_lost_its_settings(
    merchant: Any, account: Any, sandbox: Any
) -> None:
    run = make_run(merchant)
    ProviderAccount.objects.filter(pk=account.pk).update(settings={})
    run = services.run_execute_inline(run.pk, max_seconds=5)
    assert run.status == IssuanceRun.Status.FAILED
    assert "Configure Sunbird" in run.steps.get(name="find_root_org").error
