"""Figures the suite proves, written to var/promises.json for scripts/promises.py.

A test calls `promise("id", 120, "deliveries")` once its assertions held; the
figure is kept only if the whole test passed (checked in teardown), so the
README table never shows a number that a failing run produced.
"""

from __future__ import annotations

import datetime as dt
import json
import os
from collections.abc import Callable, Iterator
from pathlib import Path
from typing import Any

import pytest

ROOT = Path(__file__).resolve().parents[2]
OUT = Path(os.environ.get("PROMISES_FILE", ROOT / "var" / "promises.json"))

# promise id -> {"tests": set[str], "figures": {unit: int}}
_RECORDED: dict[str, dict[str, Any]] = {}


def _test_name(nodeid: str) -> str:
    """tests/x/test_y.py::test_it_z[param] -> tests/x/test_y.py::test_it_z"""
    return nodeid.split("[", 1)[0]


def write(path: Path = OUT) -> None:
    if not _RECORDED:
        return
    try:
        data = json.loads(path.read_text())
    except (OSError, ValueError):
        data = {}
    now = dt.datetime.now(dt.UTC).replace(microsecond=0).isoformat()
    for pid, entry in _RECORDED.items():
        data[pid] = {
            "tests": sorted(entry["tests"]),
            "figures": dict(sorted(entry["figures"].items())),
            "at": now,
        }
    path.parent.mkdir(parents=True, exist_ok=True)
    tmp = path.with_suffix(".tmp")
    tmp.write_text(json.dumps(data, indent=2, sort_keys=True) + "\n")
    tmp.replace(path)


@pytest.hookimpl(hookwrapper=True)
def pytest_runtest_makereport(item: Any, call: Any) -> Iterator[None]:
    outcome = yield
    report = outcome.get_result()
    setattr(item, f"rep_{report.when}", report)


@pytest.fixture
def promise(request: Any) -> Iterator[Callable[[str, int, str], None]]:
    """Record a figure for a promise; committed only if the test passed."""
    pending: list[tuple[str, int, str]] = []

    def record(pid: str, figure: int, unit: str) -> None:
        pending.append((pid, int(figure), unit))

    yield record
    rep = getattr(request.node, "rep_call", None)
    if rep is None or not rep.passed:
        return
    for pid, figure, unit in pending:
        entry = _RECORDED.setdefault(pid, {"tests": set(), "figures": {}})
        entry["tests"].add(_test_name(request.node.nodeid))
        entry["figures"][unit] = entry["figures"].get(unit, 0) + figure


@pytest.fixture(scope="session", autouse=True)
def _write_promises() -> Iterator[None]:
    yield
    write()
