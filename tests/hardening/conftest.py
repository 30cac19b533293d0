"""Rate-limit windows are fixed (per minute): a test that straddles a window boundary
would see its counters restart, so these tests stop the limiter's clock mid-window."""

from __future__ import annotations

import time
import types

import pytest

from kyc import ratelimit


@pytest.fixture(autouse=True)
def _limiter_clock(monkeypatch: pytest.MonkeyPatch) -> None:
    now = (time.time() // 3600) * 3600 + 1800.5  # the middle of this hour (and of a minute)
    monkeypatch.setattr(ratelimit, "time", types.SimpleNamespace(time=lambda: now))
