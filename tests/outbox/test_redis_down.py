"""Redis (broker and cache) stopped while outgoing webhooks are being sent loses nothing.

A throwaway redis-server on a free port (tests/faults/redis_server.py) is the broker and
cache of a real worker and of the processes that commit changes, so stopping it disturbs
no other test. One send is held mid-request by the receiver when Redis goes; more
messages are committed while it is down (their enqueue fails after commit, as in
production); Redis comes back empty (every queued task lost). The beat sweeper then
finds what is still pending, and every message reaches the endpoint with its one
`webhook-id`, each delivery succeeding once.
"""

from __future__ import annotations

import time
from typing import Any

import pytest
from standardwebhooks.webhooks import Webhook

from kyc import outbox
from kyc.models import WebhookAttempt, WebhookDelivery, WebhookMessage
from tests import factories
from tests.conftest import _worker_env, wait_for
from tests.faults.redis_server import PrivateRedis, manage_shell, sweep
from tests.outbox.conftest import Receiver

pytestmark = pytest.mark.worker

BEFORE, DURING = 4, 4  # messages committed before Redis stops, and while it is down


def _send_pings(env: dict[str, str], endpoint_id: int, n: int) -> None:
    """Commit n messages (ping events) in another process; each enqueues after commit."""
    manage_shell(
        env,
        "from kyc import outbox; from kyc.models import WebhookEndpoint\n"
        f"ep = WebhookEndpoint.objects.get(pk={endpoint_id})\n"
        f"for _ in range({n}): outbox.webhook_endpoint_test(endpoint=ep)\n",
    )


def test_it_loses_no_webhook_when_redis_stops_mid_send(
    transactional_db: Any, start_worker: Any, receiver: Receiver, promise: Any
) -> None:
    redis_ = PrivateRedis().start()
    extra = {
        "REDIS_URL": redis_.url(0),
        "CACHE_URL": redis_.url(1),
        "OUTBOUND_ALLOW_NETWORKS": "127.0.0.1/32",
        "WEBHOOK_RETRY_SCHEDULE": "0,1,1,1,1",
        "WEBHOOK_SEND_LEASE_SECONDS": "2",
    }
    env = _worker_env(extra)
    try:
        merchant = factories.MerchantFactory()
        endpoint, secret = outbox.webhook_endpoint_create(merchant=merchant, url=receiver.url)
        start_worker(extra_env=extra)
        receiver.hold_first = True
        _send_pings(env, endpoint.pk, BEFORE)
        wait_for(lambda: len(receiver.requests) == 1, timeout=30)  # the worker is mid-send

        redis_.stop()  # broker and cache gone while the send waits for its answer
        _send_pings(env, endpoint.pk, DURING)  # committed; their enqueue fails after commit
        assert WebhookMessage.objects.filter(endpoint=endpoint).count() == BEFORE + DURING
        # Nothing could enqueue their dispatch: only the sweeper can send them now.
        undispatched = WebhookMessage.objects.filter(endpoint=endpoint, dispatched_at=None)
        assert undispatched.count() == DURING
        receiver.release.set()  # the held send gets its 200 now
        time.sleep(2)

        redis_.start()  # back, empty: every task that was queued is gone
        # Beat's sweeper (every 30 s) dispatches what was never dispatched (after its
        # 10 s grace) and re-enqueues every due delivery; run it until nothing is left.
        deliveries = WebhookDelivery.objects.filter(endpoint=endpoint)
        deadline = time.time() + 90
        while time.time() < deadline:
            done = deliveries.filter(state=WebhookDelivery.State.SUCCEEDED).count()
            if done == BEFORE + DURING:
                break
            sweep(env, "sweep_webhooks")
            time.sleep(3)
        assert deliveries.filter(state=WebhookDelivery.State.SUCCEEDED).count() == BEFORE + DURING

        messages = {m.msg_id for m in WebhookMessage.objects.filter(endpoint=endpoint)}
        received = receiver.ids()
        assert set(received) == messages  # every message arrived, under its own id
        for r in receiver.requests:  # each one signed, the id inside the signature
            assert Webhook(secret).verify(r.body, r.headers)["type"] == "ping"
        for d in deliveries:  # one success per delivery, whatever was repeated
            ok = WebhookAttempt.objects.filter(
                delivery=d, status_code__gte=200, status_code__lt=300
            )
            assert ok.count() == 1
        # At least once: a send whose outcome the worker could not record may repeat,
        # always with the same webhook-id (the receiver's idempotency key).
        assert len(received) >= len(messages)
        assert sweep(env, "sweep_webhooks") == 0  # nothing pending any more
        promise("outbox_delivery", BEFORE + DURING, "webhooks through a Redis outage")
    finally:
        receiver.release.set()
        redis_.stop()
