"""Fixed-window rate limits in the shared cache (Redis in production), per key."""

from __future__ import annotations

import logging
import time
from typing import Any

from django.conf import settings
from django.core.cache import cache, caches

log = logging.getLogger(__name__)


def hit(bucket: str, *, limit: int | None = None, window: int = 60) -> bool:
    """Count one hit; True while under the limit.

    Fails open: with the cache (Redis) down a delivery must still be accepted and
    stored (PostgreSQL is the source of truth), so an unreachable counter allows.
    """
    limit = limit or settings.PUBLIC_RATE_LIMIT_PER_MINUTE
    key = f"rl:{bucket}:{int(time.time() // window)}"
    try:
        client = _redis_client(key)
        if client is not None:
            # One round trip per hit (add + incr through the cache API take three);
            # the expiry is set once, by the hit that created the counter.
            full_key = cache.make_and_validate_key(key)
            count = int(client.incr(full_key))
            if count == 1:
                client.expire(full_key, window + 1)
            return count <= limit
        if cache.add(key, 1, window + 1):
            return True
        try:
            count = cache.incr(key)
        except ValueError:  # expired between add and incr
            cache.add(key, 1, window + 1)
            return True
    except Exception as exc:  # redis.ConnectionError and friends: the cache is down
        log.warning("rate limit not enforced, cache unavailable: %s", type(exc).__name__)
        return True
    return count <= limit


def _redis_client(key: str) -> Any:
    """The raw redis client when the cache is Redis (settings' backend has raw_client()), else None."""
    raw = getattr(caches["default"], "raw_client", None)
    return raw() if raw is not None else None
