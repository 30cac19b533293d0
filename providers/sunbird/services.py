"""Writes of the Sunbird issuance flow: key reservations and runs carried out step by step.

A run is six steps in order (models.STEP_NAMES). Each step is executed by
`step_execute`, which is safe to call twice:

- a step already DONE is skipped, so a redelivered task never assigns keys or issues
  a second time (re-issuing happens only when the run has `reissue` set, and then
  once, in the issue step);
- a step found RUNNING when a task starts was interrupted (worker killed mid-call):
  assign_keys then asks Sunbird which keys the org has before assigning again;
- the issue call has no idempotency key, so it is never sent twice blindly: a call whose
  outcome is unknown (timeout, reset after sending, 5xx, worker killed after sending)
  leaves the step UNKNOWN, and later executions only ask the registry whether this
  run's certificates (created after the call was sent) appeared. It is sent again only
  after a definite refusal the registry confirms, or when staff choose to
  (`run_issue_resubmit`, audited);
- only the task carrying the run's current `chain_token` advances it; `run_resume`
  (retry button, reconcile) rotates the token so a late redelivery does nothing.

Certificates are read page by page from the registry and written with one
bulk_create per page (ignore_conflicts on the unique certificate key), so memory
stays flat whatever the batch size.
"""

from __future__ import annotations

import datetime as dt
import logging
import os
import time
from collections.abc import Callable, Iterable
from dataclasses import dataclass, field
from typing import Any, TypeVar

import requests
from django.conf import settings
from django.db import IntegrityError, transaction
from django.db.models import Q
from django.utils import timezone
from urllib3.exceptions import NameResolutionError, NewConnectionError

from kyc import outbox
from kyc import services as kyc_services
from kyc.models import Certificate, Merchant, ProviderAccount
from providers.errors import InvalidInput, ProviderError, RetryableError
from providers.renewal import call_with_renewal
from providers.sunbird import client
from providers.sunbird.models import (
    STEP_NAMES,
    IssuanceRun,
    IssuanceStep,
    KeyReservation,
    RunCertificate,
    reserved_message,
)
from providers.sunbird.schemas import CertRecord

log = logging.getLogger(__name__)
PROVIDER = "sunbird"
T = TypeVar("T")


def _setting(name: str, default: float) -> float:
    """Django setting, else environment (lets a test worker poll faster), else default."""
    value: Any = getattr(settings, name, None)
    if value is None:
        value = os.environ.get(name, default)
    return float(value)


def poll_seconds() -> float:
    return min(_setting("SUNBIRD_POLL_SECONDS", 5.0), float(settings.CELERY_MAX_COUNTDOWN))


def stale_seconds() -> float:
    return _setting("SUNBIRD_STALE_SECONDS", 120.0)


def collect_timeout() -> dt.timedelta:
    return dt.timedelta(seconds=_setting("SUNBIRD_COLLECT_TIMEOUT_SECONDS", 6 * 3600.0))


def issue_read_timeout() -> float:
    """Read timeout of the issue POST (Sunbird answers "submitted" once it queued the event)."""
    return _setting("SUNBIRD_ISSUE_READ_TIMEOUT_SECONDS", 10.0)


def issue_verify_window() -> dt.timedelta:
    """How long an issue call of unknown outcome is checked against the registry before the
    run stops and waits for staff (Sunbird publishes certificates seconds to minutes later)."""
    return dt.timedelta(seconds=_setting("SUNBIRD_ISSUE_VERIFY_SECONDS", 1800.0))


def clock_skew() -> dt.timedelta:
    """Tolerance between our clock and the registry's createdAt."""
    return dt.timedelta(seconds=_setting("SUNBIRD_CLOCK_SKEW_SECONDS", 30.0))


def quiet_period() -> dt.timedelta:
    """Without an expected count, a run is done once no new certificate of its own has
    appeared for this long (Sunbird publishes in bursts; one unchanged poll proves nothing)."""
    return dt.timedelta(seconds=_setting("SUNBIRD_QUIET_SECONDS", 120.0))


MAX_PAGES_PER_ROUND = 50  # bounds one task's duration; the next round continues at the cursor
MAX_AUTO_RETRIES = 3  # per step, for timeouts and 5xx; then the step fails and waits for a person


class KeyAlreadyReserved(Exception):
    def __init__(self, message: str) -> None:
        super().__init__(message)
        self.message = message


class StepFailed(Exception):
    """A step cannot succeed as asked; the message is shown on the run page."""


class IssueOutcomeUnknown(Exception):
    """The issue POST may have reached Sunbird (timeout, reset after sending, 5xx), or an
    earlier one did and the registry shows nothing yet: never send it again blindly."""

    def __init__(self, message: str) -> None:
        super().__init__(message)
        self.message = message


@dataclass
class Outcome:
    """What the caller (a task, or the inline runner) does next."""

    next_step: str | None = None
    countdown: float = 0.0
    detail: str = ""


@dataclass
class StepResult:
    request: dict[str, Any]
    answer: dict[str, Any]
    finished: bool = True  # False: collect must poll again
    run_updates: dict[str, Any] = field(default_factory=dict)


# --- key reservations -----------------------------------------------------------


def key_reserve(
    *,
    merchant: Merchant,
    root_org_id: str,
    root_org_name: str,
    key_id: str,
    purpose: str,
    added_by: Any = None,
    run: IssuanceRun | None = None,
    comment: str = "",
) -> KeyReservation:
    """Reserve a key for a root org; a key already reserved raises KeyAlreadyReserved.

    The database's unique constraint is the real guard (two staff at once); the
    lookup first only gives the message a holder's name. The same run reserving its
    own key again (a resumed step) gets its reservation back.
    """
    key_id = key_id.strip()
    existing = KeyReservation.objects.filter(merchant=merchant, key_id=key_id).first()
    if existing is not None:
        if run is not None and existing.run_id == run.pk and existing.purpose == purpose:
            return existing
        raise KeyAlreadyReserved(reserved_message(existing))
    try:
        with transaction.atomic():
            reservation = KeyReservation.objects.create(
                merchant=merchant,
                root_org_id=root_org_id,
                root_org_name=root_org_name,
                key_id=key_id,
                purpose=purpose,
                added_by=added_by if getattr(added_by, "pk", None) else None,
                run=run,
                comment=comment,
            )
    except IntegrityError:
        existing = KeyReservation.objects.get(merchant=merchant, key_id=key_id)
        raise KeyAlreadyReserved(reserved_message(existing)) from None
    kyc_services.audit_log(
        actor=added_by,
        action="sunbird.key_reserved",
        obj=reservation,
        merchant=merchant,
        detail={"key_id": key_id, "purpose": purpose, "root_org_id": root_org_id},
    )
    return reservation


def keys_taken(*, merchant: Merchant, key_ids: Iterable[str]) -> list[str]:
    """Messages for keys already reserved (for the start form)."""
    return [
        reserved_message(r)
        for r in KeyReservation.objects.filter(merchant=merchant, key_id__in=list(key_ids))
    ]


# --- runs -------------------------------------------------------------------------


def account_for(merchant: Merchant) -> ProviderAccount:
    account = ProviderAccount.objects.filter(merchant=merchant, provider=PROVIDER).first()
    if account is None or not (account.settings or {}).get("base_url"):
        raise InvalidInput("Configure Sunbird (Providers → Sunbird eCreds) before issuing.")
    return account


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


# --- executing one step ----------------------------------------------------------


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


# --- talking to Sunbird -----------------------------------------------------------


class _Session:
    """A run's config plus a cached user token, refreshed before expiry or after a 401."""

    def __init__(self, merchant: Merchant) -> None:
        self.account = account_for(merchant)
        self.cfg = client.Config.from_settings(self.account.settings or {})

    def token(self, *, force: bool = False) -> str:
        now = timezone.now()
        if not force:
            cached = client.token_from_state(self.account.state or {}, now=now)
            if cached:
                return cached
        try:
            info = client.fetch_token(self.cfg, now=now)
        except ProviderError as exc:
            kyc_services.provider_account_set_state(
                account_id=self.account.pk, updates={"token_error": exc.message}
            )
            raise
        updates = {
            "user_token": info.access_token,
            "user_token_expires_at": info.expires_at.isoformat(),
            "token_error": "",
        }
        kyc_services.provider_account_set_state(account_id=self.account.pk, updates=updates)
        self.account.state = {**(self.account.state or {}), **updates}
        return info.access_token

    def call(self, fn: Callable[[str], T]) -> T:
        """Call with the cached token; when refused (any AuthenticationError, getting the
        token included), get a new token once and call again."""
        return call_with_renewal(
            lambda force: fn(self.token(force=force)),
            current=False,
            renew=lambda _cached: True,
            refused=lambda _exc: True,
        )


def _step_find_root_org(run: IssuanceRun, step: IssuanceStep, interrupted: bool) -> StepResult:
    s = _Session(run.merchant)
    orgs = s.call(lambda t: client.org_search(s.cfg, user_token=t))
    request = {
        "method": "POST",
        "path": s.cfg.path("org_search"),
        "filters": {"isRootOrg": True, "status": "1"},
    }
    found = next((o for o in orgs if o.id == run.root_org_id), None)
    if found is None:
        raise StepFailed(
            f"{run.root_org_id} is not an active root org (org search returned "
            f"{len(orgs)} active root orgs: {', '.join(o.id for o in orgs[:10])})."
        )
    answer = {"root_orgs": len(orgs), "found": {"id": found.id, "name": found.name}}
    updates = {"root_org_name": found.name, "root_org_channel": found.channel}
    return StepResult(request=request, answer=answer, run_updates=updates)


def _step_reserve_keys(run: IssuanceRun, step: IssuanceStep, interrupted: bool) -> StepResult:
    reserved = []
    for purpose, keys in (("sign", run.sign_keys), ("enc", run.enc_keys)):
        for key_id in keys:
            r = key_reserve(
                merchant=run.merchant,
                root_org_id=run.root_org_id,
                root_org_name=run.root_org_name,
                key_id=key_id,
                purpose=purpose,
                added_by=run.created_by,
                run=run,
                comment=f"issuance run #{run.pk} ({run.course_id}/{run.batch_id})",
            )
            reserved.append(r.pk)
    return StepResult(
        request={"signKeys": run.sign_keys, "encKeys": run.enc_keys, "rootOrg": run.root_org_id},
        answer={"reserved": len(reserved)},
    )


def _step_assign_keys(run: IssuanceRun, step: IssuanceStep, interrupted: bool) -> StepResult:
    s = _Session(run.merchant)
    request = {
        "method": "PATCH",
        "path": s.cfg.path("assign_key"),
        "id": run.root_org_id,
        "signKeys": run.sign_keys,
        "encKeys": run.enc_keys,
    }
    if interrupted:
        # The last attempt may have reached Sunbird before the worker died: look first.
        current = s.call(lambda t: client.org_keys(s.cfg, org_id=run.root_org_id, user_token=t))
        if set(current["signKeys"]) == set(run.sign_keys) and set(current["encKeys"]) == set(
            run.enc_keys
        ):
            return StepResult(
                request=request,
                answer={"resumed": "keys already assigned at Sunbird; not assigned again"},
            )
    answer = s.call(
        lambda t: client.assign_keys(
            s.cfg,
            org_id=run.root_org_id,
            sign_keys=list(run.sign_keys),
            enc_keys=list(run.enc_keys),
            user_token=t,
        )
    )
    return StepResult(request=request, answer=answer)


def cert_template(run: IssuanceRun) -> dict[str, Any]:
    """The certTemplate entry of the seed's content update."""
    return {
        "name": run.certificate_name,
        "issuer": {"name": run.issuer_name, "url": run.issuer_url, "publicKey": run.sign_keys},
        "signatoryList": run.signatories,
        "keys": {"id": run.sign_keys[0] if run.sign_keys else ""},
        "htmlTemplate": run.html_template_url,
        "notifyTemplate": run.notify_template,
    }


def _step_attach_template(run: IssuanceRun, step: IssuanceStep, interrupted: bool) -> StepResult:
    s = _Session(run.merchant)
    template = cert_template(run)
    answer = s.call(
        lambda t: client.content_update(
            s.cfg, course_id=run.course_id, cert_template=template, user_token=t
        )
    )
    request = {
        "method": "PATCH",
        "path": s.cfg.path("content_update", course_id=run.course_id),
        "certTemplate": {k: template[k] for k in ("name", "issuer", "htmlTemplate")},
        "signatories": len(run.signatories),
    }
    return StepResult(request=request, answer=answer)


NEWEST_CHECKED = 50  # registry entries read, newest first, to see whether a run's arrived


def _new_since_issue(s: _Session, run: IssuanceRun) -> int:
    """How many of the registry's newest certificates of the batch came from this run's issue
    call: created (registry createdAt) after it was sent, and not already stored before it."""
    sent_at = run.issue_sent_at
    if sent_at is None:
        return 0
    page = s.call(
        lambda t: client.cert_search(
            s.cfg,
            batch_id=run.batch_id,
            course_id=run.course_id,
            offset=0,
            limit=NEWEST_CHECKED,
            user_token=t,
            newest_first=True,
        )
    )
    return len(_of_this_run(run, page.items))


def _of_this_run(run: IssuanceRun, records: list[CertRecord]) -> list[CertRecord]:
    """The records this run's issue call produced: created (registry createdAt, less the
    clock tolerance) after the call was sent, and not stored by the portal before it."""
    sent_at = run.issue_sent_at
    if sent_at is None:
        return []
    since_ms = int((sent_at - clock_skew()).timestamp() * 1000)
    candidates = [r for r in records if r.created_at_ms is None or r.created_at_ms >= since_ms]
    known = set(
        Certificate.objects.filter(
            merchant_id=run.merchant_id,
            provider=PROVIDER,
            external_id__in=[r.id for r in candidates],
            created_at__lt=sent_at,
        ).values_list("external_id", flat=True)
    )
    return [r for r in candidates if r.id not in known]


def _nothing_sent(exc: ProviderError) -> bool:
    """True only when the error proves the issue call never reached Sunbird or was refused
    unprocessed (429): a connect timeout, a refused connection, a name that did not resolve."""
    if exc.status == 429:
        return True
    cause = exc.__cause__
    if cause is None:
        return exc.status is None  # raised before sending (resolve, outbound policy)
    if isinstance(cause, requests.ConnectTimeout):
        return True
    if isinstance(cause, requests.ConnectionError) and not isinstance(cause, requests.Timeout):
        reason = getattr(cause.args[0], "reason", None) if cause.args else None
        return isinstance(reason, (NewConnectionError, NameResolutionError))
    return False


def _step_issue(run: IssuanceRun, step: IssuanceStep, interrupted: bool) -> StepResult:
    """Send the issue call once. Sunbird's issue has no idempotency key, so when an earlier
    call's outcome is unknown the registry is asked instead, and the call is sent again only
    after a definite refusal the registry confirms, or when staff chose to re-submit."""
    s = _Session(run.merchant)
    request = {
        "method": "POST",
        "path": s.cfg.path("issue") + ("?reIssue=true" if run.reissue else ""),
        "batchId": run.batch_id,
        "courseId": run.course_id,
        "certificate": run.certificate_name,
        "filters": run.filters,
    }
    if run.issue_sent_at is not None and not run.issue_resubmit:
        new = _new_since_issue(s, run)
        if new:
            return StepResult(
                request=request,
                answer={
                    "resumed": f"registry lists {new} new certificate(s) since the issue call "
                    "was sent; not issued again"
                },
            )
        if interrupted:
            raise IssueOutcomeUnknown(
                "The issue call was sent but its outcome is unknown; no certificate of this "
                "run is in the registry yet. Not sent again: checking the registry."
            )
    # Recorded (committed) before sending: whatever happens next, we know it may have left.
    sent_at = timezone.now()
    IssuanceRun.objects.filter(pk=run.pk).update(issue_sent_at=sent_at, issue_resubmit=False)
    run.issue_sent_at, run.issue_resubmit = sent_at, False
    timeout = (3.05, issue_read_timeout())

    def send(t: str) -> dict[str, Any]:
        try:
            return client.issue(
                s.cfg,
                batch_id=run.batch_id,
                course_id=run.course_id,
                certificate=run.certificate_name,
                filters=dict(run.filters),
                reissue=run.reissue,
                user_token=t,
                timeout=timeout,
            )
        except RetryableError as exc:
            if _nothing_sent(exc):
                raise
            raise IssueOutcomeUnknown(
                f"The issue call was sent but not answered ({exc.code}: {exc.message}). "
                "Not sent again: checking the registry for this run's certificates."
            ) from exc

    answer = s.call(send)
    return StepResult(request={**request, "sent_at": sent_at.isoformat()}, answer=answer)


def certificates_store(*, run: IssuanceRun, records: list[CertRecord]) -> None:
    """One INSERT for a page of certificates; ones already stored are left alone. Each new
    one sends certificate.received (one more INSERT, same transaction), when an endpoint
    of the merchant listens."""
    with transaction.atomic():
        wanted = outbox.wanted(merchant_id=run.merchant_id, event_type=outbox.CERTIFICATE_RECEIVED)
        mine = Certificate.objects.filter(
            merchant_id=run.merchant_id, provider=PROVIDER, external_id__in=[r.id for r in records]
        )
        stored = set(mine.values_list("external_id", flat=True)) if wanted else set()
        Certificate.objects.bulk_create(
            [
                Certificate(
                    merchant_id=run.merchant_id,
                    provider=PROVIDER,
                    slug=run.certificate_name,
                    external_id=r.id,
                    recipient_id=r.recipient_id,
                    recipient_name=r.recipient_name,
                    course_id=r.course_id or run.course_id,
                    batch_id=r.batch_id or run.batch_id,
                    download_url=r.download_url[:1000],
                )
                for r in records
            ],
            ignore_conflicts=True,
        )
        if wanted:
            outbox.certificates_received_events(
                certs=mine.exclude(external_id__in=stored).order_by("pk")
            )


def _collected(run: IssuanceRun) -> int:
    return RunCertificate.objects.filter(run=run).count()


def _store_page(run: IssuanceRun, records: list[CertRecord]) -> int:
    """Store the page's certificates of this run (one INSERT each table); how many."""
    mine = _of_this_run(run, records)
    if mine:
        certificates_store(run=run, records=mine)
        RunCertificate.objects.bulk_create(
            [RunCertificate(run=run, external_id=r.id) for r in mine], ignore_conflicts=True
        )
    return len(mine)


def _step_collect(run: IssuanceRun, step: IssuanceStep, interrupted: bool) -> StepResult:
    """One poll round: read pages from the cursor, store each page, decide if complete."""
    s = _Session(run.merchant)
    size = s.cfg.page_size
    offset = run.collect_offset
    total = 0
    pages = 0
    while pages < MAX_PAGES_PER_ROUND:

        def read(t: str, o: int = offset) -> client.CertPage:
            return client.cert_search(
                s.cfg,
                batch_id=run.batch_id,
                course_id=run.course_id,
                offset=o,
                limit=size,
                user_token=t,
            )

        page = s.call(read)
        pages += 1
        total = page.total
        if page.items:
            _store_page(run, page.items)
            offset += len(page.items)
            # Progress for the page's bar, and a heartbeat so reconcile leaves us alone.
            IssuanceRun.objects.filter(pk=run.pk).update(
                collected_count=_collected(run),
                registry_count=total,
                collect_offset=offset,
                heartbeat_at=timezone.now(),
            )
        if len(page.items) < size:
            break
    collected = _collected(run)
    if offset > total:
        offset = 0  # the registry shrank (entries replaced): read it all again next round
    now = timezone.now()
    grew = collected != run.collected_count or total != run.registry_count
    last_growth = now if grew or run.last_growth_at is None else run.last_growth_at
    stable = 0 if grew else run.stable_polls + 1
    if run.expected_count:
        target: int | None = run.expected_count
        finished = collected >= run.expected_count
    else:
        # No expected count: done once this run's certificates stopped arriving for the
        # quiet period (measured in time, not polls).
        target = None
        finished = collected > 0 and now - last_growth >= quiet_period()
    polls = int((step.answer_summary or {}).get("polls", 0)) + 1
    request = {
        "method": "POST",
        "path": s.cfg.path("cert_search"),
        "batchId": run.batch_id,
        "courseId": run.course_id,
        "page_size": size,
    }
    answer = {
        "polls": polls,
        "registry_count": total,
        "collected": collected,
        "expected": run.expected_count,
        "pages_last_round": pages,
    }
    if not finished and step.started_at and now - step.started_at > collect_timeout():
        # The cursor and what arrived are kept: a retry continues where this stopped.
        raise StepFailed(
            f"{collected} of {target if target else '?'} arrived within {collect_timeout()}; "
            "retry to keep waiting."
        )
    return StepResult(
        request=request,
        answer=answer,
        finished=finished,
        run_updates={
            "registry_count": total,
            "collected_count": collected,
            "collect_offset": offset,
            "stable_polls": stable,
            "last_growth_at": last_growth,
        },
    )


STEPS: dict[str, Callable[[IssuanceRun, IssuanceStep, bool], StepResult]] = {
    "find_root_org": _step_find_root_org,
    "reserve_keys": _step_reserve_keys,
    "assign_keys": _step_assign_keys,
    "attach_template": _step_attach_template,
    "issue": _step_issue,
    "collect": _step_collect,
}
