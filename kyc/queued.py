""" "A task is queued" flags in Redis: a burst of commits enqueues one task, not one each.

The task clears its flag when it starts and then reads the database, so whatever
commits after that sets the flag again and enqueues a task of its own: nothing waits
for a sweeper. A flag outlives a lost task by at most FLAG_SECONDS, and sweepers
enqueue regardless of flags. The flags live where rate-limit counters do (never culled
while live).
"""

from __future__ import annotations

import logging

from kyc.ratelimit import counters_cache

log = logging.getLogger(__name__)

FLAG_SECONDS = 60


def flag(key: str) -> bool:
    """Set the flag; False when it was already set. Redis down: True (enqueue anyway)."""
    try:
        return bool(counters_cache().add(key, 1, timeout=FLAG_SECONDS))
    except Exception as exc:  # redis.ConnectionError and friends: fail open
        log.warning("queued flag unavailable: %s", type(exc).__name__)
        return True


def unflag(key: str) -> bool:
    """Clear the flag; True when it was set (this task is the one it announced)."""
    try:
        return bool(counters_cache().delete(key))
    except Exception as exc:  # it expires anyway
        log.warning("queued flag not cleared: %s", type(exc).__name__)
        return False
