"""Figures of one run add up across pytest-xdist workers; writing twice adds nothing; a new
run replaces the last one's entry (tests/faults/promise_log.py)."""

from __future__ import annotations

import json
from pathlib import Path

import pytest

from tests.faults import promise_log


def _write(monkeypatch: pytest.MonkeyPatch, path: Path, *, run: str, worker: str, n: int) -> None:
    monkeypatch.setenv("PYTEST_XDIST_TESTRUNUID", run)
    monkeypatch.setenv("PYTEST_XDIST_WORKER", worker)
    monkeypatch.setattr(
        promise_log, "_RECORDED", {"p": {"tests": {f"t-{worker}"}, "figures": {"cases": n}}}
    )
    promise_log.write(path)


def test_it_adds_up_the_workers_of_one_run_once(
    monkeypatch: pytest.MonkeyPatch, tmp_path: Path
) -> None:
    path = tmp_path / "promises.json"
    for _ in range(2):  # every conftest's session end writes again
        _write(monkeypatch, path, run="r1", worker="gw0", n=3)
        _write(monkeypatch, path, run="r1", worker="gw1", n=2)
    entry = json.loads(path.read_text())["p"]
    assert entry["figures"] == {"cases": 5}
    assert entry["tests"] == ["t-gw0", "t-gw1"]


def test_it_replaces_the_entry_of_an_earlier_run(
    monkeypatch: pytest.MonkeyPatch, tmp_path: Path
) -> None:
    path = tmp_path / "promises.json"
    _write(monkeypatch, path, run="r1", worker="gw0", n=3)
    _write(monkeypatch, path, run="r2", worker="gw1", n=2)
    assert json.loads(path.read_text())["p"]["figures"] == {"cases": 2}
