"""One place for "the provider refused our credential: renew it once, try once more".

Blockpass (record tokens), Incode (admin token), Portmone (partner token) and Sunbird
(user token) all cache a credential that the provider may stop accepting before it
looks expired. Each keeps its own way of getting and storing a credential; this is
only the control flow: one call, at most one renewal, at most one retry, never a loop.
No Django here: plain callables and the typed errors.
"""

from __future__ import annotations

from collections.abc import Callable
from typing import TypeVar

from kyc.errors import AuthenticationError

C = TypeVar("C")
T = TypeVar("T")


def refused_401(exc: AuthenticationError) -> bool:
    """The usual trigger: the credential itself was refused (403 means no permission)."""
    return exc.status == 401


def call_with_renewal(
    call: Callable[[C], T],
    *,
    current: C,
    renew: Callable[[C], C],
    refused: Callable[[AuthenticationError], bool] = refused_401,
    refused_twice: Callable[[AuthenticationError], Exception] | None = None,
) -> T:
    """`call(current)`; if that is refused, `call(renew(current))` once.

    A refusal of the renewed credential is raised as is, or as `refused_twice(exc)` when
    a provider has a plainer message for the merchant.
    """
    try:
        return call(current)
    except AuthenticationError as exc:
        if not refused(exc):
            raise
    fresh = renew(current)
    try:
        return call(fresh)
    except AuthenticationError as exc:
        if refused_twice is None:
            raise
        raise refused_twice(exc) from exc
