""" "A task is queued" flags in Redis: a burst of commits enqueues one task, not one each.

The task clears its flag when it starts and then reads the database, so whatever
commits after that sets the flag again and enqueues a task of its own: nothing waits
for a sweeper. A flag outlives a lost task by at most FLAG_SECONDS, and sweepers
enqueue regardless of flags. The flags live where rate-limit counters do (never culled
while live).
"""

from __future__ import annotations

import logging

from django.conf import settings
from django.core.cache import BaseCache, cache, caches

log = logging.getLogger(__name__)

FLAG_SECONDS = 60


def _store() -> BaseCache:
    return caches["ratelimit"] if "ratelimit" in settings.CACHES else cache


def flag(key: str) -> bool:
    """Set the flag; False when it was already set. Redis down: True (enqueue anyway)."""
    try:
        return bool(_store().add(key, 1, timeout=FLAG_SECONDS))
    except Exception as exc:  # redis.ConnectionError and friends: fail open
        log.warning("queued flag unavailable: %s", type(exc).__name__)
        return True


def unflag(key: str) -> bool:
    """Clear the flag; True when it was set (this task is the one it announced)."""
    try:
        return bool(_store().delete(key))
    except Exception as exc:  # it expires anyway
        log.warning("queued flag not cleared: %s", type(exc).__name__)
        return False
