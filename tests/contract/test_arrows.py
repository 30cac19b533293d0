"""Arrows go one way: portal -> providers/<name> -> kyc.

The core reaches a provider only through the registry (settings.PORTAL_PROVIDERS), so
no kyc module names a provider or the portal, not even inside a function; a provider
never imports the portal; and the `providers` package holds nothing but provider
folders (the plumbing they share lives in the core). Imports are read from the source
(AST), so a lazy import counts too.
"""

from __future__ import annotations

import ast
from pathlib import Path

import pytest

ROOT = Path(__file__).resolve().parents[2]


def imports_of(path: Path) -> set[str]:
    names: set[str] = set()
    for node in ast.walk(ast.parse(path.read_text(), filename=str(path))):
        if isinstance(node, ast.Import):
            names.update(alias.name for alias in node.names)
        elif isinstance(node, ast.ImportFrom) and node.level == 0 and node.module:
            names.add(node.module)
            names.update(f"{node.module}.{alias.name}" for alias in node.names)
    return names


def sources(package: str) -> list[Path]:
    return sorted(p for p in (ROOT / package).rglob("*.py") if "migrations" not in p.parts)


def reaching(package: str, forbidden: tuple[str, ...]) -> dict[str, list[str]]:
    found: dict[str, list[str]] = {}
    for path in sources(package):
        bad = sorted(n for n in imports_of(path) if n.split(".")[0] in forbidden)
        if bad:
            found[str(path.relative_to(ROOT))] = bad
    return found


def test_it_keeps_the_core_from_importing_a_provider_or_the_portal() -> None:
    assert reaching("kyc", ("providers", "portal")) == {}


def test_it_keeps_providers_from_importing_the_portal() -> None:
    assert reaching("providers", ("portal",)) == {}


def test_it_keeps_only_provider_folders_in_the_providers_package() -> None:
    loose = sorted(p.name for p in (ROOT / "providers").glob("*.py") if p.name != "__init__.py")
    assert loose == []


@pytest.mark.parametrize(
    "source, forbidden, expected",
    [
        ("from providers.corepass import client\n", ("providers",), ["providers.corepass"]),
        ("def f():\n    import portal.urls\n", ("portal",), ["portal.urls"]),
        ("from kyc import http\n", ("providers", "portal"), []),
    ],
)
def test_it_notices_an_arrow_going_the_wrong_way(
    tmp_path: Path, source: str, forbidden: tuple[str, ...], expected: list[str]
) -> None:
    module = tmp_path / "m.py"
    module.write_text(source)
    assert [n for n in sorted(imports_of(module)) if n.split(".")[0] in forbidden][:1] == expected
