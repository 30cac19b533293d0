"""No module-level import circle anywhere in the core, the portal or a provider.

A provider's services import its provider.py (status mapping, token state), so
provider.py imports its services and tasks inside the hooks that use them; a circle at
module level would make the import order decide what works. The imports are read from
the source (AST): those at module level count (also under `if`/`try`), those inside a
function or under `if TYPE_CHECKING:` do not.
"""

from __future__ import annotations

import ast
from pathlib import Path

import pytest

ROOT = Path(__file__).resolve().parents[2]
PACKAGES = ("kyc", "portal", "providers")
CHECKED = ("kyc", "portal", "providers")


def modules(root: Path) -> dict[str, Path]:
    found: dict[str, Path] = {}
    for package in PACKAGES:
        for path in (root / package).rglob("*.py"):
            if "migrations" in path.parts:
                continue
            name = ".".join(path.relative_to(root).with_suffix("").parts)
            found[name.removesuffix(".__init__")] = path
    return found


def _type_checking(test: ast.expr) -> bool:
    return (isinstance(test, ast.Name) and test.id == "TYPE_CHECKING") or (
        isinstance(test, ast.Attribute) and test.attr == "TYPE_CHECKING"
    )


def module_level_imports(path: Path, name: str, known: set[str]) -> set[str]:
    names: set[str] = set()

    def visit(body: list[ast.stmt]) -> None:
        for node in body:
            if isinstance(node, ast.If) and not _type_checking(node.test):
                visit(node.body)
                visit(node.orelse)
            elif isinstance(node, ast.Try):
                visit(node.body)
                for handler in node.handlers:
                    visit(handler.body)
                visit(node.orelse)
                visit(node.finalbody)
            elif isinstance(node, ast.Import):
                names.update(alias.name for alias in node.names)
            elif isinstance(node, ast.ImportFrom):
                base = node.module or ""
                if node.level:
                    package = name.split(".")
                    if path.name != "__init__.py":
                        package = package[:-1]
                    package = package[: len(package) - (node.level - 1)]
                    base = ".".join([*package, base] if base else package)
                names.add(base)
                names.update(f"{base}.{alias.name}" for alias in node.names)

    visit(ast.parse(path.read_text(), filename=str(path)).body)
    resolved: set[str] = set()
    for imported in names:
        parts = imported.split(".")
        for end in range(len(parts), 0, -1):
            candidate = ".".join(parts[:end])
            if candidate in known:
                resolved.add(candidate)
                break
    resolved.discard(name)
    return resolved


def circles(root: Path) -> list[list[str]]:
    """Every group of modules that import each other at module level (Tarjan's SCC)."""
    found = modules(root)
    graph = {name: module_level_imports(path, name, set(found)) for name, path in found.items()}
    index: dict[str, int] = {}
    low: dict[str, int] = {}
    stack: list[str] = []
    on_stack: set[str] = set()
    groups: list[list[str]] = []

    def strong(v: str) -> None:
        index[v] = low[v] = len(index)
        stack.append(v)
        on_stack.add(v)
        for w in sorted(graph[v]):
            if w not in index:
                strong(w)
                low[v] = min(low[v], low[w])
            elif w in on_stack:
                low[v] = min(low[v], index[w])
        if low[v] == index[v]:
            group = []
            while True:
                w = stack.pop()
                on_stack.discard(w)
                group.append(w)
                if w == v:
                    break
            if len(group) > 1:
                groups.append(sorted(group))

    for v in sorted(graph):
        if v not in index:
            strong(v)
    return groups


@pytest.mark.parametrize("package", CHECKED)
def test_it_finds_no_module_level_import_circle_through(package: str) -> None:
    through = [g for g in circles(ROOT) if any(m.split(".")[0] == package for m in g)]
    assert through == []


def test_it_notices_a_circle_and_ignores_lazy_and_type_checking_imports(tmp_path: Path) -> None:
    acme = tmp_path / "providers" / "acme"
    acme.mkdir(parents=True)
    (tmp_path / "kyc").mkdir()
    (tmp_path / "portal").mkdir()
    (tmp_path / "providers" / "__init__.py").write_text("")
    (acme / "__init__.py").write_text("")
    (acme / "provider.py").write_text(
        "from typing import TYPE_CHECKING\n"
        "if TYPE_CHECKING:\n    from providers.acme import tasks\n"
        "def hook():\n    from providers.acme import services\n"
    )
    (acme / "services.py").write_text("from providers.acme.provider import hook\n")
    (acme / "tasks.py").write_text("from . import views\n")
    (acme / "views.py").write_text("from providers.acme import tasks\n")
    assert circles(tmp_path) == [["providers.acme.tasks", "providers.acme.views"]]
