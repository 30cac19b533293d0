"""Optional Portmone webhook: checked in memory, stored once, confirmed by asking Portmone."""

from __future__ import annotations

from django.http import HttpRequest, HttpResponse

from kyc import intake
from providers.portmone.services import PROVIDER


@intake.inbound(provider=PROVIDER)
def webhook(request: HttpRequest, token: str) -> HttpResponse:
    """Only a hint (PortmoneProvider.inbound_check): a worker confirms it with Portmone."""
    return intake.receive(request)
