"""`make test` on a bare machine: throwaway PostgreSQL / Redis, chromium, and set URLs.

The "bare machine" is played by pointing the local-default probe (TEST_PG_DEFAULT_PORT,
TEST_REDIS_DEFAULT_PORT) at ports where nothing listens: the machine's shared servers
are never stopped.
"""

from __future__ import annotations

import os
import re
import signal
import subprocess
import sys
import time
from pathlib import Path
from typing import Any
from urllib.parse import urlsplit

import psycopg
import pytest
import redis
from django.conf import settings

from scripts import with_services
from scripts.with_services import SetupError, answers, free_port

ROOT = Path(__file__).resolve().parents[2]


def bare_machine_env() -> dict[str, str]:
    """This environment, minus the URLs, with the local defaults moved to silent ports."""
    env = {k: v for k, v in os.environ.items() if k not in {"DATABASE_URL", "REDIS_URL"}}
    env["TEST_PG_DEFAULT_PORT"] = str(free_port())
    env["TEST_REDIS_DEFAULT_PORT"] = str(free_port())
    return env


def wrapped(urls: Path, then: str) -> dict[str, Any]:
    """How subprocess starts `make test`'s wrapper on the bare machine, around a shell
    that writes the URLs it was given to `urls`, then runs `then`."""
    args = [
        sys.executable,
        "scripts/with_services.py",
        "--",
        "sh",
        "-c",
        f'echo "$DATABASE_URL $REDIS_URL" > {urls}; {then}',
    ]
    return {"args": args, "cwd": ROOT, "env": bare_machine_env()}


def port_of(url: str) -> int:
    port = urlsplit(url).port
    assert port is not None
    return port


def leftovers(port: int) -> list[Path]:
    """Directories a throwaway server on `port` left (under var/ or, as root, /tmp)."""
    return [
        *with_services.SERVICES_DIR.glob(f"*-{port}-*"),
        *Path("/tmp").glob(f"portal-test-pg-{port}-*"),
    ]


def test_it_starts_throwaway_servers_on_free_ports_and_stops_them_afterwards() -> None:
    env = bare_machine_env()
    with with_services.services(env, chromium=False) as run_env:
        db_url, redis_url = run_env["DATABASE_URL"], run_env["REDIS_URL"]
        db_port, redis_port = port_of(db_url), port_of(redis_url)
        assert db_port not in (5432, int(env["TEST_PG_DEFAULT_PORT"]))
        assert redis_port not in (6379, int(env["TEST_REDIS_DEFAULT_PORT"]))
        with psycopg.connect(db_url, autocommit=True) as conn:
            # The database the settings name exists, and the user may create test databases.
            assert conn.execute("select current_database()").fetchone() == ("portal",)
            conn.execute("create database portal_probe")
        client = redis.Redis.from_url(redis_url)
        assert client.set("probe", "1") and client.get("probe") == b"1"
        client.close()
        assert leftovers(db_port) and leftovers(redis_port)
    assert not answers("127.0.0.1", db_port), "the throwaway PostgreSQL is still running"
    assert not answers("127.0.0.1", redis_port), "the throwaway Redis is still running"
    assert not leftovers(db_port) and not leftovers(redis_port), "its data was not removed"


def test_it_uses_set_urls_and_never_falls_back_to_a_throwaway_server() -> None:
    env = bare_machine_env()
    silent = free_port()
    env["DATABASE_URL"] = f"postgres://postgres@127.0.0.1:{silent}/portal"
    with pytest.raises(
        SetupError, match=f"DATABASE_URL is set but nothing answers at 127.0.0.1:{silent}"
    ):
        with with_services.services(env, chromium=False):
            pytest.fail("a run started without the server DATABASE_URL names")

    env = bare_machine_env()
    env["REDIS_URL"] = settings.REDIS_URL
    with with_services.services(env, chromium=False) as run_env:
        assert run_env["REDIS_URL"] == settings.REDIS_URL


def test_it_uses_the_local_default_when_it_answers() -> None:
    db_port = int(settings.DATABASES["default"]["PORT"] or 5432)
    redis_port = port_of(settings.REDIS_URL)
    env = bare_machine_env()
    env["TEST_PG_DEFAULT_PORT"], env["TEST_REDIS_DEFAULT_PORT"] = str(db_port), str(redis_port)
    pg, rd = with_services.choose_postgres(env), with_services.choose_redis(env)
    assert pg.url == f"postgres://postgres@127.0.0.1:{db_port}/portal"
    assert rd.url == f"redis://127.0.0.1:{redis_port}/0"


def test_it_names_the_missing_package_unless_root_can_install_it(monkeypatch) -> None:
    monkeypatch.setattr(with_services.shutil, "which", lambda name: None)
    with pytest.raises(SetupError, match=r"sudo apt-get install chromium"):
        with_services.missing_packages(chromium=True, postgres=False, redis=False, root=False)
    assert with_services.missing_packages(
        chromium=True, postgres=False, redis=False, root=True
    ) == ["chromium"]


def test_it_stops_the_servers_when_the_run_is_interrupted(tmp_path) -> None:
    urls = tmp_path / "urls"
    proc = subprocess.Popen(
        **wrapped(urls, "sleep 60"),
        start_new_session=True,  # its own group, so Ctrl-C can be played on it alone
        stdout=subprocess.PIPE,
        stderr=subprocess.STDOUT,
        text=True,
    )
    try:
        deadline = time.time() + 60
        while time.time() < deadline and not urls.exists():
            assert proc.poll() is None, proc.communicate()[0]
            time.sleep(0.2)
        db_url, redis_url = urls.read_text().split()
        assert answers("127.0.0.1", port_of(db_url)) and answers("127.0.0.1", port_of(redis_url))
        os.killpg(proc.pid, signal.SIGINT)  # what Ctrl-C sends the foreground group
        out, _ = proc.communicate(timeout=60)
    finally:
        if proc.poll() is None:
            proc.kill()
    assert proc.returncode != 0
    assert re.search(r"throwaway PostgreSQL", out), out
    assert not answers("127.0.0.1", port_of(db_url)), "PostgreSQL outlived the interrupted run"
    assert not answers("127.0.0.1", port_of(redis_url)), "Redis outlived the interrupted run"
    assert not leftovers(port_of(db_url)) and not leftovers(port_of(redis_url))


def test_it_passes_on_the_commands_failure_and_still_stops_the_servers(tmp_path) -> None:
    urls = tmp_path / "urls"
    done = subprocess.run(
        **wrapped(urls, "exit 3"),
        capture_output=True,
        text=True,
        timeout=120,
    )
    assert done.returncode == 3, done.stderr
    db_url, redis_url = urls.read_text().split()
    assert not answers("127.0.0.1", port_of(db_url))
    assert not answers("127.0.0.1", port_of(redis_url))


def test_it_sweeps_the_data_of_killed_runs_but_not_of_live_servers(tmp_path, monkeypatch) -> None:
    services_dir, tmp = tmp_path / "var-test-services", tmp_path / "tmp"
    monkeypatch.setattr(with_services, "SERVICES_DIR", services_dir)
    monkeypatch.setattr(with_services.tempfile, "gettempdir", lambda: str(tmp))
    dead_pid = 2**22 + 1  # above Linux's highest possible pid_max: never a live process
    killed_pg = tmp / "portal-test-pg-1111-x" / "data"
    live_pg = tmp / "portal-test-pg-2222-x" / "data"
    killed_redis = services_dir / "redis-3333-x"
    live_redis = services_dir / "redis-4444-x"
    young = services_dir / "pg-5555-x"  # a concurrent run still starting: no pid file yet
    for d in (killed_pg, live_pg, killed_redis, live_redis, young):
        d.mkdir(parents=True)
    (killed_pg / "postmaster.pid").write_text(f"{dead_pid}\n/data\n")
    (live_pg / "postmaster.pid").write_text(f"{os.getpid()}\n/data\n")
    (killed_redis / "redis-server.3333.pid").write_text(f"{dead_pid}\n")
    (live_redis / "redis-server.4444.pid").write_text(f"{os.getpid()}\n")
    old = time.time() - 3600
    for d in (killed_pg.parent, live_pg.parent, killed_redis, live_redis):
        os.utime(d, (old, old))

    with_services.sweep_leftovers()

    assert not killed_pg.parent.exists() and not killed_redis.exists()
    assert live_pg.exists() and live_redis.exists() and young.exists()
