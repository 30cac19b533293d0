"""Public URLs of kyc: customer pages and each flow's inbound endpoints."""

import importlib
import importlib.util
from typing import Any

from django.conf import settings
from django.urls import URLPattern, URLResolver, include, path

from kyc import views
from kyc.webhooks import guard_inbound, limit_per_token

urlpatterns: list[Any] = [
    path("t/<str:token>/", views.transfer_page, name="transfer_page"),
    path("t/<str:token>/status", views.transfer_status, name="transfer_status"),
]

# Each installed flow app mounts its own endpoints (webhooks, callbacks, merchant endpoints).
for _app in settings.INSTALLED_APPS:
    if _app.startswith("kyc.flows."):
        if importlib.util.find_spec(f"{_app}.urls") is not None:
            urlpatterns.append(path("", include(f"{_app}.urls")))


def _limit_hooks(patterns: list[Any], prefix: str = "") -> None:
    """Every provider-facing view (under hooks/) is rate limited per token and guarded
    (413 before reading an oversized body, 503 when the database is down), whether or
    not its flow remembered to decorate it (both decorators leave decorated views alone)."""
    for p in patterns:
        route = prefix + str(p.pattern).lstrip("^")
        if isinstance(p, URLResolver):
            _limit_hooks(p.url_patterns, route)
        elif isinstance(p, URLPattern) and route.startswith("hooks/"):
            p.callback = limit_per_token(guard_inbound(p.callback))


_limit_hooks(urlpatterns)
