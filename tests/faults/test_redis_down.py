"""Redis (broker and cache) really stopped while provider deliveries arrive at a running
server: each is accepted and committed (PostgreSQL is the source of truth); once Redis is
back the sweeper enqueues them and a real worker processes each exactly once. (Every
provider's delivery with the broker down, in process: tests/contract/test_deliveries.py.)"""

from __future__ import annotations

import json

import pytest
import requests

from kyc.models import InboundEvent, Merchant
from tests.conftest import _worker_env, wait_for
from tests.contract.deliveries import pending_request, sandbox_account
from tests.faults.redis_server import PrivateRedis, sweep
from tests.faults.server import Server

DELIVERIES = 6


@pytest.mark.worker
def test_it_keeps_deliveries_while_redis_is_down_and_processes_them_once(
    transactional_db, start_worker, promise
) -> None:
    outage(DELIVERIES, start_worker, promise)


@pytest.mark.soak
@pytest.mark.worker
def test_it_keeps_hundreds_of_deliveries_through_repeated_redis_outages(
    transactional_db, start_worker, promise
) -> None:
    for _ in range(2):
        outage(100, start_worker, promise)


def outage(deliveries: int, start_worker, promise) -> None:
    from providers.portmone import client

    redis_ = PrivateRedis().start()
    env = _worker_env(
        {"REDIS_URL": redis_.url(0), "CACHE_URL": redis_.url(1), "INBOX_SWEEP_AFTER_SECONDS": "0"}
    )
    server = None
    try:
        server = Server(env)
        slug = f"rd-{Merchant.objects.count()}"
        merchant = Merchant.objects.create(name=slug, slug=slug)
        account = sandbox_account(merchant, "portmone")
        pending_request(account, "rd", provider_ref="share-0")
        url = f"{server.url}/hooks/portmone/{account.webhook_token}/"

        redis_.stop()  # broker and cache gone
        health = requests.get(server.url + "/healthz", timeout=15)
        assert health.status_code == 503 and health.json()["broker"].startswith("error")
        for i in range(deliveries):
            body = json.dumps({client.F_ID: f"share-{i}", client.F_STATUS: "approved"})
            r = requests.post(
                url, data=body, headers={"Content-Type": "application/json"}, timeout=15
            )
            assert r.status_code in (200, 202), (r.status_code, r.text)
        events = InboundEvent.objects.filter(account=account)
        assert events.count() == deliveries  # committed while Redis was down
        assert set(events.values_list("state", flat=True)) == {InboundEvent.State.RECEIVED}

        redis_.start()  # back, empty: nothing was queued while it was down
        start_worker(extra_env={"REDIS_URL": redis_.url(0), "CACHE_URL": redis_.url(1)})
        assert sweep(env, "sweep_inbox") == deliveries
        wait_for(
            lambda: not events.filter(state=InboundEvent.State.RECEIVED).exists(),
            timeout=60 + deliveries / 5,
        )
        assert sweep(env, "sweep_inbox") == 0  # nothing left to send
        for event in events:
            assert event.state in (InboundEvent.State.PROCESSED, InboundEvent.State.IGNORED), (
                event.error
            )
            assert event.attempts == 1, (event.pk, event.attempts)  # processed exactly once
        promise("redis_down", deliveries, "deliveries survived a Redis outage")
    finally:
        if server is not None:
            server.stop()
        redis_.stop()
