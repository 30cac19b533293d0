"""Each step of an issuance run is a Celery task; each chains to the next when done.

All six are `_run` under a name of their own: it executes the step through
services.step_execute (idempotent, token-guarded) and enqueues what comes next: the
next step, a retry, or the next registry poll of "collect" (countdown never above
CELERY_MAX_COUNTDOWN; longer gaps are covered by reconcile(), which resumes runs whose
heartbeat went stale).
"""

from __future__ import annotations

from celery import Task, shared_task
from django.conf import settings

from providers.sunbird import services
from providers.sunbird.models import STEP_NAMES


def _run(run_id: int, name: str, token: str) -> str:
    outcome = services.step_execute(run_id=run_id, name=name, token=token)
    if outcome.next_step:
        enqueue_step(run_id, outcome.next_step, token, outcome.countdown)
    return outcome.detail or (outcome.next_step or "end")


def _step_task(step: str) -> Task:
    """The task of one step, registered under its pinned name: a task queued before a
    deploy must still find it, so the name never changes with the code."""

    def run_step(run_id: int, token: str) -> str:
        return _run(run_id, step, token)

    run_step.__name__ = run_step.__qualname__ = f"step_{step}"
    return shared_task(
        name=f"kyc.flows.sunbird.tasks.step_{step}", acks_late=True, ignore_result=True
    )(run_step)


TASKS: dict[str, Task] = {step: _step_task(step) for step in STEP_NAMES}


def enqueue_step(run_id: int, name: str, token: str, countdown: float = 0) -> None:
    countdown = max(0.0, min(float(countdown), float(settings.CELERY_MAX_COUNTDOWN)))
    TASKS[name].apply_async((run_id, token), countdown=countdown or None)
