"""Run a command (the test suite) with the chromium, PostgreSQL and Redis it needs.

    python scripts/with_services.py -- python -m pytest ...

`make test` goes through this, so a fresh clone on a bare machine needs no other command:

- chromium: when `chromium` is missing, root installs Debian's `chromium` package with
  apt-get; anyone else gets a message naming the package and the run stops.
- PostgreSQL / Redis, each on its own:
  - DATABASE_URL / REDIS_URL set: used as they are, never a fallback (an unreachable
    server stops the run with a message naming it);
  - else, if something answers at the local default (127.0.0.1:5432 / 127.0.0.1:6379),
    it is used, as before;
  - else a throwaway server is started from the installed binaries (pg_ctl from
    /usr/lib/postgresql/*/bin, redis-server) on a free port, with the executors of
    pytest-postgresql and pytest-redis, and stopped, its data removed, when the command
    ends, fails or is interrupted (Ctrl-C, SIGTERM). Root installs the missing server
    package (`postgresql`, `redis-server`) with apt-get first.
  The URLs are exported before the command starts, so pytest-django's settings, the
  Celery worker subprocesses and the live servers all see the same servers.

TEST_PG_DEFAULT_PORT / TEST_REDIS_DEFAULT_PORT move the "local default" probe to another
port: the tests use them to play a bare machine without stopping the shared servers.
"""

from __future__ import annotations

import contextlib
import os
import pwd
import re
import shutil
import signal
import socket
import subprocess
import sys
import tempfile
import time
from collections.abc import Callable, Iterator, Mapping, Sequence
from dataclasses import dataclass
from pathlib import Path
from types import FrameType
from typing import Any
from urllib.parse import urlsplit

ROOT = Path(__file__).resolve().parent.parent
SERVICES_DIR = ROOT / "var" / "test-services"

CHROMIUM_PACKAGE = "chromium"
GETTEXT_PACKAGE = "gettext"  # msgfmt / xgettext: the customer page's translations
POSTGRES_PACKAGE = "postgresql"
REDIS_PACKAGE = "redis-server"

DB_NAME = "portal"  # what tests/settings.py's default URL names; pytest-django adds test_
# A throwaway cluster: durability buys nothing, speed does.
FAST_POSTGRES = "-c fsync=off -c synchronous_commit=off -c full_page_writes=off"


class SetupError(Exception):
    """What the machine lacks, worded for the person who ran `make test`."""


def say(message: str) -> None:
    print(f"make test: {message}", file=sys.stderr, flush=True)


def is_root() -> bool:
    return os.geteuid() == 0


def apt_install(packages: Sequence[str]) -> None:
    """Install Debian packages (root only); a failure names them."""
    say(f"installing {', '.join(packages)} with apt-get")
    env = dict(os.environ, DEBIAN_FRONTEND="noninteractive")
    for cmd in (
        ["apt-get", "update", "-qq"],
        ["apt-get", "install", "-y", "-qq", *packages],
    ):
        if subprocess.run(cmd, env=env, check=False).returncode != 0:
            raise SetupError(f"`{' '.join(cmd)}` failed: install {', '.join(packages)} by hand")


def answers(host: str, port: int, timeout: float = 2.0) -> bool:
    try:
        with socket.create_connection((host, port), timeout=timeout):
            return True
    except OSError:
        return False


def _version_key(path: Path) -> tuple[int, ...]:
    # /usr/lib/postgresql/<version>/bin/pg_ctl: the newest installed major wins.
    return tuple(int(n) for n in re.findall(r"\d+", path.parent.parent.name))


def find_pg_ctl() -> str | None:
    """pg_ctl of the newest PostgreSQL in /usr/lib/postgresql (Debian keeps it off PATH)."""
    found = sorted(Path("/usr/lib/postgresql").glob("*/bin/pg_ctl"), key=_version_key)
    if found:
        return str(found[-1])
    return shutil.which("pg_ctl")


def find_redis_server() -> str | None:
    return shutil.which("redis-server") or (
        "/usr/bin/redis-server" if Path("/usr/bin/redis-server").exists() else None
    )


@dataclass(frozen=True)
class Choice:
    """Where one service comes from: `url` to use as is, or None to start one."""

    url: str | None
    why: str


def choose(
    environ: Mapping[str, str],
    *,
    var: str,
    default_port_var: str,
    default_port: int,
    default_url: Callable[[int], str],
    label: str,
    probe: Callable[[str, int], bool] = answers,
) -> Choice:
    """Set URL: use it (stop if it does not answer); else the local default; else start one."""
    if environ.get(var):
        url = environ[var]
        parts = urlsplit(url)
        host, port = parts.hostname or "127.0.0.1", parts.port or default_port
        if not probe(host, port):
            raise SetupError(
                f"{var} is set but nothing answers at {host}:{port}. Start that {label} "
                f"server, or unset {var} to let make test start a throwaway one."
            )
        return Choice(url, f"{var} ({host}:{port})")
    port = int(environ.get(default_port_var) or default_port)
    if probe("127.0.0.1", port):
        return Choice(default_url(port), f"the local {label} at 127.0.0.1:{port}")
    return Choice(None, f"nothing answers at 127.0.0.1:{port}: a throwaway {label} server")


def choose_postgres(environ: Mapping[str, str], **kw: object) -> Choice:
    return choose(
        environ,
        var="DATABASE_URL",
        default_port_var="TEST_PG_DEFAULT_PORT",
        default_port=5432,
        default_url=lambda port: f"postgres://postgres@127.0.0.1:{port}/{DB_NAME}",
        label="PostgreSQL",
        **kw,  # type: ignore[arg-type]
    )


def choose_redis(environ: Mapping[str, str], **kw: object) -> Choice:
    return choose(
        environ,
        var="REDIS_URL",
        default_port_var="TEST_REDIS_DEFAULT_PORT",
        default_port=6379,
        default_url=lambda port: f"redis://127.0.0.1:{port}/0",
        label="Redis",
        **kw,  # type: ignore[arg-type]
    )


def missing_packages(
    *,
    chromium: bool,
    postgres: bool,
    redis: bool,
    root: bool,
) -> list[str]:
    """The Debian packages this run needs and lacks; raises for a non-root user."""
    needed = []
    if chromium and not shutil.which("chromium"):
        needed.append(CHROMIUM_PACKAGE)
    if postgres and not find_pg_ctl():
        needed.append(POSTGRES_PACKAGE)
    if redis and not find_redis_server():
        needed.append(REDIS_PACKAGE)
    if needed and not root:
        raise SetupError(
            f"missing Debian package(s): {' '.join(needed)}. Install them "
            f"(`sudo apt-get install {' '.join(needed)}`), or run make test as root and it "
            "installs them; set DATABASE_URL / REDIS_URL to use servers you already have."
        )
    return needed


def free_port() -> int:
    import port_for

    return int(port_for.select_random())


def _server_user() -> pwd.struct_passwd:
    """PostgreSQL refuses to run as root: as root, run it as `postgres` (else `nobody`)."""
    for name in ("postgres", "nobody"):
        with contextlib.suppress(KeyError):
            return pwd.getpwnam(name)
    raise SetupError("running as root, and there is no `postgres` user to run PostgreSQL as")


class ThrowawayPostgres:
    """A fresh cluster (trust auth, user postgres) on a free port; removed on stop."""

    def __init__(self, pg_ctl: str, port: int | None = None, base: Path = SERVICES_DIR) -> None:
        from pytest_postgresql.executors import PostgreSQLExecutor

        self.port = port or free_port()
        if is_root():
            # var/ is 0700 by design (portal/settings.py) and the server user cannot enter
            # it, so as root the cluster lives in a private temporary directory it owns.
            user = _server_user()
            self.dir = Path(tempfile.mkdtemp(prefix=f"portal-test-pg-{self.port}-"))
            os.chown(self.dir, user.pw_uid, user.pw_gid)
            wrapper = self.dir / "pg_ctl"
            wrapper.write_text(f'#!/bin/sh\nexec runuser -u {user.pw_name} -- {pg_ctl} "$@"\n')
            wrapper.chmod(0o755)
            pg_ctl = str(wrapper)
        else:
            base.mkdir(parents=True, exist_ok=True)
            self.dir = Path(tempfile.mkdtemp(prefix=f"pg-{self.port}-", dir=base))
        self.logfile = self.dir / "postgresql.log"
        self.executor = PostgreSQLExecutor(
            executable=pg_ctl,
            host="127.0.0.1",
            port=self.port,
            datadir=str(self.dir / "data"),
            unixsocketdir=str(self.dir),
            logfile=str(self.logfile),
            startparams="-w",
            dbname=DB_NAME,
            user="postgres",
            postgres_options=FAST_POSTGRES,
        )

    @property
    def url(self) -> str:
        return f"postgres://postgres@127.0.0.1:{self.port}/{DB_NAME}"

    def start(self) -> ThrowawayPostgres:
        try:
            self.executor.start()
        except Exception as exc:
            tail = self.logfile.read_text(errors="replace")[-2000:] if self.logfile.exists() else ""
            self.stop()
            raise SetupError(f"the throwaway PostgreSQL did not start: {exc}\n{tail}") from exc
        with self._connect() as conn:
            conn.execute(f'CREATE DATABASE "{DB_NAME}"')
        return self

    def _connect(self, timeout: float = 30.0) -> Any:
        """The port answers before the server accepts sessions ("the database system is
        starting up"): retry until it does."""
        import psycopg

        deadline = time.monotonic() + timeout
        while True:
            try:
                return psycopg.connect(
                    host="127.0.0.1",
                    port=self.port,
                    user="postgres",
                    dbname="postgres",
                    autocommit=True,
                    connect_timeout=5,
                )
            except psycopg.OperationalError:
                if time.monotonic() > deadline:
                    raise
                time.sleep(0.1)

    def stop(self) -> None:
        with contextlib.suppress(Exception):
            if self.executor.running():
                self.executor.stop()
        shutil.rmtree(self.dir, ignore_errors=True)


class ThrowawayRedis:
    """A redis-server on a free port, nothing persisted; removed on stop."""

    def __init__(
        self, redis_server: str, port: int | None = None, base: Path = SERVICES_DIR
    ) -> None:
        from pytest_redis.executor import RedisExecutor

        self.port = port or free_port()
        base.mkdir(parents=True, exist_ok=True)
        self.dir = Path(tempfile.mkdtemp(prefix=f"redis-{self.port}-", dir=base))
        self.executor = RedisExecutor(
            executable=redis_server,
            databases=16,
            redis_timeout=0,
            loglevel="warning",
            host="127.0.0.1",
            port=self.port,
            datadir=self.dir,
        )

    @property
    def url(self) -> str:
        return f"redis://127.0.0.1:{self.port}/0"

    def start(self) -> ThrowawayRedis:
        try:
            self.executor.start()
        except Exception as exc:
            self.stop()
            raise SetupError(f"the throwaway Redis did not start: {exc}") from exc
        return self

    def stop(self) -> None:
        with contextlib.suppress(Exception):
            if self.executor.running():
                self.executor.stop()
        shutil.rmtree(self.dir, ignore_errors=True)


def _alive(pidfile: Path) -> bool:
    try:
        os.kill(int(pidfile.read_text().split()[0]), 0)
    except (OSError, ValueError, IndexError):
        return False
    return True


def sweep_leftovers(min_age: float = 600.0) -> None:
    """Remove the data of throwaway servers whose run was killed (SIGKILL skips `stop`).

    Only directories older than `min_age` with no live server: a concurrent run's
    directory is either young (still starting) or has its server's pid file.
    """
    dirs = [*SERVICES_DIR.glob("pg-*"), *SERVICES_DIR.glob("redis-*")]
    dirs += Path(tempfile.gettempdir()).glob("portal-test-pg-*")
    for d in dirs:
        with contextlib.suppress(OSError):
            if time.time() - d.stat().st_mtime < min_age:
                continue
            pidfiles = [d / "data" / "postmaster.pid", *d.glob("redis-server.*.pid")]
            if not any(_alive(f) for f in pidfiles if f.exists()):
                shutil.rmtree(d, ignore_errors=True)


@contextlib.contextmanager
def services(
    environ: Mapping[str, str], *, chromium: bool = True, root: bool | None = None
) -> Iterator[dict[str, str]]:
    """The environment to run the tests in; throwaway servers live until the block ends."""
    root = is_root() if root is None else root
    pg, rd = choose_postgres(environ), choose_redis(environ)
    needed = missing_packages(
        chromium=chromium, postgres=pg.url is None, redis=rd.url is None, root=root
    )
    if needed:
        apt_install(needed)
    env = dict(environ)
    if pg.url is None or rd.url is None:
        sweep_leftovers()
    with contextlib.ExitStack() as stack:
        env["DATABASE_URL"] = pg.url or _throwaway(
            stack, ThrowawayPostgres, find_pg_ctl, "pg_ctl", POSTGRES_PACKAGE
        )
        env["REDIS_URL"] = rd.url or _throwaway(
            stack, ThrowawayRedis, find_redis_server, "redis-server", REDIS_PACKAGE
        )
        say(f"PostgreSQL: {pg.why} ({env['DATABASE_URL']})")
        say(f"Redis: {rd.why} ({env['REDIS_URL']})")
        yield env


def _throwaway(
    stack: contextlib.ExitStack,
    server: Callable[[str], Any],
    find: Callable[[], str | None],
    binary: str,
    package: str,
) -> str:
    """Start a throwaway server from its binary (stopped when `stack` closes); its URL."""
    path = find()
    if not path:
        raise SetupError(f"no {binary} after installing {package}")
    started = server(path)
    stack.callback(started.stop)
    return str(started.start().url)


def compile_translations(*, root: bool) -> None:
    """locale/*/django.po -> .mo before the tests (the .mo files are committed too, so a
    run without GNU gettext still has them; the translation tests then ask for it)."""
    if not shutil.which("msgfmt"):
        if not root:
            say(f"msgfmt not found (Debian package {GETTEXT_PACKAGE}): committed .mo files used")
            return
        apt_install([GETTEXT_PACKAGE])
    ignore = ("--ignore=.venv", "--ignore=var", "--ignore=mutants")  # not other locale/ dirs
    # No settings module: compiling needs none (it finds ./locale), and the project's
    # settings would ask for a SECRET_KEY once DATABASE_URL is set.
    env = {k: v for k, v in os.environ.items() if k != "DJANGO_SETTINGS_MODULE"}
    subprocess.run(
        [sys.executable, "-m", "django", "compilemessages", *ignore, "-v0"],
        cwd=ROOT,
        env=env,
        check=True,
    )


class _Terminated(Exception):
    pass


def _raise_terminated(signum: int, frame: FrameType | None) -> None:
    raise _Terminated()


def run(command: Sequence[str], env: Mapping[str, str]) -> int:
    """Run the command to its end. On Ctrl-C it got the signal too (same process group):
    give it time to tear its own workers down; on SIGTERM pass the signal on."""
    proc = subprocess.Popen(list(command), env=dict(env))
    try:
        return proc.wait()
    except (KeyboardInterrupt, _Terminated) as exc:
        if isinstance(exc, _Terminated):
            proc.terminate()
        try:
            proc.wait(timeout=30)
        except (subprocess.TimeoutExpired, KeyboardInterrupt):
            proc.kill()
            proc.wait()
        return 130 if isinstance(exc, KeyboardInterrupt) else 143


def main(argv: Sequence[str]) -> int:
    command = list(argv[1:] if argv and argv[0] == "--" else argv)
    if not command:
        say("usage: with_services.py -- <command> [args...]")
        return 2
    # SIGTERM / SIGHUP (CI cancelling, terminal closed) still stop the servers.
    signal.signal(signal.SIGTERM, _raise_terminated)
    signal.signal(signal.SIGHUP, _raise_terminated)
    try:
        compile_translations(root=is_root())
        with services(os.environ) as env:
            return run(command, env)
    except SetupError as exc:
        say(str(exc))
        return 2
    except (KeyboardInterrupt, _Terminated):
        return 130


if __name__ == "__main__":
    sys.exit(main(sys.argv[1:]))
