"""Run a snippet under portal.settings in embedded mode (no DATABASE_URL), in a subprocess."""

from __future__ import annotations

import os
import subprocess
import sys
from pathlib import Path

ROOT = Path(__file__).resolve().parents[2]
_DROP = {
    "DATABASE_URL",
    "REDIS_URL",
    "CACHE_URL",
    "DEBUG",
    "SECRET_KEY",
    "FIELD_ENCRYPTION_KEYS",
    "DJANGO_SETTINGS_MODULE",
    "SANDBOX",
    "STAFF_REQUIRE_2FA",
}


def run_embedded(var_dir: Path, code: str, **extra_env: str) -> str:
    env = {k: v for k, v in os.environ.items() if k not in _DROP}
    env.update(VAR_DIR=str(var_dir), DJANGO_SETTINGS_MODULE="portal.settings", **extra_env)
    script = "import django\ndjango.setup()\n" + code
    done = subprocess.run(
        [sys.executable, "-c", script],
        cwd=ROOT,
        env=env,
        capture_output=True,
        text=True,
        timeout=120,
        preexec_fn=lambda: os.umask(0o022),  # the usual umask: files readable by others
    )
    assert done.returncode == 0, done.stderr[-3000:]
    return done.stdout
