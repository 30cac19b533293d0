"""System checks. `manage.py check --deploy` fails when sandboxes are on in production."""

from typing import Any

from django.conf import settings
from django.core.checks import Error, Tags, register


@register(Tags.security, deploy=True)
def sandbox_off_in_production(app_configs: Any, **kwargs: Any) -> list[Error]:
    if settings.SANDBOX and not settings.DEBUG:
        return [
            Error(
                "SANDBOX is on with DEBUG=False: the provider sandboxes would accept fake deliveries.",
                hint="Set SANDBOX=false in production.",
                id="kyc.E001",
            )
        ]
    return []
