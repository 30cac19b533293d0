""" "A task is queued" flags in Redis: a burst of commits enqueues one task, not one each.

The task clears its flag when it starts and then reads the database, so whatever
commits after that sets the flag again and enqueues a task of its own: nothing waits
for a sweeper. A flag outlives a lost task by at most FLAG_SECONDS, and sweepers
enqueue regardless of flags. The flags live where rate-limit counters do (never culled
while live).
"""

from __future__ import annotations

import logging
import threading
from collections.abc import Callable, Iterator
from contextlib import contextmanager
from dataclasses import dataclass, field
from typing import Any

from django.core.cache import cache, caches

from kyc import ratelimit
from kyc.ratelimit import counters_cache

log = logging.getLogger(__name__)

FLAG_SECONDS = 60


@dataclass
class _Together:
    hits: list[tuple[str, int]] = field(default_factory=list)  # (bucket, window)
    # (key, seconds, what to call when this raised it)
    flags: list[tuple[str, int, Callable[[], object]]] = field(default_factory=list)
    # (key, value, seconds) for the default cache (cache_set)
    writes: list[tuple[str, Any, int]] = field(default_factory=list)

    def hit(self, bucket: str, *, window: int = 60) -> None:
        """Count one hit on `bucket` when the block ends (kyc.ratelimit.seen_over)."""
        self.hits.append((bucket, window))


_local = threading.local()

# One command for the whole batch: each counter counted (its expiry set when its window
# starts), each flag set if it was not, each cache value written. KEYS: counters, flags,
# then written keys. ARGV: how many counters, how many flags, then each counter's expiry,
# each flag's seconds, then each write's value and seconds. Returns the counts, then 1
# for each flag this call raised (0: it was already up).
_TOGETHER = """
local counters, flags = tonumber(ARGV[1]), tonumber(ARGV[2])
local out = {}
for i = 1, counters do
  local count = redis.call('INCR', KEYS[i])
  if count == 1 then redis.call('EXPIRE', KEYS[i], ARGV[2 + i]) end
  out[i] = count
end
for i = counters + 1, counters + flags do
  out[i] = redis.call('SET', KEYS[i], 1, 'NX', 'EX', ARGV[2 + i]) and 1 or 0
end
local at = 2 + counters + flags
for i = counters + flags + 1, #KEYS do
  redis.call('SET', KEYS[i], ARGV[at + 1], 'EX', ARGV[at + 2])
  at = at + 2
end
return out
"""


@contextmanager
def together() -> Iterator[_Together]:
    """Flags raised inside (flag_then) and hits counted on the block go to Redis in one
    command (a script) when it ends: a delivery's counter and its hand-over flag cost
    one round trip instead of two. Without Redis (embedded mode) each goes on its own."""
    outer = getattr(_local, "batch", None)
    batch = _Together()
    _local.batch = batch
    try:
        yield batch
    finally:
        _local.batch = outer
        _send(batch)


def flag_then(key: str, then: Callable[[], object], *, seconds: int = FLAG_SECONDS) -> None:
    """Set the flag (for `seconds`) and, when it was not set, call `then` (publish the task
    it stands for); inside `together`, when the block ends."""
    batch = getattr(_local, "batch", None)
    if batch is not None:
        batch.flags.append((key, seconds, then))
    elif flag(key, seconds=seconds):
        then()


def cache_set(key: str, value: Any, seconds: int, *, what: str = "value") -> None:
    """cache.set(key, value, seconds) of the default cache; inside `together`, in the
    block's one round trip when it ends (after the commit that made the value true).
    Never raises: a value not cached is read from the database next time."""
    batch = getattr(_local, "batch", None)
    if batch is not None and ratelimit.shared_redis_client() is not None:
        batch.writes.append((key, value, seconds))
        return
    _cache_set(key, value, seconds, what=what)


def _cache_set(key: str, value: Any, seconds: int, *, what: str = "value") -> None:
    try:
        cache.set(key, value, seconds)
    except Exception as exc:  # cache down: readers fall back to the database
        log.warning("%s not cached, cache unavailable: %s", what, type(exc).__name__)


def _send(batch: _Together) -> None:
    if not batch.hits and not batch.flags and not batch.writes:
        return
    client = ratelimit.redis_client()
    raised: list[bool] = [True] * len(batch.flags)  # fail open: publish anyway
    if client is None:
        for bucket, window in batch.hits:
            ratelimit.count_and_remember(bucket, window=window)
        raised = [flag(key, seconds=seconds) for key, seconds, _ in batch.flags]
        for key, value, seconds in batch.writes:  # only if the caches moved meanwhile
            _cache_set(key, value, seconds)
    else:
        try:
            keys = [ratelimit.counter_key(bucket, window=window) for bucket, window in batch.hits]
            counters = counters_cache()
            flag_keys = [counters.make_key(key) for key, _, _ in batch.flags]
            # Written as the default cache writes them (its key prefix, its serializer).
            default = caches["default"]
            dumps = default._cache._serializer.dumps  # type: ignore[attr-defined]
            write_keys = [default.make_key(key) for key, _, _ in batch.writes]
            answers = ratelimit.script(client, "together", _TOGETHER)(
                keys=[full_key for full_key, _ in keys] + flag_keys + write_keys,
                args=[
                    len(keys),
                    len(flag_keys),
                    *(window + 1 for _, window in batch.hits),
                    *(seconds for _, seconds, _ in batch.flags),
                    *(x for _, value, seconds in batch.writes for x in (dumps(value), seconds)),
                ],
            )
            for (bucket, _), (_, number), count in zip(batch.hits, keys, answers, strict=False):
                ratelimit.remember(bucket, number=number, count=int(count))
            raised = [bool(a) for a in answers[len(keys) :]]
        except Exception as exc:  # redis.ConnectionError and friends: fail open
            log.warning(
                "counters, queued flags and cached values unavailable: %s", type(exc).__name__
            )
    for (key, _, then), was_raised in zip(batch.flags, raised, strict=True):
        if was_raised:
            # Robust, like the on_commit hooks that raised these flags: what is stored is
            # stored, and the sweepers publish what could not be published now.
            try:
                then()
            except Exception:
                log.exception("could not publish the task behind %s", key)


def flag(key: str, *, seconds: int = FLAG_SECONDS) -> bool:
    """Set the flag; False when it was already set. Redis down: True (enqueue anyway)."""
    try:
        return bool(counters_cache().add(key, 1, timeout=seconds))
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
