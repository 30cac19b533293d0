"""Public URLs of kyc: customer pages and each registered provider's own URLs."""

from typing import Any

from django.urls import URLPattern, URLResolver, include, path

from kyc import intake, registry, views
from kyc.contract import Provider

urlpatterns: list[Any] = [
    path("t/<str:token>/", views.transfer_page, name="transfer_page"),
    path("t/<str:token>/status", views.transfer_status, name="transfer_status"),
    path("t/<str:token>/logo", views.transfer_logo, name="transfer_logo"),
]

# Each registered provider mounts its own endpoints (webhooks, callbacks, merchant endpoints);
# one without URLs of its own that checks deliveries gets the core's webhook URL.
for _provider in registry.providers():
    if _patterns := _provider.urlpatterns():
        urlpatterns.append(path("", include(_patterns)))
    elif type(_provider).inbound_check is not Provider.inbound_check:
        urlpatterns.append(
            path(
                f"hooks/{_provider.name}/<str:token>/",
                intake.webhook_view(_provider.name),
                name=f"{_provider.name}_webhook",
            )
        )


def _undeclared_hooks(patterns: list[Any], prefix: str = "") -> None:
    """Every provider-facing view (under hooks/) declares the intake's guards itself
    (`@kyc.intake.inbound`). One that does not (a provider written against the bare
    contract) gets the same guards here, so no inbound URL is ever served unguarded."""
    for p in patterns:
        route = prefix + str(p.pattern).lstrip("^")
        if isinstance(p, URLResolver):
            _undeclared_hooks(p.url_patterns, route)
        elif (
            isinstance(p, URLPattern)
            and route.startswith("hooks/")
            and not getattr(p.callback, "inbound_guarded", False)
        ):
            parts = route.split("/")
            p.callback = intake.inbound(
                provider=parts[1], per_request=len(parts) > 2 and parts[2] == "t"
            )(p.callback)


_undeclared_hooks(urlpatterns)
