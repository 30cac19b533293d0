"""The sandbox kit (kyc/sandbox_kit.py): the plumbing every built-in sandbox shares.

It sits below the providers: a sandbox imports it, it imports no provider and neither
the core nor the portal. Its delivery loop is what makes "the sandbox retries until the
portal accepts, then stops" true for every vendor the sandboxes play.
"""

from __future__ import annotations

import ast
import uuid
from pathlib import Path

import pytest
from django.test import RequestFactory

from kyc import sandbox_kit as kit

ROOT = Path(__file__).resolve().parents[2]


def project_imports(path: Path) -> set[str]:
    names: set[str] = set()
    for node in ast.walk(ast.parse(path.read_text())):
        if isinstance(node, ast.Import):
            names.update(a.name for a in node.names)
        elif isinstance(node, ast.ImportFrom) and node.module:
            names.update(f"{node.module}.{a.name}" for a in node.names)
    return {n for n in names if n.split(".")[0] in ("kyc", "portal", "providers")}


def test_it_imports_no_provider_nor_the_core() -> None:
    assert project_imports(ROOT / "kyc" / "sandbox_kit.py") == set()


def test_it_notices_a_project_import(tmp_path: Path) -> None:
    bad = tmp_path / "kit.py"
    bad.write_text("from providers.blockpass import signature\nimport kyc.models\n")
    assert project_imports(bad) == {"providers.blockpass.signature", "kyc.models"}


@pytest.mark.parametrize("name", ["blockpass", "corepass", "incode", "portmone", "sunbird"])
def test_it_is_what_the_sandbox_builds_on(name: str) -> None:
    assert "kyc.sandbox_kit" in project_imports(ROOT / "providers" / name / "sandbox.py")


class Portal:
    """Answers a delivery with the next status of a script; counts the attempts."""

    def __init__(self, *answers: int) -> None:
        self.answers, self.attempts = list(answers), 0

    def send(self) -> int:
        self.attempts += 1
        return self.answers.pop(0)


def test_it_retries_a_delivery_until_the_portal_accepts_it_then_stops() -> None:
    portal = Portal(503, 0, 200, 200)
    seen: list[int] = []
    status = kit.deliver(portal.send, retry_delays=(0, 0, 0, 0), after_attempt=seen.append)
    assert status == 200 and portal.attempts == 3 and seen == [503, 0, 200]


def test_it_gives_up_after_its_schedule() -> None:
    portal = Portal(500, 500, 500, 200)
    assert kit.deliver(portal.send, retry_delays=(0, 0)) == 500
    assert portal.attempts == 3


def test_it_stops_at_any_answer_below_500_when_asked() -> None:
    portal = Portal(0, 404, 200)
    assert kit.deliver(portal.send, retry_delays=(0, 0), done=kit.answered) == 404
    assert portal.attempts == 2


def test_it_doubles_its_waits() -> None:
    assert kit.backoff(0.5, 4) == (0.5, 1.0, 2.0, 4.0)
    assert kit.backoff(0.5, 0) == ()


def test_it_answers_none_for_a_body_that_is_no_json_object() -> None:
    rf = RequestFactory()
    assert kit.json_body(rf.post("/", b'{"a": 1}', content_type="application/json")) == {"a": 1}
    assert kit.json_body(rf.post("/", b"", content_type="application/json")) == {}
    assert kit.json_body(rf.post("/", b"[1]", content_type="application/json")) is None
    assert kit.json_body(rf.post("/", b"{nope", content_type="application/json")) is None


def test_it_keeps_each_sandbox_s_state_under_its_own_prefix() -> None:
    run = uuid.uuid4().hex
    a, b = kit.State(f"test-a-{run}"), kit.State(f"test-b-{run}")
    a.set("x", {"v": 1})
    assert a.get("x") == {"v": 1} and b.get("x") is None
    assert [a.count("n"), a.count("n"), b.count("n")] == [1, 2, 1]
    assert a.counted("n") == 2 and a.counted("never") == 0
    for i in range(5):
        a.append("log", i, keep=3)
    assert a.get("log") == [2, 3, 4]
    a.delete("x", "log")
    assert a.get("x") is None and a.get("log") is None
