"""Incode background work. Every task is idempotent and safe to run twice."""

from __future__ import annotations

from typing import Any

from celery import shared_task

from kyc.models import TransferRequest
from providers.incode import services


@shared_task(name="kyc.flows.incode.tasks.refresh_admin_tokens", acks_late=True, ignore_result=True)
def refresh_admin_tokens() -> int:
    """Beat (hourly): replace every merchant's admin token before its 24 hours are up."""
    return services.admin_tokens_refresh_due()


@shared_task(name="kyc.flows.incode.tasks.delete_interview", acks_late=True, ignore_result=True)
def delete_interview(transfer_id: str) -> bool:
    """Ask Incode to delete an erased customer's interview (reconcile() retries failures)."""
    try:
        return services.interview_delete(transfer_id=transfer_id)
    except services.ProviderError:
        return False  # counted on the transfer; reconcile() tries again


@shared_task(name="kyc.flows.incode.tasks.approve_at_incode", acks_late=True, ignore_result=True)
def approve_at_incode(transfer_id: str) -> bool:
    """After a compliance approval: create the identity at Incode too."""
    try:
        return services.interview_approve(transfer_id=transfer_id)
    except services.ProviderError:
        return False


@shared_task(name="kyc.flows.incode.tasks.check_transfer", acks_late=True, ignore_result=True)
def check_transfer(transfer_id: str) -> str:
    """Ask Incode whether the customer finished (no webhook came)."""
    return services.transfer_check(transfer_id=transfer_id)


@shared_task(
    name="kyc.flows.incode.tasks.check_transfer_by_page_token", acks_late=True, ignore_result=True
)
def check_transfer_by_page_token(page_token: str) -> str:
    """Enqueued (rate-limited) by the customer page's poll: see kyc.page_hooks."""
    pk = TransferRequest.objects.filter(page_token=page_token).values_list("pk", flat=True).first()
    return services.transfer_check(transfer_id=pk) if pk else "missing"


# Retries of an images fetch Incode could not answer (30 s, 1, 2, 4, 8, 16 min).
IMAGE_RETRIES = 6


@shared_task(
    name="providers.incode.tasks.fetch_images",
    bind=True,
    acks_late=True,
    ignore_result=True,
    max_retries=IMAGE_RETRIES,
)
def fetch_images(self: Any, transfer_id: str) -> str:
    """The ID and selfie images of a finished onboarding, when the finish could not get them."""
    try:
        return services.images_fetch(transfer_id=transfer_id)
    except services.RetryableError as exc:
        if self.request.retries >= IMAGE_RETRIES:
            services.images_give_up(transfer_id=transfer_id, code=exc.code)
            return "failed"
        raise self.retry(countdown=30 * 2**self.request.retries) from None
