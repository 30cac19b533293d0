"""Per-key request throttling for the REST API (DRF throttling, shared counters).

One fixed-window counter per API key in the shared cache (Redis in production), so
every gunicorn process counts the same requests. The rate comes from the
API_THROTTLE_RATE setting ("600/min" by default; DRF's "<n>/<sec|min|hour|day>").
"""

from __future__ import annotations

import time
from typing import Any

from django.conf import settings
from rest_framework.request import Request
from rest_framework.throttling import SimpleRateThrottle

from kyc import ratelimit
from kyc.models import ApiKey
from portal.api.auth import MemberSession


class ApiKeyRateThrottle(SimpleRateThrottle):
    """At most API_THROTTLE_RATE requests per key; then 429 with Retry-After.

    DRF's own SimpleRateThrottle keeps a list of timestamps and writes it back
    (get, then set): concurrent requests overwrite each other's hits. The counter
    here is one atomic increment (kyc.ratelimit), like the portal's other limits.
    """

    scope = "api_key"

    def get_rate(self) -> str | None:
        # Read at call time, so an operator's (or a test's) setting applies at once.
        return getattr(settings, "API_THROTTLE_RATE", "600/min") or None

    def get_cache_key(self, request: Request, view: Any) -> str | None:
        key = request.auth
        if isinstance(key, MemberSession):
            return f"api-user:{key.user.pk}"  # a member's session: counted per user
        if not isinstance(key, ApiKey):
            return None  # no key: the request is refused with 401 anyway
        return f"api-key:{key.pk}"

    def allow_request(self, request: Request, view: Any) -> bool:
        self.rate = self.get_rate()
        if self.rate is None:
            return True
        self.num_requests, self.duration = self.parse_rate(self.rate)
        bucket = self.get_cache_key(request, view)
        if bucket is None or not self.num_requests or not self.duration:
            return True
        return ratelimit.hit(bucket, limit=self.num_requests, window=self.duration)

    def wait(self) -> float | None:
        """Seconds until the current window ends (the Retry-After header)."""
        duration = getattr(self, "duration", None)
        if not duration:
            return None
        return float(duration - int(time.time()) % duration) or 1.0
