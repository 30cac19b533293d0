"""What every built-in sandbox needs, written once: state, JSON, delivery to the portal.

A sandbox plays a vendor (providers/<name>/sandbox.py). Like the real one it keeps its
own state, here in the shared Django cache (web and worker processes see the same;
never kyc's tables), and it reaches the portal only over HTTP, sending its deliveries
from a background thread so that a click on its pages returns at once. This module
holds that plumbing and nothing of any vendor: the paths, shapes, errors and signatures
stay in each sandbox. It imports no provider, no other `kyc` module and no `portal`.

- `State`: a sandbox's keys under its own prefix, each kept `ttl` seconds; counters
  that tests read ("renewed once", "pulled once"); bounded lists (logs, calls).
- `json_body`: the request's JSON object, or None when it is not one.
- `post`, `deliver`, `backoff`, `in_background`: one POST to the portal (its status,
  0 when nothing answered), the same delivery retried on a schedule until it is
  accepted, and a daemon thread that runs it.

Sandbox URLs are mounted by the registry (kyc.contract.Provider.sandbox_urlpatterns
imports a provider's `sandbox` module for its `urlpatterns`) only when SANDBOX is on.
"""

from __future__ import annotations

import json
import logging
import threading
import time
from collections.abc import Callable, Sequence
from typing import Any

import requests
from django.core.cache import cache
from django.http import HttpRequest

log = logging.getLogger(__name__)

# The name every background thread of a sandbox starts with (tests wait for them to end).
BACKGROUND = "sandbox-background:"

DAY = 24 * 3600
Timeout = float | tuple[float, float]


# --- state ---------------------------------------------------------------------------


class State:
    """One sandbox's state in the shared cache: `<prefix>:<name>` keys kept `ttl` seconds.

    Names are the caller's own (`"req:" + rid`), so each sandbox keeps its key layout.
    """

    def __init__(self, prefix: str, *, ttl: int = DAY) -> None:
        self.prefix = prefix
        self.ttl = ttl

    def key(self, name: str) -> str:
        return f"{self.prefix}:{name}"

    def get(self, name: str, default: Any = None) -> Any:
        return cache.get(self.key(name), default)

    def set(self, name: str, value: Any, ttl: int | None = None) -> None:
        cache.set(self.key(name), value, self.ttl if ttl is None else ttl)

    def delete(self, *names: str) -> None:
        cache.delete_many([self.key(n) for n in names])

    def count(self, name: str) -> int:
        """Add one to the counter `name` (created at 1); its new value."""
        key = self.key(name)
        if cache.add(key, 1, self.ttl):
            return 1
        try:
            return int(cache.incr(key))
        except ValueError:  # expired between add and incr
            cache.set(key, 1, self.ttl)
            return 1

    def counted(self, name: str) -> int:
        """The counter `name` (0 when nothing was counted)."""
        return int(cache.get(self.key(name)) or 0)

    def append(self, name: str, item: Any, *, keep: int) -> list[Any]:
        """Add `item` to the list `name`, keeping the newest `keep` items (not atomic:
        a sandbox log or call list, where a lost line under a race does not matter)."""
        items = [*(self.get(name) or []), item][-keep:]
        self.set(name, items)
        return items


# --- requests it answers ------------------------------------------------------------


def json_body(request: HttpRequest) -> dict[str, Any] | None:
    """The request body as a JSON object (an empty body reads as `{}`); None if it is not."""
    try:
        data = json.loads(request.body or b"{}")
    except ValueError:
        return None
    return data if isinstance(data, dict) else None


# --- deliveries it sends ------------------------------------------------------------


def post(url: str, *, name: str, timeout: Timeout = (3, 10), **kwargs: Any) -> int:
    """POST once (kwargs as for `requests.post`); the status, or 0 when nothing answered.

    A failure is logged by its type only: the URL may carry the portal's callback token.
    """
    try:
        return int(requests.post(url, timeout=timeout, **kwargs).status_code)
    except requests.RequestException as exc:
        log.info("sandbox %s: POST failed: %s", name, type(exc).__name__)
        return 0


def accepted(status: int) -> bool:
    """A 2xx answer: the receiver has it."""
    return 200 <= status < 300


def answered(status: int) -> bool:
    """Any answer below 500: retrying would not change the receiver's mind."""
    return 0 < status < 500


def backoff(first: float, retries: int, *, factor: float = 2.0) -> tuple[float, ...]:
    """Waits before each retry: `backoff(0.5, 3)` is (0.5, 1.0, 2.0)."""
    return tuple(first * factor**i for i in range(retries))


def deliver(
    send: Callable[[], int],
    *,
    retry_delays: Sequence[float],
    done: Callable[[int], bool] = accepted,
    after_attempt: Callable[[int], None] | None = None,
) -> int:
    """`send()` until `done(status)`: once, then once more after each of `retry_delays`
    (seconds). `send` is called anew per attempt, so a vendor that signs each attempt
    with a fresh deadline can. Returns the last status (0: nothing answered)."""
    status = 0
    for delay in (None, *retry_delays):
        if delay:
            time.sleep(delay)
        status = send()
        if after_attempt is not None:
            after_attempt(status)
        if done(status):
            break
    return status


def in_background(
    fn: Callable[..., object],
    /,
    *args: Any,
    on_error: Callable[[Exception], None] | None = None,
    **kwargs: Any,
) -> threading.Thread:
    """Run `fn(*args, **kwargs)` in a daemon thread (a click returns at once). An error
    goes to `on_error` (e.g. the sandbox page's log), else to the log by its type only;
    it is never raised into a request."""

    def run() -> None:
        try:
            fn(*args, **kwargs)
        except Exception as exc:
            if on_error is not None:
                on_error(exc)
            else:
                log.warning("sandbox background %s failed: %s", _name(fn), type(exc).__name__)

    thread = threading.Thread(target=run, daemon=True, name=f"{BACKGROUND}{_name(fn)}")
    thread.start()
    return thread


def _name(fn: Callable[..., object]) -> str:
    return str(getattr(fn, "__qualname__", None) or fn)
