"""Per-provider domain flows. Each is its own Django app (own models and migrations)
so providers grow without touching each other: kyc/flows/<provider>/
{apps,models,services,tasks,views,urls,admin}.py."""

import importlib
import logging

log = logging.getLogger(__name__)

FLOWS = ("corepass", "blockpass", "incode", "portmone", "sunbird")


def reconcile_all() -> int:
    """Call each flow's `reconcile()` (if it has one); one failing flow never stops the others."""
    total = 0
    for name in FLOWS:
        try:
            module = importlib.import_module(f"kyc.flows.{name}.services")
        except ImportError:
            continue
        fn = getattr(module, "reconcile", None)
        if fn is None:
            continue
        try:
            total += int(fn() or 0)
        except Exception:
            log.exception("reconcile failed for %s", name)
    return total
