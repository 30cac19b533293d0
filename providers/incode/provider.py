"""Incode as the core sees it: the adapter (settings form, start an onboarding)
plus the flow's hooks (stored webhooks, reconcile, page-poll check, erasure)."""

from __future__ import annotations

from typing import Any

from django.urls import reverse

from kyc.contract import Delivery, ReviewImage, Verdict
from kyc.models import InboundEvent, TransferRequest
from providers.incode import schemas, services, tasks
from providers.incode.adapter import IncodeAdapter


class IncodeProvider(IncodeAdapter):
    urls = "providers.incode.urls"
    sandbox = "providers.incode.sandbox"

    def inbound_check(self, delivery: Delivery) -> Verdict:
        """The onboarding-status webhook is unsigned: only a hint to go and look."""
        try:
            hook = schemas.parse_webhook(delivery.body)
        except schemas.BadPayload as exc:
            return Verdict(400, str(exc), state=InboundEvent.State.REFUSED, error=str(exc))
        account = delivery.account
        transfer = services.find_transfer(account=account, interview_id=hook.interview_id)
        if transfer is None:
            # Kept (staff can reprocess it once the interview is known), nothing changes.
            return Verdict(
                200,
                "kept: unknown interview",
                state=InboundEvent.State.IGNORED,
                error="unknown interview; nothing changed",
                kind=hook.onboarding_status,
            )
        return Verdict(
            200,
            "received",
            kind=hook.onboarding_status,
            transfer=transfer,
            dedupe_key=services.webhook_dedupe_key(
                account_id=account.pk, interview_id=hook.interview_id, status=hook.onboarding_status
            ),
            process=True,
            duplicate_message="duplicate: no effect",
        )

    def process_delivery(self, *, event_id: int) -> bool:
        services.inbound_process(event_id=event_id)
        return True

    def reconcile(self) -> int:
        return services.reconcile()

    def check_on_page_poll(self, *, page_token: str) -> None:
        tasks.check_transfer_by_page_token.delay(page_token)

    def record_erased(self, *, record_id: int) -> None:
        services.record_erased(record_id=record_id)

    def review_images(self, *, record_id: int) -> list[ReviewImage]:
        # ID front/back and selfie, served by the Incode admin's image view after a reveal.
        return [
            ReviewImage(
                label=row.label,
                url=reverse("admin:kyc_incode_image", args=[row.pk]),
                fetched_at=row.fetched_at,
            )
            for row in services.review_images(record_id=record_id)
        ]

    def transfer_cancel(self, *, transfer_id: str) -> bool:
        # Incode has no cancel call; deleting the interview ends the onboarding session
        # (its URL stops working) and erases what the customer sent so far.
        return services.transfer_cancelled(transfer_id=transfer_id)

    def review_decide(self, *, transfer_id: str, approve: bool, reason: str, actor: Any) -> bool:
        # The staff decision, and an approval is also sent to Incode (after commit).
        transfer = TransferRequest.objects.get(pk=transfer_id)
        services.transfer_decide(transfer=transfer, approve=approve, reason=reason, actor=actor)
        return True
