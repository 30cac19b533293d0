"""Fixed-window rate limits in the shared cache (Redis in production), per key."""

from __future__ import annotations

import logging
import time

from django.conf import settings
from django.core.cache import cache

log = logging.getLogger(__name__)


def hit(bucket: str, *, limit: int | None = None, window: int = 60) -> bool:
    """Count one hit; True while under the limit.

    Fails open: with the cache (Redis) down a delivery must still be accepted and
    stored (PostgreSQL is the source of truth), so an unreachable counter allows.
    """
    limit = limit or settings.PUBLIC_RATE_LIMIT_PER_MINUTE
    key = f"rl:{bucket}:{int(time.time() // window)}"
    try:
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
