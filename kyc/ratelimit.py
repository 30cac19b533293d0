"""Fixed-window rate limits in the shared cache (Redis in production), per key."""

from __future__ import annotations

import time

from django.conf import settings
from django.core.cache import cache


def hit(bucket: str, *, limit: int | None = None, window: int = 60) -> bool:
    """Count one hit; True while under the limit."""
    limit = limit or settings.PUBLIC_RATE_LIMIT_PER_MINUTE
    key = f"rl:{bucket}:{int(time.time() // window)}"
    if cache.add(key, 1, window + 1):
        return True
    try:
        count = cache.incr(key)
    except ValueError:  # expired between add and incr
        cache.add(key, 1, window + 1)
        return True
    return count <= limit
