"""Executing one step of a run: skipped when done, retried on timeouts and 5xx, failed
visibly otherwise; the table of steps."""

from __future__ import annotations

from collections.abc import Callable

from django.db import transaction
from django.utils import timezone

from kyc import outbox
from kyc.errors import InvalidInput, ProviderError
from providers.sunbird.models import STEP_NAMES, IssuanceRun, IssuanceStep
from providers.sunbird.services.collect import _step_collect
from providers.sunbird.services.common import (
    MAX_AUTO_RETRIES,
    IssueOutcomeUnknown,
    KeyAlreadyReserved,
    Outcome,
    StepFailed,
    StepResult,
    issue_verify_window,
    log,
    poll_seconds,
    stale_seconds,
)
from providers.sunbird.services.issue import _step_issue
from providers.sunbird.services.setup_steps import (
    _step_assign_keys,
    _step_attach_template,
    _step_find_root_org,
    _step_reserve_keys,
)


def _next(name: str) -> str | None:
    i = STEP_NAMES.index(name)
    return STEP_NAMES[i + 1] if i + 1 < len(STEP_NAMES) else None


def step_execute(*, run_id: int, name: str, token: str) -> Outcome:
    """Execute (or skip, or continue polling) one step of a run. Idempotent."""
    now = timezone.now()
    with transaction.atomic():
        run = IssuanceRun.objects.select_for_update().filter(pk=run_id).first()
        if run is None or run.chain_token != token or run.status != IssuanceRun.Status.RUNNING:
            return Outcome(detail="superseded or not running")
        step = IssuanceStep.objects.select_for_update().get(run=run, name=name)
        if step.status == IssuanceStep.Status.DONE:
            nxt = _next(name)
            run.current_step = nxt or name
            run.save(update_fields=["current_step", "updated_at"])
            return Outcome(next_step=nxt, detail="already done")
        unknown = step.status == IssuanceStep.Status.UNKNOWN
        interrupted = (step.status == IssuanceStep.Status.RUNNING or unknown) and name != "collect"
        # Asking the registry about an unknown outcome is not another attempt at the call.
        if not unknown and (step.status != IssuanceStep.Status.RUNNING or name != "collect"):
            step.attempts += 1
            step.started_at = now
        step.status = IssuanceStep.Status.RUNNING
        step.error = ""
        step.save()
        run.current_step = name
        run.heartbeat_at = now
        run.save(update_fields=["current_step", "heartbeat_at", "updated_at"])

    try:
        result = STEPS[name](run, step, interrupted)
    except StepFailed as exc:
        _fail(run_id=run_id, name=name, error=str(exc))
        return Outcome(detail=str(exc))
    except IssueOutcomeUnknown as exc:
        return _issue_unknown(run_id=run_id, name=name, message=exc.message)
    except ProviderError as exc:
        if exc.retryable and step.attempts < MAX_AUTO_RETRIES:
            _step_error(run_id=run_id, name=name, error=f"{exc.code}: {exc.message} (retrying)")
            return Outcome(next_step=name, countdown=min(2.0**step.attempts, 60.0))
        _fail(run_id=run_id, name=name, error=f"{exc.code}: {exc.message}")
        return Outcome(detail=exc.message)
    except (KeyAlreadyReserved, InvalidInput) as exc:
        _fail(run_id=run_id, name=name, error=exc.message)
        return Outcome(detail=exc.message)
    except Exception as exc:
        # A bug or a lost database must not leave the step "running" for ever: fail it
        # visibly, so a person can retry once the cause is fixed.
        log.exception("sunbird run %s step %s crashed", run_id, name)
        _fail(run_id=run_id, name=name, error=f"unexpected error ({type(exc).__name__})")
        return Outcome(detail="crashed")

    if not result.finished:
        _step_progress(run_id=run_id, name=name, result=result)
        return Outcome(next_step=name, countdown=_poll_countdown(result), detail="polling")
    done = _finish(run_id=run_id, name=name, result=result)
    with transaction.atomic():
        current = IssuanceRun.objects.filter(pk=run_id).values_list("chain_token", flat=True)
        still_ours = current.first() == token
    if not done or not still_ours:
        return Outcome(detail="finished elsewhere")
    return Outcome(next_step=_next(name))


def _issue_unknown(*, run_id: int, name: str, message: str) -> Outcome:
    """Keep asking the registry within the verify window; then stop and wait for staff.

    The step stays UNKNOWN either way, so neither a retry nor reconcile ever sends the
    issue call again; only run_issue_resubmit (a person's audited choice) does.
    """
    now = timezone.now()
    with transaction.atomic():
        run = IssuanceRun.objects.select_for_update().get(pk=run_id)
        sent_at = run.issue_sent_at or now
        waited = now - sent_at
        IssuanceStep.objects.filter(run=run, name=name).update(
            status=IssuanceStep.Status.UNKNOWN, error=message[:2000]
        )
        run.heartbeat_at = now
        if waited < issue_verify_window():
            run.save(update_fields=["heartbeat_at", "updated_at"])
            return Outcome(next_step=name, countdown=poll_seconds(), detail="outcome unknown")
        run.status = IssuanceRun.Status.FAILED
        run.last_error = (
            f"{name}: Sunbird never answered the issue call and no certificate of this run "
            f"appeared in the registry within {issue_verify_window()}. It was not sent "
            "again: retry to check the registry again, or re-submit the issue call if you "
            "are sure Sunbird did not receive it."
        )
        run.save()
    log.warning("sunbird run %s: issue outcome unknown, waiting for staff", run_id)
    return Outcome(detail="outcome unknown: waiting for staff")


def _poll_countdown(result: StepResult) -> float:
    """Poll again soon while certificates arrive; back off while nothing changes.

    Capped below half the reconcile threshold, so a quiet wait never looks like a dead worker.
    """
    idle = int(result.run_updates.get("stable_polls", 0))
    return min(poll_seconds() * 2 ** min(idle, 6), stale_seconds() / 2)


def _finish(*, run_id: int, name: str, result: StepResult) -> bool:
    """Record a finished step; False if another execution recorded it first."""
    now = timezone.now()
    with transaction.atomic():
        run = IssuanceRun.objects.select_for_update().get(pk=run_id)
        step = IssuanceStep.objects.select_for_update().get(run=run, name=name)
        if step.status == IssuanceStep.Status.DONE:
            return False
        step.status = IssuanceStep.Status.DONE
        step.request_summary = result.request
        step.answer_summary = result.answer
        step.finished_at = now
        step.error = ""
        step.save()
        for key, value in result.run_updates.items():
            setattr(run, key, value)
        nxt = _next(name)
        run.current_step = nxt or name
        run.heartbeat_at = now
        if nxt is None:
            run.status = IssuanceRun.Status.DONE
            run.finished_at = now
        run.save()
        if nxt is None:
            outbox.issuance_run_finished_event(run=run)  # same transaction
    return True


def _step_progress(*, run_id: int, name: str, result: StepResult) -> None:
    with transaction.atomic():
        run = IssuanceRun.objects.select_for_update().get(pk=run_id)
        IssuanceStep.objects.filter(run=run, name=name).update(
            request_summary=result.request, answer_summary=result.answer
        )
        for key, value in result.run_updates.items():
            setattr(run, key, value)
        run.heartbeat_at = timezone.now()
        run.save()


def _step_error(*, run_id: int, name: str, error: str) -> None:
    IssuanceStep.objects.filter(run_id=run_id, name=name).update(
        status=IssuanceStep.Status.PENDING, error=error
    )
    IssuanceRun.objects.filter(pk=run_id).update(heartbeat_at=timezone.now())


def _fail(*, run_id: int, name: str, error: str) -> None:
    now = timezone.now()
    with transaction.atomic():
        run = IssuanceRun.objects.select_for_update().get(pk=run_id)
        IssuanceStep.objects.filter(run=run, name=name).update(
            status=IssuanceStep.Status.FAILED, error=error[:2000], finished_at=now
        )
        run.status = IssuanceRun.Status.FAILED
        run.last_error = f"{name}: {error}"[:2000]
        run.heartbeat_at = now
        run.save()
    log.warning("sunbird run %s failed at %s", run_id, name)


STEPS: dict[str, Callable[[IssuanceRun, IssuanceStep, bool], StepResult]] = {
    "find_root_org": _step_find_root_org,
    "reserve_keys": _step_reserve_keys,
    "assign_keys": _step_assign_keys,
    "attach_template": _step_attach_template,
    "issue": _step_issue,
    "collect": _step_collect,
}
