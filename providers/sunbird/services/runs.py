"""Runs: created with their six steps, resumed (retry button, reconcile), the issue call
resent when staff choose to, or executed inline."""

from __future__ import annotations

import datetime as dt
import time
from typing import Any

from django.db import transaction
from django.db.models import Q
from django.utils import timezone

from kyc import services as kyc_services
from kyc.errors import InvalidInput, ProviderError
from kyc.models import Merchant
from providers.sunbird import client
from providers.sunbird.models import STEP_NAMES, IssuanceRun, IssuanceStep
from providers.sunbird.services.common import stale_seconds
from providers.sunbird.services.execute import step_execute
from providers.sunbird.services.keys import keys_taken
from providers.sunbird.services.session import account_for


def root_orgs_list(*, merchant: Merchant) -> list[tuple[str, str]]:
    """(id, name) of active root orgs, for the start form; [] if Sunbird cannot be asked."""
    try:
        cfg = client.Config.from_settings(account_for(merchant).settings or {})
        return [(o.id, o.name) for o in client.org_search(cfg)]
    except (InvalidInput, ProviderError):
        return []


def run_create(
    *,
    merchant: Merchant,
    root_org_id: str,
    course_id: str,
    batch_id: str,
    sign_keys: list[str],
    enc_keys: list[str],
    issuer_name: str,
    issuer_url: str,
    html_template_url: str,
    certificate_name: str = "",
    signatories: list[dict[str, Any]] | None = None,
    notify_template: dict[str, Any] | None = None,
    filters: dict[str, Any] | None = None,
    reissue: bool = False,
    expected_count: int | None = None,
    created_by: Any = None,
    enqueue: bool = True,
) -> IssuanceRun:
    """Create a run and its six steps, and start the first step once committed."""
    account_for(merchant)
    if not sign_keys or not enc_keys:
        raise InvalidInput("At least one sign key and one enc key are needed.", field="sign_keys")
    if set(sign_keys) & set(enc_keys):
        raise InvalidInput("A key cannot be both a sign and an enc key.", field="enc_keys")
    taken = keys_taken(merchant=merchant, key_ids=[*sign_keys, *enc_keys])
    if taken:
        raise InvalidInput(" ".join(taken), field="sign_keys")
    with transaction.atomic():
        run = IssuanceRun(
            merchant=merchant,
            created_by=created_by if getattr(created_by, "pk", None) else None,
            root_org_id=root_org_id.strip(),
            course_id=course_id.strip(),
            batch_id=batch_id.strip(),
            sign_keys=list(sign_keys),
            enc_keys=list(enc_keys),
            issuer_name=issuer_name,
            issuer_url=issuer_url,
            html_template_url=html_template_url,
            signatories=list(signatories or []),
            notify_template=dict(notify_template or {}),
            filters=dict(filters if filters is not None else {"status": "2"}),
            reissue=reissue,
            expected_count=expected_count,
            status=IssuanceRun.Status.RUNNING,
            current_step=STEP_NAMES[0],
            heartbeat_at=timezone.now(),
        )
        if certificate_name:
            run.certificate_name = certificate_name
        token = run.new_token()
        run.save()
        IssuanceStep.objects.bulk_create(
            [IssuanceStep(run=run, name=name, order=i) for i, name in enumerate(STEP_NAMES)]
        )
        kyc_services.audit_log(
            actor=created_by,
            action="sunbird.run_created",
            obj=run,
            merchant=merchant,
            detail={"course_id": run.course_id, "batch_id": run.batch_id},
        )
        if enqueue:
            _enqueue_on_commit(run.pk, STEP_NAMES[0], token)
    return run


def run_resume(*, run_id: int, actor: Any = None, enqueue: bool = True) -> IssuanceRun:
    """Continue a run from its first unfinished step (retry button, reconcile).

    A FAILED step goes back to PENDING; a RUNNING one stays RUNNING so the step knows it
    was interrupted and checks Sunbird before calling it again.
    """
    with transaction.atomic():
        run = IssuanceRun.objects.select_for_update().get(pk=run_id)
        if run.status == IssuanceRun.Status.DONE:
            return run
        step = run.steps.exclude(status=IssuanceStep.Status.DONE).order_by("order").first()
        if step is None:
            run.status = IssuanceRun.Status.DONE
            run.finished_at = run.finished_at or timezone.now()
            run.save()
            return run
        if step.status == IssuanceStep.Status.FAILED:
            step.status = IssuanceStep.Status.PENDING
            step.save(update_fields=["status"])
        token = run.new_token()
        run.status = IssuanceRun.Status.RUNNING
        run.current_step = step.name
        run.heartbeat_at = timezone.now()
        run.last_error = ""
        run.finished_at = None
        run.save()
        if actor is not None:
            kyc_services.audit_log(
                actor=actor, action="sunbird.run_resumed", obj=run, detail={"step": step.name}
            )
        if enqueue:
            _enqueue_on_commit(run.pk, step.name, token)
    return run


def run_issue_resubmit(*, run_id: int, actor: Any) -> IssuanceRun:
    """Staff's choice to send the issue call again although its last outcome is unknown.

    The only way a call of unknown outcome is repeated (Sunbird's issue has no
    idempotency key: if the first one did arrive, learners get two certificates).
    Audited with who chose it and what the step knew.
    """
    with transaction.atomic():
        run = IssuanceRun.objects.select_for_update().get(pk=run_id)
        # A run without an issue step (a hand-made or half-created one) has nothing to re-send.
        step = IssuanceStep.objects.select_for_update().filter(run=run, name="issue").first()
        if (
            step is None
            or run.status == IssuanceRun.Status.DONE
            or step.status != IssuanceStep.Status.UNKNOWN
        ):
            raise InvalidInput(
                "Only an issue call whose outcome is unknown can be re-submitted; "
                "use retry for a failed step."
            )
        known = step.error
        step.status = IssuanceStep.Status.PENDING
        step.error = ""
        step.save(update_fields=["status", "error"])
        run.issue_resubmit = True
        run.save(update_fields=["issue_resubmit", "updated_at"])
        kyc_services.audit_log(
            actor=actor,
            action="sunbird.issue_resubmitted",
            obj=run,
            merchant=run.merchant,
            detail={
                "sent_at": run.issue_sent_at.isoformat() if run.issue_sent_at else "",
                "reissue": run.reissue,
                "step_said": known[:300],
            },
        )
        return run_resume(run_id=run.pk, actor=actor)


def _enqueue_on_commit(run_id: int, name: str, token: str, countdown: float = 0) -> None:
    from providers.sunbird import tasks

    transaction.on_commit(lambda: tasks.enqueue_step(run_id, name, token, countdown))


def reconcile(*, now: dt.datetime | None = None, stale_after: float | None = None) -> int:
    """Resume running runs whose worker went silent (killed, broker lost the task)."""
    now = now or timezone.now()
    cutoff = now - dt.timedelta(seconds=stale_seconds() if stale_after is None else stale_after)
    ids = list(
        IssuanceRun.objects.filter(status=IssuanceRun.Status.RUNNING)
        .filter(Q(heartbeat_at__lt=cutoff) | Q(heartbeat_at__isnull=True))
        .values_list("pk", flat=True)[:100]
    )
    for pk in ids:
        run_resume(run_id=pk)
    return len(ids)


def run_execute_inline(run_id: int, *, max_seconds: float = 3600.0) -> IssuanceRun:
    """Run every remaining step synchronously (bench, shell). Same code path as the tasks."""
    run = run_resume(run_id=run_id, enqueue=False)
    name: str | None = run.current_step
    token = run.chain_token
    deadline = time.monotonic() + max_seconds
    while name and run.status == IssuanceRun.Status.RUNNING and time.monotonic() < deadline:
        outcome = step_execute(run_id=run_id, name=name, token=token)
        name = outcome.next_step
        if name and outcome.countdown:
            time.sleep(outcome.countdown)
        run.refresh_from_db()
    return run
