"""Celery tasks: idempotent, acks_late (settings), enqueued on commit by callers."""

from __future__ import annotations

import datetime as dt
import logging
from typing import Any

from celery import Task, shared_task
from django.conf import settings
from django.utils import timezone

from kyc import queued, registry, services
from kyc.models import InboundEvent

log = logging.getLogger(__name__)


class SweptTask(Task):
    """A task whose work is recorded in the database and re-enqueued by `sweep_inbox`.

    With the broker (Redis) down, enqueuing logs and returns None instead of raising:
    the delivery is already committed, the caller (a webhook view, often inside
    on_commit) still answers the provider, and the sweeper sends it once Redis is back.
    """

    abstract = True

    def apply_async(self, *args: Any, **kwargs: Any) -> Any:
        try:
            return super().apply_async(*args, **kwargs)
        except Exception as exc:  # kombu.OperationalError, redis.ConnectionError, ...
            log.warning(
                "broker unavailable, %s left for the sweeper: %s", self.name, type(exc).__name__
            )
            return None


# Handing deliveries to workers: a burst publishes one task while one is queued, and
# that task, when it starts, also processes every fresh delivery (RECEIVED, never tried)
# committed before it, in batches. Publishing a Celery message costs the web process
# more than storing the delivery; a Redis flag costs one round trip (kyc/queued.py).
INBOX_QUEUED_FLAG = "inbox-process-queued"
INBOX_DRAIN_BATCH = 100


class InboxTask(SweptTask):
    """process_inbound, with the coalescing hand-over used once a delivery is committed."""

    abstract = True

    def hand_over(self, event_id: int) -> None:
        """A task for this committed delivery, unless one is queued already (it takes
        this one with the other fresh deliveries when it starts). In a delivery's request
        the flag goes with its rate-limit count, in one round trip (queued.together)."""
        queued.flag_then(INBOX_QUEUED_FLAG, lambda: self._publish(event_id))

    def _publish(self, event_id: int) -> None:
        if self.delay(event_id) is None:  # broker down: the sweeper has it; free the flag
            queued.unflag(INBOX_QUEUED_FLAG)


@shared_task(base=InboxTask, acks_late=True, ignore_result=True)
def process_inbound(event_id: int) -> str:
    """Process one stored delivery (safe to run twice: processors check state first);
    the task a hand-over announced also drains the fresh deliveries behind it."""
    drain = queued.unflag(INBOX_QUEUED_FLAG)
    try:
        return _process(event_id)
    finally:
        if drain:
            _drain_fresh()


def _process(event_id: int) -> str:
    event = InboundEvent.objects.filter(pk=event_id).first()
    if event is None:
        return "missing"
    if event.state != InboundEvent.State.RECEIVED:
        return event.state
    provider = registry.find(event.provider)
    if provider is None or not provider.process_delivery(event_id=event.pk):
        services.inbound_mark(
            event=event, state=InboundEvent.State.IGNORED, error="no processor for this provider"
        )
        return "ignored"
    event.refresh_from_db()
    return event.state


def _drain_fresh() -> int:
    """Process the fresh deliveries, oldest first; a full batch hands over the rest."""
    ids = list(
        InboundEvent.objects.filter(state=InboundEvent.State.RECEIVED, attempts=0)
        .order_by("pk")
        .values_list("pk", flat=True)[:INBOX_DRAIN_BATCH]
    )
    for pk in ids:
        try:
            _process(pk)
        except Exception as exc:
            # Counted as an attempt, so it leaves the fresh set: the sweeper retries it
            # later, and one bad delivery never holds up the ones behind it.
            log.exception("processing delivery %s failed; left for the sweeper", pk)
            event = InboundEvent.objects.filter(pk=pk, state=InboundEvent.State.RECEIVED).first()
            if event is not None:
                services.inbound_mark(
                    event=event, state=InboundEvent.State.RECEIVED, error=type(exc).__name__
                )
    if len(ids) == INBOX_DRAIN_BATCH:
        process_inbound.hand_over(ids[-1])
    return len(ids)


@shared_task(acks_late=True, ignore_result=True)
def sweep_inbox() -> int:
    """Re-enqueue deliveries stored but not processed (the broker was down, a worker died)."""
    cutoff = timezone.now() - dt.timedelta(seconds=settings.INBOX_SWEEP_AFTER_SECONDS)
    ids = list(
        InboundEvent.objects.filter(
            state=InboundEvent.State.RECEIVED, received_at__lt=cutoff, attempts__lt=10
        ).values_list("pk", flat=True)[:1000]
    )
    for pk in ids:
        process_inbound.delay(pk)
    return len(ids)


@shared_task(acks_late=True, ignore_result=True)
def reconcile_transfers() -> int:
    """Expire overdue requests and let each provider flow reconcile what it can."""
    return services.transfer_expire_overdue() + _reconcile_providers()


def _reconcile_providers() -> int:
    """Each provider's `reconcile()`; one failing provider never stops the others."""
    total = 0
    for provider in registry.providers():
        try:
            total += int(provider.reconcile() or 0)
        except Exception:
            log.exception("reconcile failed for %s", provider.name)
    return total


@shared_task(acks_late=True, ignore_result=True)
def erase_expired_pii() -> int:
    services.idempotent_requests_purge()  # stored Idempotency-Key answers past 24 h
    return services.retention_erase_expired()


@shared_task(acks_late=True, ignore_result=True)
def ping(value: str) -> str:
    """Used by the end-to-end test of a real worker: writes proof that it ran."""
    from django.core.cache import cache

    cache.set(f"ping:{value}", "pong", 60)
    return value


# --- outgoing webhooks (kyc/outbox.py) ----------------------------------------------
# One dispatch task per merchant and one send task per endpoint while one is queued (a
# Redis flag): a burst costs tasks per batch, not per message. A slow endpoint holds only
# its own task (15 s per attempt at most).


@shared_task(
    base=SweptTask, name="kyc.tasks.dispatch_webhook_message", acks_late=True, ignore_result=True
)
def dispatch_webhook_message(message_id: int) -> int:
    """Fan a committed message, and its merchant's other undispatched messages, out to
    their endpoints. Safe twice: dispatched once."""
    from kyc import outbox

    return len(outbox.webhook_message_dispatch(message_id=message_id, backlog=True))


@shared_task(
    base=SweptTask, name="kyc.tasks.send_webhook_delivery", acks_late=True, ignore_result=True
)
def send_webhook_delivery(delivery_id: int, trigger: str = "auto") -> str:
    """One attempt of one delivery, then its endpoint's due backlog. Safe twice: a leased
    delivery is not sent again."""
    from kyc import outbox

    return outbox.webhook_delivery_send(delivery_id=delivery_id, trigger=trigger)


@shared_task(name="kyc.tasks.sweep_webhooks", acks_late=True, ignore_result=True)
def sweep_webhooks() -> int:
    """Beat: send what the broker or a killed worker lost, and retries due later than
    CELERY_MAX_COUNTDOWN."""
    from kyc import outbox

    return outbox.webhook_sweep()
