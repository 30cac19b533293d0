"""The issue step. The call has no idempotency key, so it is never sent twice blindly: an
unknown outcome is checked against the registry (this run's certificates, created after
the call was sent)."""

from __future__ import annotations

from typing import Any

import requests
from django.utils import timezone
from urllib3.exceptions import NameResolutionError, NewConnectionError

from kyc.errors import ProviderError, RetryableError
from kyc.models import Certificate
from providers.sunbird import client
from providers.sunbird.models import IssuanceRun, IssuanceStep
from providers.sunbird.schemas import CertRecord
from providers.sunbird.services.common import (
    PROVIDER,
    IssueOutcomeUnknown,
    StepResult,
    clock_skew,
    issue_read_timeout,
)
from providers.sunbird.services.session import _Session

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
