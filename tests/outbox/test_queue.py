"""Outgoing webhooks wait in their own Celery queue ("webhooks"), so a slow merchant
endpoint never holds up provider work queued in "celery"."""

from __future__ import annotations

from typing import Any

import pytest
import redis
from django.conf import settings

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


def test_it_puts_a_committed_message_in_the_webhooks_queue(
    django_capture_on_commit_callbacks: Any,
) -> None:
    broker = redis.Redis.from_url(settings.CELERY_BROKER_URL)
    before = {q: broker.llen(q) for q in ("webhooks", "celery")}
    merchant = factories.MerchantFactory()
    endpoint, _ = outbox.webhook_endpoint_create(
        merchant=merchant, url="https://hooks.example.com/kyc"
    )
    with django_capture_on_commit_callbacks(execute=True):
        outbox.webhook_endpoint_test(endpoint=endpoint)
    try:
        assert broker.llen("webhooks") == before["webhooks"] + 1
        assert broker.llen("celery") == before["celery"]
    finally:
        # kombu pushes on the left: take back exactly what this test queued.
        for _ in range(broker.llen("webhooks") - before["webhooks"]):
            broker.lpop("webhooks")
