"""Issuance scale: a Sunbird run against the sandbox for 200 and for 10,000 learners.

Each run executes inline in a fresh worker process (bench.issuance_worker,
the same step code the Celery tasks run) so its peak RSS is its own. The sandbox
is set to publish certificates at once (delay 0, no rate cap): the figure is the
portal's cost per certificate, not the sandbox's simulated Kafka pace.
"""

from __future__ import annotations

import json
import uuid
from typing import Any

import requests

from bench import seed
from bench.context import Ctx
from bench.stats import Figure, Summary, ratios

ROOT_ORG = "0128000000000000001"  # the sandbox's demo root org


def one_run(ctx: Ctx, merchant: Any, learners: int) -> dict[str, Any]:
    from providers.sunbird import services

    tag = uuid.uuid4().hex[:10]
    batch_id = f"bench{tag}x{learners}"
    requests.post(
        f"{ctx.sandbox_url}/sandbox/sunbird/console/batch/{batch_id}",
        json={"learners": learners, "delay": 0, "rate": 1e9},
        timeout=10,
    ).raise_for_status()
    run = services.run_create(
        merchant=merchant,
        root_org_id=ROOT_ORG,
        course_id=f"do_bench_{tag}",
        batch_id=batch_id,
        sign_keys=[f"bench-sign-{tag}"],
        enc_keys=[f"bench-enc-{tag}"],
        issuer_name="Bench issuer",
        issuer_url="http://127.0.0.1/issuer/",
        html_template_url="http://127.0.0.1/template.zip",
        expected_count=learners,
        enqueue=False,
    )
    out = ctx.stack.python(
        "-m",
        "bench.issuance_worker",
        str(run.pk),
        env={"SUNBIRD_POLL_SECONDS": "0.2"},
        timeout=600,
    )
    for line in out.stdout.splitlines():
        if line.startswith("BENCHJSON "):
            result: dict[str, Any] = json.loads(line[len("BENCHJSON ") :])
            result["learners"] = learners
            return result
    raise RuntimeError(f"issuance worker failed ({out.returncode}): {out.stderr[-1500:]}")


def run(ctx: Ctx) -> list[Figure]:
    try:
        from kyc import registry
        from providers.sunbird import services  # noqa: F401

        settings = registry.get("sunbird").sandbox_settings(
            sandbox_url=f"{ctx.sandbox_url}/sandbox/sunbird"
        )
    except Exception as exc:  # noqa: BLE001
        return [Figure("issuance_mem_ratio", None, note=f"Sunbird flow not available: {exc}")]
    if not hasattr(services, "run_execute_inline"):
        return [
            Figure("issuance_mem_ratio", None, note="no inline issuance run in the Sunbird flow")
        ]
    account = seed.merchant_account(provider="sunbird", settings=settings)
    small, large = (200, 2_000) if ctx.quick else (200, 10_000)
    results: dict[int, list[dict[str, Any]]] = {small: [], large: []}
    for i in range(ctx.runs):
        for learners in (small, large) if i % 2 == 0 else (large, small):
            r = one_run(ctx, account.merchant, learners)
            ctx.log(
                f"issuance: {learners:,} learners: {r['status']}, {r['collected']:,} collected "
                f"in {r['seconds']:.1f}s, peak {r['peak_rss_kb'] / 1024:.0f} MB"
            )
            results[learners].append(r)
    ctx.raw["issuance"] = results
    failed = [
        r
        for rs in results.values()
        for r in rs
        if r["status"] != "done" or r["collected"] < r["learners"]
    ]
    note = f"{len(failed)} run(s) incomplete: {failed[0]['last_error'][:80]}" if failed else ""

    def per_cert(rs: list[dict[str, Any]]) -> Summary:
        return Summary.of([r["seconds"] * 1000 / max(1, r["collected"]) for r in rs])

    def peak(rs: list[dict[str, Any]]) -> Summary:
        return Summary.of([r["peak_rss_kb"] / 1024 for r in rs])

    return [
        Figure(f"issuance {small} ms/cert", per_cert(results[small]), "ms", note=note),
        Figure(f"issuance {large:,} ms/cert", per_cert(results[large]), "ms"),
        Figure(
            f"issuance {small} peak RSS", peak(results[small]), "MB", note="whole worker process"
        ),
        Figure(
            f"issuance {large:,} peak RSS",
            peak(results[large]),
            "MB",
            note="growth over the idle process: "
            + ", ".join(
                f"{(r['peak_rss_kb'] - r['rss_before_kb']) / 1024:.1f}" for r in results[large]
            )
            + " MB",
        ),
        Figure(
            "issuance_mem_ratio",
            Summary.of(
                ratios(
                    [r["peak_rss_kb"] for r in results[large]],
                    [r["peak_rss_kb"] for r in results[small]],
                )
            ),
            "x",
            goal="<= 1.2",
            note=f"peak({large:,}) / peak({small}), per run pair",
        ),
    ]
