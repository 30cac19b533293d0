"""Which function processes a stored delivery of each provider.

A processor takes an InboundEvent id, is idempotent, and is what both the
webhook view (right away) and the sweeper (after a broker outage) call.
"""

from __future__ import annotations

import importlib
from collections.abc import Callable

PROCESSORS: dict[str, str] = {
    "corepass": "kyc.flows.corepass.services.inbound_process",
    "blockpass": "kyc.flows.blockpass.services.inbound_process",
    "incode": "kyc.flows.incode.services.inbound_process",
    "portmone": "kyc.flows.portmone.services.inbound_process",
    "sunbird": "kyc.flows.sunbird.services.inbound_process",
}


def processor(provider: str) -> Callable[..., None] | None:
    path = PROCESSORS.get(provider)
    if not path:
        return None
    module, _, attr = path.rpartition(".")
    try:
        return getattr(importlib.import_module(module), attr)
    except (ImportError, AttributeError):
        return None
