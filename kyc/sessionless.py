"""Views that need nothing of the session stack: provider deliveries and the customer
page's status poll. They carry no session, user, message or CSRF token; what language
they answer in they decide themselves. portal.middleware.SessionlessMiddleware calls
them directly, past sessions, locale, CSRF, authentication, OTP, messages and htmx,
after the security middleware (HTTPS redirects, HSTS, security headers still apply).
"""

from __future__ import annotations

from collections.abc import Callable
from typing import TypeVar

MARK = "sessionless"
# Only paths under these prefixes are looked at (resolved once, before the stack).
PREFIXES = ("/hooks/", "/t/")

V = TypeVar("V", bound=Callable[..., object])


def sessionless(view: V) -> V:
    """Mark `view` as one the session stack has nothing to do for."""
    setattr(view, MARK, True)
    return view
