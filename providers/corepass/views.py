"""Connector-facing endpoints: the request's status and data callbacks.

Both sit behind the intake's guards and are received by kyc.intake.receive: verified
in memory (CorePassProvider.inbound_check), stored once and applied in one
transaction on the request row the guards locked, so one commit per callback.

The URL carries the request's callback token (whoever holds it can post deliveries),
so the guards are `quiet`: no response or error of these views reaches Django's
request logger (which prints the path of every 4xx/5xx, token included); one line
without it instead, and never a 500.
"""

from __future__ import annotations

from django.http import HttpRequest, HttpResponse

from kyc import intake


@intake.inbound(provider="corepass", per_request=True, atomic=True, quiet=True, kind="status")
def status_callback(request: HttpRequest, token: str) -> HttpResponse:
    return intake.receive(request, kind="status")


@intake.inbound(provider="corepass", per_request=True, atomic=True, quiet=True, kind="data")
def data_callback(request: HttpRequest, token: str) -> HttpResponse:
    # Same URL for data and error callbacks; services tell them apart by the `error` key.
    return intake.receive(request, kind="data")
