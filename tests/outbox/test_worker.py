"""Real Celery workers: commit -> dispatch -> signed send -> retry, and a worker killed
in the middle of a send loses nothing (the next worker sends the same webhook-id)."""

from __future__ import annotations

import time
from typing import Any

import pytest
from django.db import transaction
from standardwebhooks.webhooks import Webhook

from kyc import outbox, services
from kyc.models import TransferRequest, WebhookDelivery
from kyc.services import StatusUpdate
from kyc.status import Status
from tests import factories
from tests.conftest import wait_for
from tests.outbox.conftest import Receiver

pytestmark = pytest.mark.worker

WORKER_ENV = {
    "OUTBOUND_ALLOW_NETWORKS": "127.0.0.1/32",
    "WEBHOOK_RETRY_SCHEDULE": "0,1,1",
    "WEBHOOK_SEND_LEASE_SECONDS": "2",
}


def _transfer(merchant: Any) -> TransferRequest:
    return factories.TransferRequestFactory(merchant=merchant, reference="order-w")


def test_it_delivers_a_committed_change_through_a_real_worker_with_a_retry(
    start_worker: Any, receiver: Receiver
) -> None:
    start_worker(extra_env=WORKER_ENV)
    merchant = factories.MerchantFactory()
    endpoint, secret = outbox.webhook_endpoint_create(
        merchant=merchant, url=receiver.url, events=["verification.completed"]
    )
    transfer = _transfer(merchant)
    receiver.script = [503]
    with transaction.atomic():  # the commit enqueues the dispatch (on_commit)
        services.transfer_apply(
            transfer_id=transfer.pk,
            update=StatusUpdate(status=Status.COMPLETED),
            source="callback",
        )
    wait_for(lambda: WebhookDelivery.objects.filter(state="succeeded").exists(), timeout=30)
    assert len(receiver.requests) == 2 and len(set(receiver.ids())) == 1
    for r in receiver.requests:
        assert Webhook(secret).verify(r.body, r.headers)["type"] == "verification.completed"


def test_it_loses_nothing_when_the_worker_is_killed_mid_send(
    start_worker: Any, receiver: Receiver, promise: Any
) -> None:
    first = start_worker(extra_env=WORKER_ENV)
    merchant = factories.MerchantFactory()
    endpoint, secret = outbox.webhook_endpoint_create(merchant=merchant, url=receiver.url)
    receiver.hold_first = True
    message = outbox.webhook_endpoint_test(endpoint=endpoint)  # committed: enqueued
    wait_for(lambda: len(receiver.requests) == 1, timeout=30)  # the worker is mid-send
    first.kill()
    receiver.release.set()
    delivery = WebhookDelivery.objects.get()
    assert delivery.state == "pending" and delivery.attempts == 0  # nothing recorded
    start_worker(extra_env=WORKER_ENV)
    time.sleep(2.5)  # the killed worker's lease (WEBHOOK_SEND_LEASE_SECONDS) runs out
    # The beat sweeper finds the delivery due again (the broker keeps the killed task
    # unacknowledged until its visibility timeout).
    outbox.webhook_sweep()
    wait_for(lambda: WebhookDelivery.objects.filter(state="succeeded").exists(), timeout=30)
    assert receiver.ids() == [message.msg_id, message.msg_id]
    Webhook(secret).verify(receiver.requests[-1].body, receiver.requests[-1].headers)
    assert WebhookDelivery.objects.get().attempts == 1
    promise("outbox_delivery", 1, "webhooks through a worker SIGKILLed mid send")
