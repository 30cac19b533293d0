"""Each step of an issuance run is a Celery task; each chains to the next when done.

All six share `_run`: it executes the step through services.step_execute (idempotent,
token-guarded) and enqueues what comes next: the next step, a retry, or the next
registry poll of "collect" (countdown never above CELERY_MAX_COUNTDOWN; longer gaps
are covered by reconcile(), which resumes runs whose heartbeat went stale).
"""

from __future__ import annotations

from celery import shared_task
from django.conf import settings

from providers.sunbird import services


def _run(run_id: int, name: str, token: str) -> str:
    outcome = services.step_execute(run_id=run_id, name=name, token=token)
    if outcome.next_step:
        enqueue_step(run_id, outcome.next_step, token, outcome.countdown)
    return outcome.detail or (outcome.next_step or "end")


@shared_task(name="kyc.flows.sunbird.tasks.step_find_root_org", acks_late=True, ignore_result=True)
def step_find_root_org(run_id: int, token: str) -> str:
    return _run(run_id, "find_root_org", token)


@shared_task(name="kyc.flows.sunbird.tasks.step_reserve_keys", acks_late=True, ignore_result=True)
def step_reserve_keys(run_id: int, token: str) -> str:
    return _run(run_id, "reserve_keys", token)


@shared_task(name="kyc.flows.sunbird.tasks.step_assign_keys", acks_late=True, ignore_result=True)
def step_assign_keys(run_id: int, token: str) -> str:
    return _run(run_id, "assign_keys", token)


@shared_task(
    name="kyc.flows.sunbird.tasks.step_attach_template", acks_late=True, ignore_result=True
)
def step_attach_template(run_id: int, token: str) -> str:
    return _run(run_id, "attach_template", token)


@shared_task(name="kyc.flows.sunbird.tasks.step_issue", acks_late=True, ignore_result=True)
def step_issue(run_id: int, token: str) -> str:
    return _run(run_id, "issue", token)


@shared_task(name="kyc.flows.sunbird.tasks.step_collect", acks_late=True, ignore_result=True)
def step_collect(run_id: int, token: str) -> str:
    return _run(run_id, "collect", token)


TASKS = {
    "find_root_org": step_find_root_org,
    "reserve_keys": step_reserve_keys,
    "assign_keys": step_assign_keys,
    "attach_template": step_attach_template,
    "issue": step_issue,
    "collect": step_collect,
}


def enqueue_step(run_id: int, name: str, token: str, countdown: float = 0) -> None:
    countdown = max(0.0, min(float(countdown), float(settings.CELERY_MAX_COUNTDOWN)))
    TASKS[name].apply_async((run_id, token), countdown=countdown or None)
