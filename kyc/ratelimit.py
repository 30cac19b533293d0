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


def hit_and_get(
    bucket: str, cache_key: str, *, limit: int | None = None, window: int = 60
) -> tuple[bool, Any]:
    """`hit(bucket)` and `cache.get(cache_key)` in one Redis round trip (pipelined).

    Fails open like `hit`: with the cache down the hit is allowed and the value is
    None, so the caller reads the database.
    """
    limit = limit or settings.PUBLIC_RATE_LIMIT_PER_MINUTE
    key = f"rl:{bucket}:{int(time.time() // window)}"
    backend = caches["default"]
    try:
        client = _redis_client(key)
        if client is None:
            return hit(bucket, limit=limit, window=window), cache.get(cache_key)
        full_key = backend.make_and_validate_key(key)
        pipe = client.pipeline(transaction=False)
        pipe.incr(full_key)
        pipe.get(backend.make_and_validate_key(cache_key))
        count, raw = pipe.execute()
        if int(count) == 1:
            client.expire(full_key, window + 1)
        value = backend._cache._serializer.loads(raw) if raw is not None else None  # type: ignore[attr-defined]
    except Exception as exc:  # redis down: allow, and let the caller read the database
        log.warning("rate limit not enforced, cache unavailable: %s", type(exc).__name__)
        return True, None
    return int(count) <= limit, value
