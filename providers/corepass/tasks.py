from __future__ import annotations

from typing import Any

from celery import shared_task

from kyc.errors import RetryableError
from kyc.tasks import SweptTask
from providers.corepass import services


@shared_task(name="kyc.flows.corepass.tasks.check_transfer", acks_late=True, ignore_result=True)
def check_transfer(transfer_id: str) -> int:
    """Ask the connector about one request (idempotent: statuses never move backwards)."""
    return services.transfer_check(transfer_id=transfer_id)


@shared_task(
    name="kyc.flows.corepass.tasks.confirm_data",
    base=SweptTask,
    bind=True,
    acks_late=True,
    ignore_result=True,
    max_retries=6,
)
def confirm_data(self: Any, transfer_id: str) -> str:
    """Data arrived before a verified CONFIRMED: ask the connector's /kyc/status, then
    apply or hold it (idempotent; held deliveries are also re-driven by the inbox sweeper)."""
    try:
        return services.data_confirm(transfer_id=transfer_id)
    except RetryableError as exc:
        raise self.retry(countdown=min(300, 10 * 2**self.request.retries)) from exc
