"""Certificate promises staff re-arm."""

from __future__ import annotations

from typing import Any

from django.utils import timezone

from kyc.models import CertPromise
from kyc.services.audit import audit_log


def cert_promise_retry(*, promise_ids: list[int], actor: Any = None) -> int:
    """Staff re-arm failed promises; the provider flow's reconcile() pulls them when due.
    Pulled and gone promises stay as they are (pulling again could only 404)."""
    count = CertPromise.objects.filter(pk__in=promise_ids, state=CertPromise.State.FAILED).update(
        state=CertPromise.State.PENDING, attempts=0, last_error="", next_attempt_at=timezone.now()
    )
    if count:
        audit_log(
            actor=actor, action="cert_promise.retry", detail={"ids": promise_ids, "count": count}
        )
    return count
