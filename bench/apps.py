"""Installed only by bench.settings: counts QR renders so the bench can check reuse."""

from __future__ import annotations

import hashlib
import sys
from collections.abc import Callable
from typing import Any

from django.apps import AppConfig

QR_TOTAL_KEY = "bench:qr:total"


def qr_key(payload: str) -> str:
    """Cache key of one payload's render count (a hash, never the payload itself)."""
    return "bench:qr:" + hashlib.sha256(payload.encode()).hexdigest()[:24]


def _bump(key: str) -> None:
    from django.core.cache import cache

    if not cache.add(key, 1, 3600):
        try:
            cache.incr(key)
        except ValueError:  # expired in between
            cache.add(key, 1, 3600)


def counting(render: Callable[[str], str]) -> Callable[[str], str]:
    """Wrap kyc.qr.render_svg: same output, plus a shared counter per payload in the cache,
    so renders in any process (web or worker) are counted."""

    def render_svg(payload: str) -> str:
        _bump(QR_TOTAL_KEY)
        _bump(qr_key(payload))
        return render(payload)

    render_svg.__wrapped__ = render  # type: ignore[attr-defined]
    return render_svg


def install_qr_counter() -> None:
    import kyc.qr

    original: Any = kyc.qr.render_svg
    if hasattr(original, "__wrapped__"):
        return
    wrapped = counting(original)
    kyc.qr.render_svg = wrapped  # type: ignore[assignment]
    # Modules that already did `from kyc.qr import render_svg` hold the original.
    for module in list(sys.modules.values()):
        if module is not None and getattr(module, "render_svg", None) is original:
            module.render_svg = wrapped  # type: ignore[attr-defined]


class BenchConfig(AppConfig):
    name = "bench"
    label = "bench"
    verbose_name = "Benchmark hooks"

    def ready(self) -> None:
        # Modules imported later get the wrapper through `from kyc.qr import render_svg`;
        # those imported earlier are patched by the scan in install_qr_counter.
        install_qr_counter()
