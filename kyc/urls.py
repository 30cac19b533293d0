"""Public URLs of kyc: customer pages and each registered provider's own URLs."""

from typing import Any

from django.urls import URLPattern, URLResolver, include, path

from kyc import registry, views
from kyc.hook_tokens import refuse_unknown_tokens
from kyc.webhooks import guard_inbound, limit_per_token

urlpatterns: list[Any] = [
    path("t/<str:token>/logo", views.transfer_logo, name="transfer_logo"),
    path("t/<str:token>/", views.transfer_page, name="transfer_page"),
    path("t/<str:token>/status", views.transfer_status, name="transfer_status"),
]

# Each registered provider mounts its own endpoints (webhooks, callbacks, merchant endpoints).
for _provider in registry.providers():
    if _patterns := _provider.urlpatterns():
        urlpatterns.append(path("", include(_patterns)))


def _limit_hooks(patterns: list[Any], prefix: str = "") -> None:
    """Every provider-facing view (under hooks/) is guarded, whether or not its flow
    remembered to decorate it (each decorator leaves an already decorated view alone):
    - a token that matches nothing: limited per address, then kept as metadata only,
      without running the view or reading the body (kyc/hook_tokens.py);
    - a known token: rate limited per token, 413 before reading an oversized body,
      503 when the database is down (kyc/webhooks.py)."""
    for p in patterns:
        route = prefix + str(p.pattern).lstrip("^")
        if isinstance(p, URLResolver):
            _limit_hooks(p.url_patterns, route)
        elif isinstance(p, URLPattern) and route.startswith("hooks/"):
            p.callback = refuse_unknown_tokens(
                limit_per_token(guard_inbound(p.callback)), route=route
            )


_limit_hooks(urlpatterns)
