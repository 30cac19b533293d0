"""Embedded mode keeps var/ private: the directory 0700, the SQLite file (and its WAL)
and the dev encryption key 0600, also when they existed before with looser modes."""

from __future__ import annotations

import json
import stat
from pathlib import Path

from tests.hardening.embedded import run_embedded

WRITE = """
from django.db import connection
with connection.cursor() as c:
    c.execute("create table if not exists t (x integer)")
    c.execute("insert into t values (1)")
"""


def mode(path: Path) -> int:
    return stat.S_IMODE(path.stat().st_mode)


def test_it_creates_var_and_the_sqlite_file_private(tmp_path) -> None:
    var = tmp_path / "var"
    run_embedded(var, WRITE)
    assert mode(var) == 0o700
    assert mode(var / "portal.sqlite3") == 0o600
    assert mode(var / "dev-field-encryption.key") == 0o600
    for extra in ("portal.sqlite3-wal", "portal.sqlite3-shm"):
        if (var / extra).exists():
            assert mode(var / extra) == 0o600, extra


def test_it_makes_an_existing_open_var_private(tmp_path) -> None:
    var = tmp_path / "var"
    var.mkdir(mode=0o755)
    var.chmod(0o755)
    (var / "portal.sqlite3").touch()
    (var / "portal.sqlite3").chmod(0o644)
    run_embedded(var, WRITE)
    assert mode(var) == 0o700
    assert mode(var / "portal.sqlite3") == 0o600


def test_it_requires_a_second_factor_by_default_only_without_debug(tmp_path) -> None:
    show = "from django.conf import settings\nprint(settings.STAFF_REQUIRE_2FA)"
    assert run_embedded(tmp_path / "a", show).strip() == "False"  # embedded: DEBUG on
    prod = run_embedded(
        tmp_path / "b",
        show,
        DEBUG="false",
        SECRET_KEY="x" * 50,
        FIELD_ENCRYPTION_KEYS="0UqCeqXbfdZDeQyF4nIw6Ov1t3CWqvRd16ja5hF9j8Y=",
    )
    assert prod.strip() == "True"


def embedded_caches(tmp_path: Path) -> dict:
    out = run_embedded(
        tmp_path / "var",
        "import json\nfrom django.conf import settings\nprint(json.dumps(settings.CACHES))",
    )
    return json.loads(out)
