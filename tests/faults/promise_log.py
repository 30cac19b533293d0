"""Figures the suite proves, written to var/promises.json for scripts/promises.py.

A test calls `promise("id", 120, "deliveries")` once its assertions held; the
figure is kept only if the whole test passed (checked in teardown), so the
README table never shows a number that a failing run produced.
"""

from __future__ import annotations

import datetime as dt
import fcntl
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
    """Put this process's figures into the file. Under pytest-xdist every worker writes its
    own share (again at each conftest's end, so a share is replaced, never added twice);
    a promise's figures are the sum of the shares of this run (PYTEST_XDIST_TESTRUNUID),
    and an earlier run's entry is replaced. A lock keeps the workers' writes apart."""
    if not _RECORDED:
        return
    run = os.environ.get("PYTEST_XDIST_TESTRUNUID", "")
    me = os.environ.get("PYTEST_XDIST_WORKER", "main")
    path.parent.mkdir(parents=True, exist_ok=True)
    with open(path.with_suffix(".lock"), "w") as lock:
        fcntl.flock(lock, fcntl.LOCK_EX)
        try:
            data = json.loads(path.read_text())
        except (OSError, ValueError):
            data = {}
        now = dt.datetime.now(dt.UTC).replace(microsecond=0).isoformat()
        for pid, entry in _RECORDED.items():
            before = data.get(pid) or {}
            shares = dict(before.get("shares", {})) if run and before.get("run") == run else {}
            shares[me] = {"tests": sorted(entry["tests"]), "figures": dict(entry["figures"])}
            tests: set[str] = set()
            figures: dict[str, int] = {}
            for share in shares.values():
                tests |= set(share["tests"])
                for unit, n in share["figures"].items():
                    figures[unit] = figures.get(unit, 0) + n
            data[pid] = {
                "tests": sorted(tests),
                "figures": dict(sorted(figures.items())),
                "at": now,
                **({"run": run, "shares": shares} if run else {}),
            }
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
