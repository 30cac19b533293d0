"""Portmone has no documented callback: approval is learned by asking.

- `poll_transfer`: a chain started when a request is created, backing off from
  2 s to a minute; it ends when the request is terminal or after MAX_POLLS
  (then `services.reconcile()` keeps asking every few minutes).
- `check_transfer_by_page_token`: the customer page's poll (the foundation
  already limits it to one per 5 s per request).
- `check_transfer`: one check (reconcile, webhook hints).
"""

from __future__ import annotations

from celery import shared_task

from kyc.models import TransferRequest
from kyc.status import TERMINAL
from providers.portmone import services

_DONE = frozenset({"missing", *TERMINAL})


@shared_task(name="kyc.flows.portmone.tasks.check_transfer", acks_late=True, ignore_result=True)
def check_transfer(transfer_id: str) -> str:
    return services.transfer_check(transfer_id=transfer_id, source="poll")


@shared_task(
    name="kyc.flows.portmone.tasks.check_transfer_by_page_token", acks_late=True, ignore_result=True
)
def check_transfer_by_page_token(page_token: str) -> str:
    pk = (
        TransferRequest.objects.filter(page_token=page_token, provider=services.PROVIDER)
        .values_list("pk", flat=True)
        .first()
    )
    if pk is None:
        return "missing"
    return services.transfer_check(transfer_id=pk, source="poll")


@shared_task(name="kyc.flows.portmone.tasks.poll_transfer", acks_late=True, ignore_result=True)
def poll_transfer(transfer_id: str, attempt: int = 0) -> str:
    result = services.transfer_check(transfer_id=transfer_id, source="poll")
    if result in _DONE or attempt + 1 >= services.MAX_POLLS:
        return result
    poll_transfer.apply_async((transfer_id, attempt + 1), countdown=services.poll_backoff(attempt))
    return result


def start_polling(transfer_id: str) -> None:
    """Called once the new request is committed: first check after the base interval."""
    poll_transfer.apply_async((transfer_id, 0), countdown=services.POLL_BASE_SECONDS)
