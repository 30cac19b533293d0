"""Fixed-window rate limits in the shared cache (Redis in production), per key.

Counters live in the `ratelimit` cache alias when settings define one: in embedded
mode that is a file cache that never culls a live counter (the default file cache
drops a random third of its entries when full, which would reset an exhausted limit).
"""

from __future__ import annotations

import hashlib
import logging
import time
import unicodedata
from typing import Any

from django.conf import settings
from django.core.cache import BaseCache, cache, caches

log = logging.getLogger(__name__)

LIMITS_ALIAS = "ratelimit"


def counters_cache() -> BaseCache:
    """The cache holding counters and flags that must not be culled while live: the
    `ratelimit` alias, else the default cache."""
    return caches[LIMITS_ALIAS] if LIMITS_ALIAS in settings.CACHES else cache


def _limits_share_default() -> bool:
    """True when counters and the default cache live in the same Redis (one round trip)."""
    own = settings.CACHES.get(LIMITS_ALIAS)
    return own is None or own.get("LOCATION") == settings.CACHES["default"].get("LOCATION")


def hit(bucket: str, *, limit: int | None = None, window: int = 60) -> bool:
    """Count one hit; True while under the limit.

    Fails open: with the cache (Redis) down a delivery must still be accepted and
    stored (PostgreSQL is the source of truth), so an unreachable counter allows.
    """
    limit = limit or settings.PUBLIC_RATE_LIMIT_PER_MINUTE
    count = _count(bucket, window=window)
    return count is None or count <= limit


def _count(bucket: str, *, window: int) -> int | None:
    """Count one hit on `bucket` in this window; its count, or None with the cache down."""
    key, _ = _window_key(bucket, window)
    counters = counters_cache()
    try:
        client = redis_client()
        if client is not None:
            # One round trip per hit (add + incr through the cache API take three);
            # the expiry is set once, by the hit that created the counter.
            full_key = counters.make_and_validate_key(key)
            count = int(client.incr(full_key))
            if count == 1:
                client.expire(full_key, window + 1)
            return count
        if counters.add(key, 1, window + 1):
            return 1
        try:
            return int(counters.incr(key))
        except ValueError:  # expired between add and incr
            counters.add(key, 1, window + 1)
            return 1
    except Exception as exc:  # redis.ConnectionError and friends: the cache is down
        log.warning("rate limit not enforced, cache unavailable: %s", type(exc).__name__)
        return None


# --- counted once stored (provider deliveries) ----------------------------------------
# A known sender's deliveries are counted after they are stored, in the one Redis round
# trip that also raises the request's queued flags (kyc.queued.together), and refused
# from the count this process saw last: {bucket: (window number, count)}. A process
# learns of a crossing at its next delivery, so a window may hold up to one delivery
# per web process (per thread) more than the limit; everything over that is refused
# without a round trip.
_seen: dict[str, tuple[int, int]] = {}


def _window_key(bucket: str, window: int) -> tuple[str, int]:
    """The cache key of `bucket`'s counter in the current window, and the window's number."""
    number = int(time.time() // window)
    return f"rl:{bucket}:{number}", number


def seen_over(bucket: str, *, limit: int | None = None, window: int = 60) -> bool:
    """True when this process last saw `bucket` at or over `limit` in this window."""
    limit = limit or settings.PUBLIC_RATE_LIMIT_PER_MINUTE
    seen = _seen.get(bucket)
    return seen is not None and seen[0] == _window_key(bucket, window)[1] and seen[1] >= limit


def counter_key(bucket: str, *, window: int = 60) -> tuple[str, int]:
    """The Redis key of `bucket`'s counter in this window, and the window's number."""
    key, number = _window_key(bucket, window)
    return counters_cache().make_and_validate_key(key), number


def remember(bucket: str, *, number: int, count: int) -> None:
    """Keep the count a round trip returned (only this window's counts are kept)."""
    first = next(iter(_seen.values()), None)
    if len(_seen) > 10_000 or (first is not None and first[0] != number):
        _seen.clear()
    _seen[bucket] = (number, count)


def count_and_remember(bucket: str, *, window: int = 60) -> None:
    """Count one hit through the cache API and keep its count (no Redis: embedded mode)."""
    _, number = _window_key(bucket, window)
    count = _count(bucket, window=window)
    if count is not None:
        remember(bucket, number=number, count=count)


def seen_forget() -> None:
    """Forget every count seen (tests: a rolled-back test's counters are gone too)."""
    _seen.clear()


def redis_client() -> Any:
    """The raw redis client when the counters' cache is Redis (it has raw_client()), else None."""
    raw = getattr(counters_cache(), "raw_client", None)
    return raw() if raw is not None else None


def shared_redis_client() -> Any:
    """The raw redis client when the counters and the default cache live in the same Redis
    (one round trip reaches both), else None."""
    client = redis_client()
    return client if client is not None and _limits_share_default() else None


def hit_and_get(
    bucket: str, cache_key: str, *, limit: int | None = None, window: int = 60
) -> tuple[bool, Any]:
    """`hit(bucket)` and `cache.get(cache_key)` in one Redis round trip (one script call).

    Fails open like `hit`: with the cache down the hit is allowed and the value is
    None, so the caller reads the database.
    """
    allowed, (value,) = hit_and_get_many(bucket, [cache_key], limit=limit, window=window)
    return allowed, value


def hit_and_get_many(
    bucket: str, cache_keys: list[str], *, limit: int | None = None, window: int = 60
) -> tuple[bool, list[Any]]:
    """`hit(bucket)` and `cache.get` of every key in one Redis round trip (the customer
    page's poll reads its state and its rendered fragment). Fails open like `hit`."""
    limit = limit or settings.PUBLIC_RATE_LIMIT_PER_MINUTE
    key, _ = _window_key(bucket, window)
    backend = caches["default"]
    try:
        client = shared_redis_client()
        if client is None:
            got = cache.get_many(cache_keys)
            return hit(bucket, limit=limit, window=window), [got.get(k) for k in cache_keys]
        # make_key, not make_and_validate_key: these keys are ours (no spaces or control
        # characters), and the check walks every character for memcached's sake.
        keys = [counters_cache().make_key(key), *(backend.make_key(k) for k in cache_keys)]
        count, *raws = script(client, "hit_and_get", _HIT_AND_GET)(keys=keys, args=[window + 1])
        loads = backend._cache._serializer.loads  # type: ignore[attr-defined]
        values = [loads(raw) if raw is not None else None for raw in raws]
    except Exception as exc:  # redis down: allow, and let the caller read the database
        log.warning("rate limit not enforced, cache unavailable: %s", type(exc).__name__)
        return True, [None for _ in cache_keys]
    return int(count) <= limit, values


# One command instead of a pipeline of 1 + n: the counter's expiry is set in the same
# round trip when the window starts, and the client packs and parses one reply, which is
# most of what a poll costs the web process.
_HIT_AND_GET = """
local count = redis.call('INCR', KEYS[1])
if count == 1 then redis.call('EXPIRE', KEYS[1], ARGV[1]) end
local out = {count}
for i = 2, #KEYS do out[i] = redis.call('GET', KEYS[i]) end
return out
"""


def script(client: Any, name: str, source: str) -> Any:
    """The Lua script `name`, registered on this client and kept on it (called by EVALSHA;
    redis-py loads it again when the server has forgotten it)."""
    attribute = f"_kyc_script_{name}"
    found = getattr(client, attribute, None)
    if found is None:
        found = client.register_script(source)
        setattr(client, attribute, found)
    return found


def _account_bucket(username: str) -> str:
    """A stable, case-folded digest of the typed user name (no user names in cache keys).

    Case-folded so "Demo" and "demo" share one budget: a superset of what can log in."""
    folded = unicodedata.normalize("NFKC", username).strip().casefold()
    return hashlib.sha256(folded.encode()).hexdigest()[:32]


def login_attempt_allowed(*, address: str, username: str, kind: str = "login") -> bool:
    """Count one login (or second-factor) attempt; False once the address or the account
    is over its budget. Every login path calls this before checking a password, so the
    right password is refused too until the window has passed.

    Budgets: LOGIN_RATE_LIMIT_PER_MINUTE per address and per account, and
    LOGIN_ACCOUNT_RATE_LIMIT_PER_HOUR per account (slow guessing from many addresses).
    """
    per_minute = settings.LOGIN_RATE_LIMIT_PER_MINUTE
    per_hour = getattr(settings, "LOGIN_ACCOUNT_RATE_LIMIT_PER_HOUR", 100)
    account = _account_bucket(username)
    # All three are counted (no short-circuit): a refused attempt still spends budget.
    results = [
        hit(f"{kind}:addr:{address}", limit=per_minute),
        hit(f"{kind}:acct:{account}", limit=per_minute),
        hit(f"{kind}:acct-h:{account}", limit=per_hour, window=3600),
    ]
    return all(results)
