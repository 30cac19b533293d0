"""Stop at once, naming what to start, when PostgreSQL or Redis is not reachable.

The test suite never silently falls back to SQLite or an in-memory broker.
"""

from __future__ import annotations

import os
import socket
import sys
from urllib.parse import urlsplit

DEFAULT_DB = "postgres://postgres@127.0.0.1:5432/portal"
DEFAULT_REDIS = "redis://127.0.0.1:6379/0"


def reachable(url: str, default_port: int) -> tuple[bool, str]:
    parts = urlsplit(url)
    host, port = parts.hostname or "127.0.0.1", parts.port or default_port
    try:
        with socket.create_connection((host, port), timeout=2):
            return True, f"{host}:{port}"
    except OSError as exc:
        return False, f"{host}:{port} ({exc.strerror or exc})"


def main() -> int:
    db = os.environ.get("DATABASE_URL", DEFAULT_DB)
    redis = os.environ.get("REDIS_URL", DEFAULT_REDIS)
    problems = []
    ok, where = reachable(db, 5432)
    if not ok:
        problems.append(
            f"PostgreSQL is not reachable at {where}. Start it (e.g. "
            "`pg_ctlcluster --skip-systemctl-redirect $(ls /etc/postgresql) main start`) or set DATABASE_URL."
        )
    ok, where = reachable(redis, 6379)
    if not ok:
        problems.append(
            f"Redis is not reachable at {where}. Start it (e.g. `redis-server --daemonize yes`) or set REDIS_URL."
        )
    for p in problems:
        print(f"make test: {p}", file=sys.stderr)
    return 1 if problems else 0


if __name__ == "__main__":
    sys.exit(main())
