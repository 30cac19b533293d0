"""Outgoing webhooks wait in their own Celery queue ("webhooks"), so a slow merchant
endpoint never holds up provider work queued in "celery"."""

from __future__ import annotations

from typing import Any

import pytest
from celery.signals import before_task_publish

from kyc import outbox, tasks
from portal.celery import app
from tests import factories

pytestmark = pytest.mark.django_db


def test_it_routes_dispatch_and_send_to_the_webhooks_queue_and_the_rest_to_celery() -> None:
    def queue(task: Any) -> str:
        return app.amqp.router.route({}, task.name)["queue"].name

    assert queue(tasks.dispatch_webhook_message) == "webhooks"
    assert queue(tasks.send_webhook_delivery) == "webhooks"
    assert queue(tasks.process_inbound) == "celery"
    assert queue(tasks.reconcile_transfers) == "celery"
    assert queue(tasks.sweep_webhooks) == "celery"  # the sweeper itself is quick


def test_it_publishes_a_committed_message_to_the_webhooks_queue(
    django_capture_on_commit_callbacks: Any,
) -> None:
    """Through Celery's real publish path (the broker gets it), read from the publish signal
    so a worker of another test taking the task cannot make this flaky."""
    published: list[tuple[str, str]] = []

    def seen(sender: str | None = None, routing_key: str = "", **_: Any) -> None:
        published.append((str(sender), routing_key))

    before_task_publish.connect(seen, weak=False)
    try:
        merchant = factories.MerchantFactory()
        endpoint, _ = outbox.webhook_endpoint_create(
            merchant=merchant, url="https://hooks.example.com/kyc"
        )
        with django_capture_on_commit_callbacks(execute=True):
            outbox.webhook_endpoint_test(endpoint=endpoint)
    finally:
        before_task_publish.disconnect(seen)
    assert published == [("kyc.tasks.dispatch_webhook_message", "webhooks")]
