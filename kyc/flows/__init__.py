"""Per-provider domain flows. Each is its own Django app (own models and migrations)
so providers grow without touching each other: kyc/flows/<provider>/
{apps,models,services,tasks,views,urls,admin}.py."""

import importlib
import logging
from collections.abc import Callable
from typing import Any

log = logging.getLogger(__name__)

FLOWS = ("corepass", "blockpass", "incode", "portmone", "sunbird")


def hook(provider: str, name: str) -> Callable[..., Any] | None:
    """`kyc.flows.<provider>.services.<name>`, or None when the flow does not define it.

    The shared services call flows only through these named hooks (`reconcile`,
    `transfer_started`, `account_auth_failed`, `record_erased`), never through
    signals on shared models.
    """
    if provider not in FLOWS:
        return None
    try:
        module = importlib.import_module(f"kyc.flows.{provider}.services")
    except ImportError:
        return None
    return getattr(module, name, None)


def reconcile_all() -> int:
    """Call each flow's `reconcile()` (if it has one); one failing flow never stops the others."""
    total = 0
    for name in FLOWS:
        fn = hook(name, "reconcile")
        if fn is None:
            continue
        try:
            total += int(fn() or 0)
        except Exception:
            log.exception("reconcile failed for %s", name)
    return total
