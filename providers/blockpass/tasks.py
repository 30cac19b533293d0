"""Blockpass Celery tasks: idempotent, acks_late, enqueued on commit."""

from __future__ import annotations

from celery import shared_task
from django.conf import settings

from providers.blockpass import services


@shared_task(name="kyc.flows.blockpass.tasks.pull_cert_promise", acks_late=True, ignore_result=True)
def pull_cert_promise(promise_pk: int) -> str:
    """Pull one certificate promise. Safe to run twice or concurrently: the claim is a row lock
    with skip_locked plus a lease, and a pulled promise is never claimed again."""
    outcome = services.cert_promise_pull(promise_pk=promise_pk)
    if outcome.retry_in is not None and outcome.retry_in <= settings.CELERY_MAX_COUNTDOWN:
        pull_cert_promise.apply_async((promise_pk,), countdown=outcome.retry_in)
    # Longer waits: next_attempt_at is set and reconcile() enqueues the pull when it is due.
    return outcome.state
