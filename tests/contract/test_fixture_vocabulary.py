"""Every provider's tests speak one fixture vocabulary, so a test reads the same in any
provider's folder and moves between them unchanged:

- `account`: an enabled ProviderAccount of that provider for the test's `merchant`,
  set up to talk to the provider's sandbox where the provider calls out;
- `sandbox`: the provider's sandbox as the tests reach it (a base URL or a handle),
  for every provider that ships one (providers/<name>/sandbox.py).

The names each folder used before are gone, so they cannot come back beside the
common ones. The conftests are read with ast: nothing is imported or run.
"""

from __future__ import annotations

import ast
from pathlib import Path

import pytest

from kyc import registry

ROOT = Path(__file__).resolve().parents[2]
TESTS = ROOT / "tests"
PROVIDERS_DIR = ROOT / "providers"

# What the provider folders called their account and sandbox fixtures before.
OLD_NAMES = frozenset(
    {"bp_account", "sandbox_account", "incode_account", "sunbird_account", "sandbox_http"}
)


def provider_names() -> list[str]:
    """Every provider the registry loads, and every provider folder, registered or not."""
    folders = {p.parent.name for p in PROVIDERS_DIR.glob("*/provider.py")}
    return sorted(set(registry.names()) | folders)


def _is_fixture(decorator: ast.expr) -> bool:
    target = decorator.func if isinstance(decorator, ast.Call) else decorator
    if isinstance(target, ast.Attribute):
        return target.attr == "fixture"
    return isinstance(target, ast.Name) and target.id == "fixture"


def _fixture_name(decorator: ast.expr, function: str) -> str:
    """The name pytest registers: the decorator's `name=` if given, else the function's."""
    if isinstance(decorator, ast.Call):
        for keyword in decorator.keywords:
            if keyword.arg == "name" and isinstance(keyword.value, ast.Constant):
                return str(keyword.value.value)
    return function


def conftest_fixtures(source: str) -> set[str]:
    """The names of the fixtures a conftest defines at module level."""
    names: set[str] = set()
    for node in ast.parse(source).body:
        if isinstance(node, ast.FunctionDef | ast.AsyncFunctionDef):
            names.update(_fixture_name(d, node.name) for d in node.decorator_list if _is_fixture(d))
    return names


def vocabulary_problems(folder: Path, *, has_sandbox: bool) -> list[str]:
    """What a provider's test folder lacks or still has, one line each (empty: all good)."""
    conftest = folder / "conftest.py"
    if not conftest.is_file():
        return [f"tests/{folder.name} has no conftest.py"]
    fixtures = conftest_fixtures(conftest.read_text())
    required = ["account", "sandbox"] if has_sandbox else ["account"]
    problems = [
        f"tests/{folder.name}/conftest.py has no `{name}` fixture"
        for name in required
        if name not in fixtures
    ]
    problems += [
        f"tests/{folder.name}/conftest.py still defines `{old}`"
        for old in sorted(fixtures & OLD_NAMES)
    ]
    return problems


def test_it_checks_each_registered_provider_and_provider_folder() -> None:
    names = provider_names()
    assert set(registry.names()) <= set(names)
    assert "corepass" in names and "sunbird" in names


@pytest.mark.parametrize("name", provider_names())
def test_it_finds_the_common_fixtures_in_every_provider_conftest(name: str) -> None:
    has_sandbox = (PROVIDERS_DIR / name / "sandbox.py").is_file()
    assert vocabulary_problems(TESTS / name, has_sandbox=has_sandbox) == []


ACME_WITHOUT_ACCOUNT = """
import pytest


@pytest.fixture
def acme_account(merchant):
    return None


@pytest.fixture(name="sandbox")
def acme_sandbox():
    return "http://acme.invalid"
"""


def test_it_notices_a_provider_conftest_without_an_account_fixture(tmp_path: Path) -> None:
    folder = tmp_path / "acme"
    folder.mkdir()
    (folder / "conftest.py").write_text(ACME_WITHOUT_ACCOUNT)
    assert vocabulary_problems(folder, has_sandbox=True) == [
        "tests/acme/conftest.py has no `account` fixture"
    ]


def test_it_notices_a_missing_sandbox_fixture_and_an_old_name_left_behind(
    tmp_path: Path,
) -> None:
    folder = tmp_path / "acme"
    folder.mkdir()
    (folder / "conftest.py").write_text(
        "import pytest\n\n\n@pytest.fixture\ndef account():\n    return None\n\n\n"
        "@pytest.fixture\ndef sandbox_http():\n    return None\n"
    )
    assert vocabulary_problems(folder, has_sandbox=False) == [
        "tests/acme/conftest.py still defines `sandbox_http`"
    ]
    assert vocabulary_problems(folder, has_sandbox=True) == [
        "tests/acme/conftest.py has no `sandbox` fixture",
        "tests/acme/conftest.py still defines `sandbox_http`",
    ]


def test_it_notices_a_provider_without_a_test_conftest(tmp_path: Path) -> None:
    assert vocabulary_problems(tmp_path / "acme", has_sandbox=False) == [
        "tests/acme has no conftest.py"
    ]


def test_it_counts_only_functions_decorated_as_fixtures() -> None:
    source = "import pytest\n\n\ndef account():\n    return None\n"
    assert conftest_fixtures(source) == set()
