"""`make run`: migrate, load the demo, then run web + Celery worker + beat together.

Embedded defaults (SQLite and an on-disk broker under var/, private: 0700/0600)
unless DATABASE_URL / REDIS_URL are set. Ctrl-C (or SIGTERM) stops every process this started.
"""

from __future__ import annotations

import os
import shutil
import signal
import subprocess
import sys
import time
from pathlib import Path

ROOT = Path(__file__).resolve().parent.parent
PY = sys.executable
# Compiling the translations needs no settings module (it finds ./locale); it walks the
# tree for locale/ folders, not into the venv, var/ or mutants/.
COMPILE = (sys.executable, "-m", "django", "compilemessages")
COMPILE_ARGS = ("--ignore=.venv", "--ignore=var", "--ignore=mutants", "-v0")


def worker_command(queue: str, *, name: str) -> list[str]:
    """A Celery worker that takes one queue (two threads), as `make run` starts each."""
    celery = [PY, "-m", "celery", "-A", "portal", "worker", "-l", "INFO"]
    return [*celery, "-Q", queue, "-n", f"{name}@%h", "--concurrency", "2", "--pool", "threads"]


def main() -> int:
    # Everything this and its children create (SQLite file and its WAL, broker and
    # cache files, the dev key, the demo key) is readable by this user only.
    os.umask(0o077)
    port = os.environ.get("PORT", "8000")
    env = dict(os.environ)
    env.setdefault("PUBLIC_URL", f"http://127.0.0.1:{port}")
    env.setdefault("DJANGO_SETTINGS_MODULE", "portal.settings")
    # /metrics adds up every process's figures (web, workers) from files here, emptied at start.
    var_dir = Path(env.get("VAR_DIR") or ROOT / "var")
    metrics_dir = Path(env.setdefault("PROMETHEUS_MULTIPROC_DIR", str(var_dir / "metrics")))
    shutil.rmtree(metrics_dir, ignore_errors=True)
    metrics_dir.mkdir(parents=True, exist_ok=True)
    subprocess.run([PY, "manage.py", "migrate", "--noinput", "-v0"], cwd=ROOT, env=env, check=True)
    if shutil.which("msgfmt"):  # else the committed .mo files (locale/) serve as they are
        no_settings = {k: v for k, v in env.items() if k != "DJANGO_SETTINGS_MODULE"}
        subprocess.run([*COMPILE, *COMPILE_ARGS], cwd=ROOT, env=no_settings, check=True)
    subprocess.run([PY, "manage.py", "demo"], cwd=ROOT, env=env, check=True)
    commands = {
        "web": [PY, "manage.py", "runserver", f"127.0.0.1:{port}", "--noreload"],
        "worker": worker_command("celery", name="worker"),
        # Outgoing webhooks on their own worker: a slow merchant endpoint never holds
        # the worker that does provider work.
        "webhooks": worker_command("webhooks", name="webhooks"),
        "beat": [PY, "-m", "celery", "-A", "portal", "beat", "-l", "INFO"],
    }
    procs: dict[str, subprocess.Popen] = {}
    for name, cmd in commands.items():
        procs[name] = subprocess.Popen(cmd, cwd=ROOT, env=env, start_new_session=True)
    print(
        f"\nPortal running at {env['PUBLIC_URL']}/  (Ctrl-C stops web, workers and beat)\n",
        flush=True,
    )

    def stop(*_: object) -> None:
        for p in procs.values():
            if p.poll() is None:
                os.killpg(p.pid, signal.SIGTERM)
        deadline = time.time() + 10
        for p in procs.values():
            try:
                p.wait(timeout=max(0.1, deadline - time.time()))
            except subprocess.TimeoutExpired:
                os.killpg(p.pid, signal.SIGKILL)

    def on_signal(*_: object) -> None:
        stop()
        sys.exit(0)

    # Explicit handlers: a shell's background job inherits SIGINT as ignored, and
    # Python then installs no KeyboardInterrupt handler of its own.
    signal.signal(signal.SIGTERM, on_signal)
    signal.signal(signal.SIGINT, on_signal)
    try:
        while True:
            for name, p in procs.items():
                if p.poll() is not None:
                    print(
                        f"{name} exited with {p.returncode}; stopping the others.", file=sys.stderr
                    )
                    stop()
                    return p.returncode or 1
            time.sleep(0.5)
    except KeyboardInterrupt:
        stop()
        return 0


if __name__ == "__main__":
    sys.exit(main())
