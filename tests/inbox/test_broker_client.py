"""Publishing a task reuses the channel's redis client (portal/broker.py) instead of
building one per message, and a fork starts over with the new pool."""

from __future__ import annotations

from portal.broker import Channel
from portal.celery import app


def test_it_publishes_through_one_redis_client_per_channel() -> None:
    with app.connection_for_write() as connection:
        channel = connection.default_channel
        assert isinstance(channel, Channel)
        with channel.conn_or_acquire() as first, channel.conn_or_acquire() as second:
            assert first is second
            assert first.connection_pool is channel.pool
        given = object()
        with channel.conn_or_acquire(given) as client:
            assert client is given  # a caller's own client is used as it is


def test_it_drops_the_client_with_the_pools_after_a_fork() -> None:
    with app.connection_for_write() as connection:
        channel = connection.default_channel
        with channel.conn_or_acquire() as before:
            pass
        channel._after_fork()
        with channel.conn_or_acquire() as after:
            assert after is not before
            assert after.connection_pool is channel.pool
