"""Handing committed deliveries to workers: a burst publishes one task, which takes the
others with it when it starts; a delivery that fails there is left for the sweeper and
holds up nothing; the broker down frees the flag, so the next delivery tries again.

The broker is the test Redis (its `celery` list is the queue process_inbound goes to).
"""

from __future__ import annotations

from collections.abc import Iterator
from typing import Any
from unittest import mock

import pytest
import redis
from django.conf import settings

from kyc import queued, registry, tasks
from kyc.models import InboundEvent
from tests.contract.deliveries import blockpass_account, blockpass_webhook, post

pytestmark = pytest.mark.django_db

SERVICE_INFO = {"action": "serviceInfo.updated", "env": "prod", "data": {"clientId": "c"}}


@pytest.fixture
def broker() -> Iterator[Any]:
    client = redis.Redis.from_url(settings.CELERY_BROKER_URL)
    client.delete("celery")
    yield client
    client.delete("celery")


def published(broker: Any) -> int:
    return int(broker.llen("celery"))


def burst(client: Any, merchant: Any, capture: Any, n: int) -> list[InboundEvent]:
    """n signed Blockpass deliveries, each committed and handed over like in production."""
    account = blockpass_account(merchant)
    with capture(execute=True):
        for _ in range(n):
            answer = post(client, blockpass_webhook(account, SERVICE_INFO, secret="w"))
            assert answer.status_code == 200, answer.content
    return list(InboundEvent.objects.filter(provider="blockpass").order_by("pk"))


def test_it_publishes_one_task_for_a_burst_and_that_task_processes_all_of_it(
    client: Any, merchant: Any, broker: Any, django_capture_on_commit_callbacks: Any
) -> None:
    events = burst(client, merchant, django_capture_on_commit_callbacks, 5)
    assert [e.state for e in events] == [InboundEvent.State.RECEIVED] * 5
    assert published(broker) == 1

    # What the worker runs for the one message: it processes the whole burst.
    assert tasks.process_inbound(events[0].pk) == InboundEvent.State.PROCESSED
    states = set(InboundEvent.objects.values_list("state", flat=True))
    assert states == {InboundEvent.State.PROCESSED}


def test_it_publishes_again_once_the_queued_task_has_started(
    client: Any, merchant: Any, broker: Any, django_capture_on_commit_callbacks: Any
) -> None:
    first = burst(client, merchant, django_capture_on_commit_callbacks, 2)
    tasks.process_inbound(first[0].pk)  # the queued task starts: the flag is cleared
    account = first[0].account
    with django_capture_on_commit_callbacks(execute=True):
        post(client, blockpass_webhook(account, SERVICE_INFO, secret="w"))
    assert published(broker) == 2


def test_it_processes_only_its_own_delivery_when_no_hand_over_announced_it(
    client: Any, merchant: Any, broker: Any, django_capture_on_commit_callbacks: Any
) -> None:
    events = burst(client, merchant, django_capture_on_commit_callbacks, 3)
    queued.unflag(tasks.INBOX_QUEUED_FLAG)  # e.g. the sweeper's own task, after the drain
    tasks.process_inbound(events[1].pk)
    states = list(InboundEvent.objects.order_by("pk").values_list("state", flat=True))
    assert states == ["received", "processed", "received"]


def test_it_leaves_a_failing_delivery_for_the_sweeper_and_processes_the_rest(
    client: Any, merchant: Any, broker: Any, django_capture_on_commit_callbacks: Any
) -> None:
    events = burst(client, merchant, django_capture_on_commit_callbacks, 3)
    provider = registry.get("blockpass")
    real = provider.process_delivery
    bad = events[1].pk

    def process(*, event_id: int) -> bool:
        if event_id == bad:
            raise RuntimeError("boom")
        return real(event_id=event_id)

    with mock.patch.object(provider, "process_delivery", side_effect=process):
        tasks.process_inbound(events[0].pk)
    rows = {e.pk: e for e in InboundEvent.objects.all()}
    assert rows[events[0].pk].state == rows[events[2].pk].state == InboundEvent.State.PROCESSED
    assert rows[bad].state == InboundEvent.State.RECEIVED
    assert rows[bad].attempts == 1 and rows[bad].error == "RuntimeError"  # the sweeper's now


def test_it_hands_over_the_rest_of_a_backlog_larger_than_a_batch(
    client: Any,
    merchant: Any,
    broker: Any,
    django_capture_on_commit_callbacks: Any,
    monkeypatch: pytest.MonkeyPatch,
) -> None:
    monkeypatch.setattr(tasks, "INBOX_DRAIN_BATCH", 2)
    events = burst(client, merchant, django_capture_on_commit_callbacks, 5)
    assert published(broker) == 1
    tasks.process_inbound(events[0].pk)  # its own, then a batch of 2, then a follow-up
    assert published(broker) == 2
    left = InboundEvent.objects.filter(state=InboundEvent.State.RECEIVED).count()
    assert left == 2


def test_it_frees_the_flag_when_the_broker_is_down(
    client: Any, merchant: Any, broker: Any, django_capture_on_commit_callbacks: Any
) -> None:
    # SweptTask.apply_async answers None when the broker cannot be reached.
    with mock.patch.object(tasks.process_inbound, "delay", return_value=None) as delay:
        burst(client, merchant, django_capture_on_commit_callbacks, 2)
    assert delay.call_count == 2  # each delivery tried; none was left waiting on a flag
    assert queued.flag(tasks.INBOX_QUEUED_FLAG)  # and it is free for the next one
