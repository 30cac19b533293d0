from __future__ import annotations

from celery import shared_task

from kyc.flows.corepass import services


@shared_task(acks_late=True, ignore_result=True)
def check_transfer(transfer_id: str) -> int:
    """Ask the connector about one request (idempotent: statuses never move backwards)."""
    return services.transfer_check(transfer_id=transfer_id)
