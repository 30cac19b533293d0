"""What every part of the bench gets: the running stack and the run's shape."""

from __future__ import annotations

import time
from collections.abc import Callable, Iterable, Sequence
from dataclasses import dataclass, field
from typing import Any

from tests.bench.load import LoadResult, write_pool, wrk
from tests.bench.stack import Stack
from tests.bench.stats import Figure, Summary, ratios


@dataclass
class Ctx:
    stack: Stack
    quick: bool
    runs: int = 3
    seconds: float = 10.0
    warmup: float = 2.0
    raw: dict[str, Any] = field(default_factory=dict)

    @property
    def base_url(self) -> str:
        return self.stack.base_url

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
    """requests/s, p50 and p99 rows of one endpoint's runs."""
    errors = sum(r.errors for r in results)
    note = f"{errors} errors/non-2xx" if errors else ""
    return [
        Figure(f"{prefix} rps", Summary.of([r.rps for r in results]), "req/s", note=note),
        Figure(f"{prefix} p50", Summary.of([r.p50_ms for r in results]), "ms"),
        Figure(f"{prefix} p99", Summary.of([r.p99_ms for r in results]), "ms", goal=p99_goal),
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
