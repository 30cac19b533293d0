"""`make bench`: start a production-like stack on 127.0.0.1, load it, print one table.

    make bench                          # everything, about 12-15 minutes on 2 cores
    make bench BENCH_ARGS="--only poll" # one part (poll, webhook, callback, qr, issuance, admin,
                                        # dashboard, outbox)
    make bench BENCH_ARGS="--quick"     # short smoke run of every part

Every figure is a ratio against a baseline served by the same gunicorn workers
in the same run (absolute numbers on a shared machine drift), or a count. Each
load figure is the median of at least 3 runs, with min and max. The table is
printed and written, with every raw run, to var/bench/latest.json.

Environment: BENCH_DATABASE_URL (default: DATABASE_URL's server, database
`<name>_bench`, dropped and recreated), BENCH_REDIS_URL (default: REDIS_URL's
server, database 15, flushed), BENCH_PORT (default: a free port).
"""

from __future__ import annotations

import argparse
import importlib
import json
import os
import platform
import shutil
import signal
import subprocess
import sys
import time
import traceback
from collections.abc import Sequence
from typing import Any

from bench.context import Ctx
from bench.stack import (
    CORES_SHARED_WITH,
    OUT_DIR,
    Stack,
    bench_database_url,
    bench_redis_url,
    flush_redis,
    free_port,
    only_loopback,
    reset_database,
    stack_env,
)
from bench.stats import Figure, Summary, table

PARTS: tuple[str, ...] = (
    "poll",
    "webhook",
    "callback",
    "qr",
    "issuance",
    "admin",
    "dashboard",
    "outbox",
)
BUDGET_SECONDS = 15 * 60


def parse_args(argv: Sequence[str]) -> argparse.Namespace:
    p = argparse.ArgumentParser(prog="python -m bench.run", description=__doc__.split("\n")[0])
    p.add_argument(
        "--only",
        action="append",
        metavar="PART",
        help=f"run only this part: {', '.join(PARTS)} (repeatable, or comma-separated)",
    )
    p.add_argument("--quick", action="store_true", help="short runs: a smoke test of the harness")
    p.add_argument(
        "--profile",
        action="store_true",
        help="profile (py-spy flame graphs) in --quick runs too; full runs always do",
    )
    p.add_argument("--runs", type=int, default=3, help="runs per figure (at least 3)")
    p.add_argument("--seconds", type=float, default=None, help="seconds per load run")
    args = p.parse_args(argv)
    only: list[str] = []
    for item in args.only or []:
        only += [x.strip() for x in item.split(",") if x.strip()]
    unknown = sorted(set(only) - set(PARTS))
    if unknown:
        p.error(f"unknown part(s) {unknown}; choose from {', '.join(PARTS)}")
    args.parts = [p_ for p_ in PARTS if p_ in only] if only else list(PARTS)
    if args.runs < 3:
        p.error("--runs must be at least 3 (medians of fewer runs say nothing)")
    return args


def ensure_wrk() -> None:
    """wrk is Debian's package `wrk`; install it when it is missing and we can."""
    if shutil.which("wrk"):
        return
    apt = shutil.which("apt-get")
    if apt:
        cmd = [apt, "install", "-y", "-q", "wrk"]
        if os.geteuid() != 0 and shutil.which("sudo"):
            cmd = ["sudo", "-n", *cmd]
        print("bench: installing wrk (Debian package)", flush=True)
        subprocess.run(cmd, check=False)
    if not shutil.which("wrk"):
        raise SystemExit("bench: wrk is missing; install it with `apt-get install -y wrk`")


def _terminate(signum: int, frame: Any) -> None:
    # SIGTERM ends the run like Ctrl-C does: the finally block stops the stack.
    raise KeyboardInterrupt


def run_part(name: str, ctx: Ctx) -> list[Figure]:
    module = importlib.import_module(f"bench.parts.{name}")
    t0 = time.perf_counter()
    ctx.log(f"{name}: start")
    try:
        figures: list[Figure] = module.run(ctx)
    except KeyboardInterrupt:
        raise
    except Exception as exc:  # one broken part must not hide the others' figures
        traceback.print_exc()
        figures = [Figure(name, None, note=f"error: {type(exc).__name__}: {exc}"[:200])]
    ctx.raw.setdefault("elapsed", {})[name] = round(time.perf_counter() - t0, 1)
    ctx.log(f"{name}: done in {time.perf_counter() - t0:.0f}s")
    return figures


def main(argv: Sequence[str] | None = None) -> int:
    args = parse_args(sys.argv[1:] if argv is None else argv)
    ensure_wrk()
    started = time.time()
    db_url = bench_database_url(os.environ)
    redis_url = bench_redis_url(os.environ)
    for url in (db_url, redis_url):
        only_loopback(url)
    port = int(os.environ.get("BENCH_PORT") or free_port())
    env = stack_env(port=port, db_url=db_url, redis_url=redis_url)
    stack = Stack(port=port, env=env)
    ctx = Ctx(
        stack=stack,
        quick=args.quick,
        runs=args.runs,
        seconds=args.seconds or (3.0 if args.quick else 10.0),
        warmup=1.0 if args.quick else 2.0,
        profile_quick=args.profile,
    )
    signal.signal(signal.SIGTERM, _terminate)
    figures: list[Figure] = []
    interrupted = False
    try:
        ctx.log(f"stack: database {db_url.rsplit('/', 1)[-1]}, redis {redis_url}, port {port}")
        reset_database(db_url)
        flush_redis(redis_url)
        stack.manage("migrate", "--noinput", "-v0")
        if {"admin", "dashboard"} & set(args.parts):  # pages that link static files
            stack.manage("collectstatic", "--noinput", "-v0")
        # The orchestrator seeds through the ORM, on the same database and keys as the stack.
        os.environ.update(env)
        import django

        django.setup()
        from django.db import connection

        from bench.views import INSERT_TABLE_SQL

        with connection.cursor() as cursor:
            cursor.execute(INSERT_TABLE_SQL)
        stack.start_web()
        stack.start_sandbox()
        stack.start_worker()
        ctx.log(
            f"stack: gunicorn (2 sync workers) at {stack.base_url}, sandboxes at "
            f"{stack.sandbox_url}, celery up"
        )
        figures.append(
            Figure(
                "measured gunicorn workers",
                Summary.of([2]),
                "sync",
                note=f"on {os.cpu_count()} cores shared with {CORES_SHARED_WITH}",
            )
        )
        for name in args.parts:
            figures += run_part(name, ctx)
            connection.close()
    except KeyboardInterrupt:
        interrupted = True
        print("\nbench: interrupted; stopping the stack", file=sys.stderr)
    finally:
        stack.stop()
        for pool in OUT_DIR.glob("*.pool.*"):  # pre-signed requests: tens of MB, single use
            pool.unlink(missing_ok=True)
    elapsed = time.time() - started
    report = table(figures)
    print()
    print(report)
    print(f"\n{len(args.parts)} part(s) in {elapsed:.0f}s; raw runs in var/bench/latest.json")
    if elapsed > BUDGET_SECONDS:
        print(f"bench: took {elapsed:.0f}s, over the {BUDGET_SECONDS}s budget", file=sys.stderr)
    OUT_DIR.mkdir(parents=True, exist_ok=True)
    result = {
        "started_at": time.strftime("%Y-%m-%dT%H:%M:%SZ", time.gmtime(started)),
        "elapsed_seconds": round(elapsed, 1),
        "quick": args.quick,
        "parts": args.parts,
        "runs": ctx.runs,
        "seconds_per_run": ctx.seconds,
        "interrupted": interrupted,
        "machine": {"cpus": os.cpu_count(), "python": platform.python_version()},
        "figures": [f.as_json() for f in figures],
        "table": report,
        "raw": ctx.raw,
    }
    (OUT_DIR / "latest.json").write_text(json.dumps(result, indent=2, default=str))
    return 130 if interrupted else 0


if __name__ == "__main__":
    sys.exit(main())
