"""An issue call whose outcome is unknown is never sent again blindly.

Sunbird's issue call has no idempotency key: sending it twice with reIssue=true gives
every learner two certificates. The sandbox here accepts the call and answers after the
client's read timeout, as a slow lms-service does.
"""

from __future__ import annotations

from typing import Any

import pytest

from kyc.errors import InvalidInput, RetryableError
from kyc.models import AuditEntry, Certificate
from providers.sunbird import services
from providers.sunbird.models import IssuanceRun, IssuanceStep
from tests.sunbird.conftest import make_run

pytestmark = pytest.mark.django_db(transaction=True)
FAST_SECONDS = {"SUNBIRD_ISSUE_READ_TIMEOUT_SECONDS": 0.4}  # the sandbox answers after it


def _reissue(
    merchant: Any, sandbox: Any, batch_id: str, learners: int, *, max_seconds: float, **batch: Any
) -> IssuanceRun:
    """Size the sandbox's batch (`batch`: when it publishes, how it answers the issue call),
    then run a re-issue of all its learners inline."""
    sandbox.batch(batch_id, learners=learners, rate=0, **batch)
    run = make_run(merchant, batch_id=batch_id, reissue=True, expected_count=learners)
    return services.run_execute_inline(run.pk, max_seconds=max_seconds)


def _collected(
    run: IssuanceRun, sandbox: Any, batch_id: str, learners: int, *, issue_calls: int = 1
) -> None:
    """The run is done after `issue_calls` issue calls, with every learner's certificate."""
    assert run.status == IssuanceRun.Status.DONE, run.last_error
    assert sandbox.counts()["issue"] == issue_calls
    assert Certificate.objects.filter(batch_id=batch_id).count() == learners


def test_it_sends_a_late_answered_reissue_once_and_collects_it_once(
    merchant: Any, account: Any, sandbox: Any, fast: Any
) -> None:
    # Accepted at once, answered 1.5 s later (after the 0.4 s read timeout); certificates
    # are published 1 s after the call arrived.
    run = _reissue(merchant, sandbox, "late-20", 20, max_seconds=30, delay=1.0, answer_delay=1.5)

    _collected(run, sandbox, "late-20", 20)
    issued = [c for c in sandbox.calls() if c["call"] == "issue"]
    assert [c["reIssue"] for c in issued] == [True]
    step = run.steps.get(name="issue")
    assert step.status == IssuanceStep.Status.DONE and step.attempts == 1
    assert "not issued again" in step.answer_summary["resumed"]


def test_it_does_not_send_again_after_a_502_from_a_call_sunbird_accepted(
    merchant: Any, account: Any, sandbox: Any, fast: Any
) -> None:
    run = _reissue(merchant, sandbox, "gw-10", 10, max_seconds=20, delay=0.5, answer_status=502)

    _collected(run, sandbox, "gw-10", 10)


def test_it_waits_for_staff_when_nothing_appears_and_resubmits_only_on_their_word(
    merchant: Any, account: Any, sandbox: Any, fast: Any, django_user_model: Any
) -> None:
    fast.SUNBIRD_ISSUE_VERIFY_SECONDS = 1.0
    # The call is accepted but Sunbird's consumer never publishes (within the test).
    run = _reissue(merchant, sandbox, "lost-20", 20, max_seconds=20, delay=3600, answer_delay=1.0)

    assert run.status == IssuanceRun.Status.FAILED
    assert "It was not sent again" in run.last_error
    assert run.steps.get(name="issue").status == IssuanceStep.Status.UNKNOWN
    assert sandbox.counts()["issue"] == 1

    # "Retry" only asks the registry again; reconcile never re-sends either.
    run = services.run_execute_inline(run.pk, max_seconds=10)
    assert run.status == IssuanceRun.Status.FAILED and sandbox.counts()["issue"] == 1

    # A person decides to send it again: audited, sent once more, then collected.
    sandbox.batch("lost-20", learners=20, delay=0, rate=0, answer_delay=0)
    staff = django_user_model.objects.create_user("ops", "ops@example.org", "x")
    services.run_issue_resubmit(run_id=run.pk, actor=staff)
    run = services.run_execute_inline(run.pk, max_seconds=20)

    _collected(run, sandbox, "lost-20", 20, issue_calls=2)
    entry = AuditEntry.objects.get(action="sunbird.issue_resubmitted")
    assert entry.actor == staff and entry.merchant == merchant
    with pytest.raises(InvalidInput):
        services.run_issue_resubmit(run_id=run.pk, actor=staff)


def test_it_treats_a_5xx_answer_as_unknown_and_a_refused_connection_as_not_sent() -> None:
    import requests
    from urllib3.exceptions import NewConnectionError

    five_hundred = RetryableError("The provider answered 502.", status=502)
    assert services._nothing_sent(five_hundred) is False
    try:
        raise RetryableError("timed out") from requests.ReadTimeout()
    except RetryableError as exc:
        assert services._nothing_sent(exc) is False
    refused = requests.ConnectionError(
        type("E", (), {"reason": NewConnectionError(None, "refused")})()  # type: ignore[arg-type]
    )
    try:
        raise RetryableError("unreachable") from refused
    except RetryableError as exc:
        assert services._nothing_sent(exc) is True
    try:
        raise RetryableError("reset") from requests.ConnectionError("Connection reset by peer")
    except RetryableError as exc:
        assert services._nothing_sent(exc) is False


def test_it_refuses_to_resubmit_a_step_that_is_not_unknown(merchant: Any, account: Any) -> None:
    run = make_run(merchant, batch_id="b-5")
    with pytest.raises(InvalidInput, match="outcome is unknown"):
        services.run_issue_resubmit(run_id=run.pk, actor=None)


def test_it_offers_staff_the_resubmit_only_when_the_outcome_is_unknown(
    staff_client: Any, merchant: Any, account: Any
) -> None:
    run = make_run(merchant, batch_id="b-5")
    IssuanceRun.objects.filter(pk=run.pk).update(status=IssuanceRun.Status.FAILED)
    IssuanceStep.objects.filter(run=run, name="issue").update(status=IssuanceStep.Status.FAILED)
    page = staff_client.get(f"/issuance/{run.pk}/").content.decode()
    assert 'id="retry"' in page and 'id="resubmit"' not in page

    IssuanceStep.objects.filter(run=run, name="issue").update(status=IssuanceStep.Status.UNKNOWN)
    page = staff_client.get(f"/issuance/{run.pk}/").content.decode()
    assert 'id="resubmit"' in page and "Check the registry again" in page


@pytest.mark.django_db
def test_it_refuses_to_resubmit_a_run_without_an_issue_step(merchant: Any, account: Any) -> None:
    run = make_run(merchant)
    IssuanceStep.objects.filter(run=run, name="issue").delete()
    with pytest.raises(InvalidInput, match="outcome is unknown"):
        services.run_issue_resubmit(run_id=run.pk, actor=None)
