"""What every part of the bench gets: the running stack and the run's shape."""

from __future__ import annotations

import shutil
import subprocess
import sys
import time
from collections import Counter
from collections.abc import Callable, Iterable, Sequence
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any

from bench import cpu
from bench.load import LoadResult, write_pool, wrk
from bench.stack import OUT_DIR, Stack
from bench.stats import Figure, Summary, ratios


@dataclass
class Ctx:
    stack: Stack
    quick: bool
    runs: int = 3
    seconds: float = 10.0
    warmup: float = 2.0
    raw: dict[str, Any] = field(default_factory=dict)
    profile_quick: bool = False  # profile in --quick runs too (--profile)

    @property
    def base_url(self) -> str:
        return self.stack.base_url

    @property
    def sandbox_url(self) -> str:
        """Where the vendors' sandboxes answer: their own process, not the measured one."""
        return self.stack.sandbox_url

    def log(self, message: str) -> None:
        print(f"[bench {time.strftime('%H:%M:%S')}] {message}", flush=True)


@dataclass
class Pair:
    """Interleaved runs of a measured endpoint and its same-run baseline."""

    subject: list[LoadResult]
    baseline: list[LoadResult]

    def ratio(self) -> Summary:
        return Summary.of(ratios([r.rps for r in self.subject], [r.rps for r in self.baseline]))


def paired_runs(
    ctx: Ctx,
    subject: Callable[[float], LoadResult],
    baseline: Callable[[float], LoadResult],
) -> Pair:
    """Warm both up, then `runs` pairs, alternating which goes first so drift cancels out."""
    subject(ctx.warmup)
    baseline(ctx.warmup)
    pair = Pair([], [])
    for i in range(ctx.runs):
        if i % 2 == 0:
            pair.baseline.append(baseline(ctx.seconds))
            pair.subject.append(subject(ctx.seconds))
        else:
            pair.subject.append(subject(ctx.seconds))
            pair.baseline.append(baseline(ctx.seconds))
    return pair


def get_load(url: str, connections: int) -> Callable[[float], LoadResult]:
    return lambda seconds: wrk(url, connections=connections, seconds=seconds)


def load_figures(prefix: str, results: list[LoadResult], *, p99_goal: str = "") -> list[Figure]:
    """requests/s, p50 and p99 rows of one endpoint's runs, and where the CPU went."""
    errors = sum(r.errors for r in results)
    note = f"{errors} errors/non-2xx" if errors else ""
    return [
        Figure(f"{prefix} rps", Summary.of([r.rps for r in results]), "req/s", note=note),
        Figure(f"{prefix} p50", Summary.of([r.p50_ms for r in results]), "ms"),
        Figure(f"{prefix} p99", Summary.of([r.p99_ms for r in results]), "ms", goal=p99_goal),
        *cpu_figures(prefix, results),
    ]


def cpu_figures(prefix: str, results: list[LoadResult]) -> list[Figure]:
    """CPU per request on the whole machine during the runs (bench.cpu): the median total,
    and in the note the mean by who spent it (ms). No row where /proc is not there."""
    runs = [r.cpu_ms for r in results if r.cpu_ms]
    if not runs:
        return []
    mean = {g: sum(run.get(g, 0.0) for run in runs) / len(runs) for g in cpu.GROUPS}
    return [
        Figure(
            f"{prefix} CPU/request",
            Summary.of([sum(run.values()) for run in runs]),
            "ms",
            note=cpu.describe(mean),
            detail={"by_group_ms": mean},
        )
    ]


def raw_runs(results: list[LoadResult]) -> list[dict[str, Any]]:
    return [
        {
            "requests": r.requests,
            "seconds": r.seconds,
            "rps": r.rps,
            "p50_ms": r.p50_ms,
            "p99_ms": r.p99_ms,
            "errors": r.errors,
            "pool_used": r.pool_used,
            "pool_size": r.pool_size,
        }
        for r in results
    ]


class PooledLoad:
    """A POST load of distinct pre-built requests: each call builds a fresh pool sized from the
    fastest rate seen so far (so nothing is replayed), then runs wrk over it."""

    def __init__(
        self,
        name: str,
        url: str,
        build: Callable[[int], Iterable[Sequence[bytes]]],
        *,
        connections: int,
        group_size: int = 1,
        estimate_rps: float = 3000.0,
        threads: int = 2,
    ) -> None:
        self.name, self.url, self.build = name, url, build
        self.connections, self.group_size, self.threads = connections, group_size, threads
        self.estimate_rps = estimate_rps

    def __call__(self, seconds: float) -> LoadResult:
        groups = int(self.estimate_rps * max(1.0, round(seconds)) * 1.4 / self.group_size) + 100
        base = write_pool(self.name, self.build(groups), self.threads)
        result = wrk(
            self.url,
            connections=self.connections,
            seconds=seconds,
            threads=self.threads,
            pool=base,
        )
        # Next pool: big enough for this rate too, but no bigger than needed (signing costs).
        self.estimate_rps = max(result.rps, self.estimate_rps * 0.6)
        return result


# --- where the time goes: py-spy on the measured workers ------------------------------

_OWN_CODE = ("kyc/", "providers/", "portal/")
TOP_FRAMES = 12


def _py_spy() -> str | None:
    here = Path(sys.executable).parent / "py-spy"
    return str(here) if here.exists() else shutil.which("py-spy")


def _record(ctx: Ctx, fmt: str, out: Path, load: Callable[[float], LoadResult]) -> bool:
    """One extra load run (counted in no figure) with py-spy sampling the measured gunicorn
    (master and workers, idle time left out)."""
    tool = _py_spy()
    proc = ctx.stack.procs.get("gunicorn")
    if tool is None or proc is None:
        return False
    seconds = max(3.0, ctx.seconds)
    spy = subprocess.Popen(
        [
            tool,
            "record",
            "--pid",
            str(proc.pid),
            "--subprocesses",
            "--nonblocking",
            "--rate",
            "200",
            "--duration",
            str(int(seconds) + 1),
            "--format",
            fmt,
            "--output",
            str(out),
        ],
        stdout=subprocess.DEVNULL,
        stderr=subprocess.PIPE,
    )
    time.sleep(0.5)  # attached before the load starts
    load(seconds)
    try:
        _, err = spy.communicate(timeout=60)
    except subprocess.TimeoutExpired:
        spy.kill()
        return False
    if spy.returncode != 0 or not out.exists():
        ctx.log(f"py-spy failed: {err.decode(errors='replace')[-300:]}")
        return False
    return True


def _frame(raw: str) -> str:
    """`func (/abs/path/kyc/x.py:12)` -> `func (kyc/x.py:12)`."""
    name, _, where = raw.partition(" (")
    for marker in ("/site-packages/", "/lib/python3", "/work/main/", "/main/"):
        if marker in where:
            where = where.split(marker, 1)[1]
            break
    return f"{name} ({where}" if where else name


def top_frames(collapsed: str, n: int = TOP_FRAMES) -> dict[str, list[tuple[str, float]]]:
    """From py-spy's collapsed stacks: the frames with the most samples of their own (self),
    and the project's own frames by samples under them (inclusive), as % of all samples."""
    own: Counter[str] = Counter()
    inclusive: Counter[str] = Counter()
    total = 0
    for line in collapsed.splitlines():
        stack, _, count = line.rpartition(" ")
        if not stack or not count.isdigit():
            continue
        k = int(count)
        total += k
        frames = [f for f in stack.split(";") if " (" in f]
        if not frames:
            continue
        own[_frame(frames[-1])] += k
        mine = {_frame(f) for f in frames}
        for f in {f for f in mine if f.partition(" (")[2].startswith(_OWN_CODE)}:
            inclusive[f] += k
    if not total:
        return {"self": [], "project": []}
    pct = 100.0 / total
    return {
        "self": [(f, round(c * pct, 1)) for f, c in own.most_common(n)],
        "project": [(f, round(c * pct, 1)) for f, c in inclusive.most_common(n)],
    }


def profile(ctx: Ctx, name: str, load: Callable[[float], LoadResult]) -> None:
    """Flame graph var/bench/flame-<name>.svg and the top frames (printed, in latest.json
    and var/bench/flame-<name>.top.txt) of one path under its bench load."""
    if ctx.quick and not ctx.profile_quick:
        return
    OUT_DIR.mkdir(parents=True, exist_ok=True)
    svg = OUT_DIR / f"flame-{name}.svg"
    raw = OUT_DIR / f"flame-{name}.collapsed.txt"
    ctx.log(f"{name}: profiling (py-spy, one extra run per format, not counted)")
    if not _record(ctx, "flamegraph", svg, load) or not _record(ctx, "raw", raw, load):
        ctx.raw.setdefault("profile", {})[name] = "py-spy unavailable"
        return
    top = top_frames(raw.read_text(errors="replace"))
    ctx.raw.setdefault("profile", {})[name] = {"svg": str(svg.name), **top}
    lines = [f"{name}: top frames (% of samples in the measured workers)", "self:"]
    lines += [f"  {p:5.1f}%  {f}" for f, p in top["self"]]
    lines += ["project code (inclusive):"]
    lines += [f"  {p:5.1f}%  {f}" for f, p in top["project"]]
    (OUT_DIR / f"flame-{name}.top.txt").write_text("\n".join(lines) + "\n")
    print("\n".join(lines), flush=True)
