"""A provider's wire modules speak plain data: dataclasses in and out, typed errors.

They import no Django (no settings, no ORM, no request objects) and none of the
provider's Django side (models, services, tasks, views, provider class), so they can
be read, tested and reused without the portal. The outbound HTTP policy
(kyc.http) is the one shared door to the network they go through.
The imports are read from the source (AST), so a lazy import inside a function counts too.
"""

from __future__ import annotations

import ast
from pathlib import Path

import pytest

ROOT = Path(__file__).resolve().parents[2]
PROVIDERS = ROOT / "providers"

# Wire modules by name, in every provider folder that has them.
WIRE_NAMES = ("client.py", "schemas.py", "signature.py", "coreid.py", "items.py")
# What a wire module may import from the project besides its own provider's wire modules.
ALLOWED_PROJECT = ("kyc.http", "kyc.errors", "kyc.contract")


def wire_modules() -> list[Path]:
    return sorted(
        p
        for name in WIRE_NAMES
        for p in PROVIDERS.glob(f"*/{name}")
        if p.parent.name != "__pycache__"
    )


def imported(path: Path) -> set[str]:
    tree = ast.parse(path.read_text(), filename=str(path))
    names: set[str] = set()
    for node in ast.walk(tree):
        if isinstance(node, ast.Import):
            names.update(alias.name for alias in node.names)
        elif isinstance(node, ast.ImportFrom) and node.level == 0 and node.module:
            # `from kyc import http` names the module kyc.http.
            names.update(f"{node.module}.{alias.name}" for alias in node.names)
            names.add(node.module)
        elif isinstance(node, ast.ImportFrom):
            raise AssertionError(f"{path}: relative import; spell the module out")
    return names


def offending(path: Path) -> list[str]:
    own = f"providers.{path.parent.name}."
    own_wire = {own + n.removesuffix(".py") for n in WIRE_NAMES}
    bad = []
    for name in sorted(imported(path)):
        top = name.split(".")[0]
        if top == "django" or top == "rest_framework":
            bad.append(name)
        elif top in ("kyc", "portal", "providers"):
            if name in ("kyc", "providers", "portal"):
                continue  # the package itself (`from kyc import http`): its members are checked
            ok = any(name == a or name.startswith(a + ".") for a in ALLOWED_PROJECT)
            ok = ok or any(name == w or name.startswith(w + ".") for w in own_wire)
            ok = ok or name == own.rstrip(".")
            if not ok:
                bad.append(name)
    return bad


def test_it_finds_the_wire_modules_of_every_provider() -> None:
    found = {p.parent.name for p in wire_modules() if p.name == "client.py"}
    assert {"blockpass", "corepass", "incode", "portmone", "sunbird"} <= found


@pytest.mark.parametrize("path", wire_modules(), ids=lambda p: str(p.relative_to(ROOT)))
def test_it_keeps_django_out_of_wire_modules(path: Path) -> None:
    assert offending(path) == []


def test_it_notices_a_wire_module_that_imports_django(tmp_path: Path) -> None:
    folder = tmp_path / "acme"
    folder.mkdir()
    module = folder / "client.py"
    module.write_text(
        "from django.conf import settings\n"
        "from providers.acme import schemas\n"
        "from providers.acme.services import x\n"
        "def f():\n    from kyc.models import KYCRecord\n"
    )
    assert offending(module) == [
        "django.conf",
        "django.conf.settings",
        "kyc.models",
        "kyc.models.KYCRecord",
        "providers.acme.services",
        "providers.acme.services.x",
    ]
