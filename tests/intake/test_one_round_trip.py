"""A known sender's delivery: its rate-limit count and its hand-over flag go to Redis in
one round trip (one script call), after the delivery is stored; refusals come from the count this process
saw last (kyc.queued.together, kyc.ratelimit.seen_over)."""

from __future__ import annotations

from typing import Any
from unittest import mock

import pytest
import redis
from django.conf import settings as django_settings
from django.core.cache import cache

from kyc import ratelimit, selectors
from kyc.models import InboundEvent
from providers.corepass.services import CONFIRM_DELAY
from tests.contract.deliveries import blockpass_account, blockpass_resolved, blockpass_webhook, post

pytestmark = pytest.mark.django_db(transaction=True)

SECRET = "s3cret-one-trip"


def _deliver(client: Any, account: Any) -> Any:
    return post(client, blockpass_webhook(account, blockpass_resolved("bp-r"), secret=SECRET))


class _Trips:
    """Round trips to Redis: every packed command (or pipeline) written to a socket."""

    def __init__(self) -> None:
        self.sent: list[Any] = []
        real = redis.connection.AbstractConnection.send_packed_command
        trips = self

        def counting(conn: Any, command: Any, check_health: bool = True) -> Any:
            trips.sent.append(command)
            return real(conn, command, check_health)

        self.patch = mock.patch.object(
            redis.connection.AbstractConnection, "send_packed_command", counting
        )


def _counter(token: str) -> int:
    client = redis.Redis.from_url(django_settings.CACHES["default"]["LOCATION"])
    keys = client.keys(f"*rl:hook:providers.blockpass.views.webhook:{token}:*")
    return int(client.get(keys[0])) if keys else 0


def test_the_count_and_the_flag_take_one_round_trip_after_the_insert(
    client: Any, merchant: Any
) -> None:
    account = blockpass_account(merchant, webhook_secret=SECRET)
    trips = _Trips()
    with mock.patch("kyc.tasks.process_inbound.delay") as delay:
        assert _deliver(client, account).status_code == 200  # sets the flag, publishes
        with trips.patch:
            assert _deliver(client, account).status_code == 200
    assert delay.call_count == 1  # the second found the task queued
    assert len(trips.sent) == 1, trips.sent  # the count and the flag, one script call
    sent = _flat(trips.sent[0])
    assert b"EVALSHA" in sent.upper()
    assert account.webhook_token.encode() in sent and b"inbox-process-queued" in sent
    assert _counter(account.webhook_token) == 2
    assert InboundEvent.objects.filter(account=account, state="received").count() == 2


def test_deliveries_over_the_limit_are_refused_without_a_round_trip(
    client: Any, merchant: Any, settings: Any
) -> None:
    settings.WEBHOOK_RATE_LIMIT_PER_MINUTE = 3
    account = blockpass_account(merchant, webhook_secret=SECRET)
    codes = [_deliver(client, account).status_code for _ in range(3)]
    trips = _Trips()
    with trips.patch:
        refused = _deliver(client, account)
    assert codes == [200, 200, 200]
    assert refused.status_code == 429 and refused["Retry-After"] == "60"
    assert trips.sent == []
    assert InboundEvent.objects.filter(account=account).count() == 3  # the 429 is not stored


def test_a_count_raised_elsewhere_lets_at_most_one_more_through(
    client: Any, merchant: Any, settings: Any
) -> None:
    settings.WEBHOOK_RATE_LIMIT_PER_MINUTE = 3
    account = blockpass_account(merchant, webhook_secret=SECRET)
    assert _deliver(client, account).status_code == 200
    # Other web processes took the window to the limit meanwhile.
    client_redis = redis.Redis.from_url(django_settings.CACHES["default"]["LOCATION"])
    (key,) = client_redis.keys(
        f"*rl:hook:providers.blockpass.views.webhook:{account.webhook_token}:*"
    )
    client_redis.incrby(key, 5)
    codes = [_deliver(client, account).status_code for _ in range(3)]
    assert codes == [200, 429, 429]  # this process learns of it with its next delivery
    assert _counter(account.webhook_token) == 7


def test_a_new_window_starts_from_nothing(
    client: Any, merchant: Any, settings: Any, monkeypatch: Any
) -> None:
    settings.WEBHOOK_RATE_LIMIT_PER_MINUTE = 1
    account = blockpass_account(merchant, webhook_secret=SECRET)
    now = 6_000_000.0
    monkeypatch.setattr(ratelimit.time, "time", lambda: now)
    assert [_deliver(client, account).status_code for _ in range(2)] == [200, 429]
    now += 60
    assert [_deliver(client, account).status_code for _ in range(2)] == [200, 429]


def test_with_redis_down_a_delivery_is_stored_and_handed_over(client: Any, merchant: Any) -> None:
    account = blockpass_account(merchant, webhook_secret=SECRET)
    down = redis.ConnectionError("redis down")
    with (
        mock.patch("kyc.ratelimit.script", return_value=mock.Mock(side_effect=down)),
        mock.patch("kyc.tasks.process_inbound.delay") as delay,
    ):
        answer = _deliver(client, account)
    assert answer.status_code == 200
    event = InboundEvent.objects.get(account=account)
    delay.assert_called_once_with(event.pk)  # fails open: published without a flag


def test_a_callback_sends_its_outgoing_webhook_flag_with_its_count(
    client: Any, merchant: Any
) -> None:
    import time

    from providers.corepass import sandbox
    from tests.corepass.conftest import deliver, make_account, make_transfer, sandbox_req
    from tests.factories import WebhookEndpointFactory

    WebhookEndpointFactory(merchant=merchant)
    transfer = make_transfer(make_account(merchant))
    now = int(time.time())
    body = sandbox.status_body(sandbox_req(transfer), "ACCEPTED", "", now=now)
    trips = _Trips()
    with mock.patch("kyc.tasks.dispatch_webhook_message.delay") as dispatch, trips.patch:
        assert deliver(client, transfer, "status", body, now=now).status_code == 200
    dispatch.assert_called_once()  # the merchant's webhook goes out
    together = [
        c for c in trips.sent if b"EVALSHA" in _flat(c).upper() and b"webhook-dispatch" in _flat(c)
    ]
    assert b"rl:hook:" in _flat(together[0])  # with the callback's own count
    # ...and the customer page's new state: nothing else goes to Redis.
    assert f"transfer-page:{transfer.page_token}".encode() in _flat(together[0])
    assert len(trips.sent) == 1, [_flat(c)[:200] for c in trips.sent]
    state = cache.get(selectors.page_state_key(transfer.page_token))
    assert state is not None and state["status"] == "accepted"  # written as the cache writes


def test_a_held_data_callback_sends_its_connector_question_flag_with_its_count(
    client: Any, merchant: Any
) -> None:
    import time

    from providers.corepass import sandbox
    from tests.corepass.conftest import deliver, make_account, make_transfer, sandbox_req

    transfer = make_transfer(make_account(merchant))
    now = int(time.time())
    status = sandbox.status_body(sandbox_req(transfer), "ACCEPTED", "", now=now)
    assert deliver(client, transfer, "status", status, now=now).status_code == 200
    trips = _Trips()
    with mock.patch("providers.corepass.tasks.confirm_data.apply_async") as ask:
        with trips.patch:
            form = sandbox.data_form(sandbox_req(transfer), now=now)
            assert (
                deliver(client, transfer, "data", form, now=now, multipart=True).status_code == 200
            )
        # Held: the connector is asked, in CONFIRM_DELAY seconds.
        ask.assert_called_once_with((str(transfer.pk),), countdown=CONFIRM_DELAY)
        assert len(trips.sent) == 1, [_flat(c)[:200] for c in trips.sent]
        assert f"corepass-confirm:{transfer.pk}".encode() in _flat(trips.sent[0])
        # A second delivery within the throttle's seconds does not ask again.
        form = sandbox.data_form(sandbox_req(transfer), now=now)
        assert deliver(client, transfer, "data", form, now=now, multipart=True).status_code == 200
        assert ask.call_count == 1


def _flat(command: Any) -> bytes:
    parts = command if isinstance(command, list) else [command]
    return b"".join(bytes(p) for p in parts)


def test_without_redis_the_limit_still_holds(client: Any, merchant: Any, settings: Any) -> None:
    # Embedded mode: counters in a cache that is not Redis (no round trip to share).
    settings.CACHES = {
        "default": {"BACKEND": "django.core.cache.backends.locmem.LocMemCache"},
        "ratelimit": {"BACKEND": "django.core.cache.backends.locmem.LocMemCache"},
    }
    settings.WEBHOOK_RATE_LIMIT_PER_MINUTE = 2
    account = blockpass_account(merchant, webhook_secret=SECRET)
    with mock.patch("kyc.tasks.process_inbound.delay"):
        codes = [_deliver(client, account).status_code for _ in range(4)]
    assert codes == [200, 200, 429, 429]
    assert InboundEvent.objects.filter(account=account).count() == 2
