"""The providers the portal knows, as an explicit dict of dotted paths.

Adapters are imported lazily, so a broken or slow provider module never slows
start-up of the others.
"""

from __future__ import annotations

import importlib
from functools import cache
from typing import TYPE_CHECKING

if TYPE_CHECKING:
    from providers.base import Adapter

PROVIDERS: dict[str, str] = {
    "corepass": "providers.corepass.adapter.ADAPTER",
    "blockpass": "providers.blockpass.adapter.ADAPTER",
    "incode": "providers.incode.adapter.ADAPTER",
    "portmone": "providers.portmone.adapter.ADAPTER",
    "sunbird": "providers.sunbird.adapter.ADAPTER",
}

LABELS: dict[str, str] = {
    "corepass": "CorePass",
    "blockpass": "Blockpass",
    "incode": "Incode",
    "portmone": "Portmone",
    "sunbird": "Sunbird eCreds",
}


class UnknownProvider(KeyError):
    pass


@cache
def get(name: str) -> Adapter:
    try:
        path = PROVIDERS[name]
    except KeyError:
        raise UnknownProvider(name) from None
    module, _, attr = path.rpartition(".")
    return getattr(importlib.import_module(module), attr)


def choices() -> list[tuple[str, str]]:
    return [(name, LABELS[name]) for name in PROVIDERS]
