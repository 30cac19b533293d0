"""kombu's Redis transport, publishing through one redis client per channel.

kombu builds a new `redis.Redis` object for every message it publishes
(`Channel.conn_or_acquire()` without a client): about a third of what handing a
delivery to a worker costs the web process, more than the round trip itself. The
client is thread-safe and the connection pool is the channel's anyway, so one per
channel is enough (the same reasoning as portal/cache.py for Django's cache). After
a fork kombu drops the channel's pools; the client over the old pool goes with them.
"""

from __future__ import annotations

from collections.abc import Iterator
from contextlib import contextmanager
from typing import Any

from kombu.transport import redis as kombu_redis


class Channel(kombu_redis.Channel):
    _publisher: Any = None

    @contextmanager
    def conn_or_acquire(self, client: Any = None) -> Iterator[Any]:
        if client:
            yield client
            return
        if self._publisher is None:
            self._publisher = self._create_client()
        yield self._publisher

    def _disconnect_pools(self) -> None:
        self._publisher = None
        super()._disconnect_pools()


class Transport(kombu_redis.Transport):
    Channel = Channel
