"""Customer status poll vs baseline_json: the htmx fragment of an open request, many pollers."""

from __future__ import annotations

import requests

from bench import seed
from bench.context import Ctx, cpu_figures, get_load, load_figures, paired_runs, profile, raw_runs
from bench.middleware import HEADER
from bench.stats import Figure, Summary
from bench.urls import BASELINE_JSON

POLLERS = 64  # concurrent connections: many customer pages polling the same request


def run(ctx: Ctx) -> list[Figure]:
    account = seed.merchant_account(provider="corepass")
    transfer = seed.open_transfer(account=account, reference="bench-poll")
    status_url = f"{ctx.base_url}/t/{transfer.page_token}/status"
    first = requests.get(status_url, timeout=10)
    if first.status_code != 200:
        return [
            Figure("poll_vs_baseline", None, note=f"status fragment answered {first.status_code}")
        ]

    ctx.log(f"poll: {ctx.runs} x {ctx.seconds:.0f}s pairs at {POLLERS} connections")
    pair = paired_runs(
        ctx,
        subject=get_load(status_url, POLLERS),
        baseline=get_load(ctx.base_url + BASELINE_JSON, POLLERS),
    )
    profile(ctx, "poll", get_load(status_url, POLLERS))
    # Queries per poll, read from the bench middleware's header on quiet sequential polls.
    with requests.Session() as s:
        counts = [int(s.get(status_url, timeout=10).headers[HEADER]) for _ in range(20)]
    ctx.raw["poll"] = {
        "poll": raw_runs(pair.subject),
        "baseline_json": raw_runs(pair.baseline),
        "queries": counts,
    }
    return [
        Figure(
            "baseline_json rps",
            Summary.of([r.rps for r in pair.baseline]),
            "req/s",
            note=f"{POLLERS} connections",
        ),
        Figure(
            "baseline_json p99",
            Summary.of([r.p99_ms for r in pair.baseline]),
            "ms",
            note="the ceiling's own tail at the same concurrency",
        ),
        *cpu_figures("baseline_json", pair.baseline),
        *load_figures("poll", pair.subject),
        Figure(
            "poll_vs_baseline",
            pair.ratio(),
            "x",
            goal=">= 0.8",
            note="poll req/s / baseline_json req/s, per interleaved pair",
        ),
        Figure("poll db queries", Summary.of(counts), "per poll", goal="== 0"),
    ]
