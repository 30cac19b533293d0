"""Webhook ingest vs baseline_insert: correctly signed Blockpass deliveries, distinct delivery ids.

Wire format (Blockpass's documented one): POST JSON; x-blockpass-event = body.action,
x-blockpass-delivery = a UUID per delivery, x-blockpass-signature = hex
HMAC-SHA256 of the raw body with the webhook secret.
"""

from __future__ import annotations

import hashlib
import hmac
import json
import random
import secrets
import time
import uuid
from collections.abc import Iterator

import requests
from django.urls import Resolver404, resolve

from bench import seed
from bench.context import Ctx, PooledLoad, cpu_figures, load_figures, paired_runs, profile, raw_runs
from bench.load import raw_request
from bench.middleware import COMMITS_HEADER, HEADER
from bench.stats import Figure, Summary
from bench.urls import BASELINE_INSERT

CONNECTIONS = 32


CUSTOMERS = 200  # registered customers the promises are resolved for
BPIDS: list[str] = []


def delivery(url: str, secret: str) -> tuple[bytes, list[tuple[str, str]]]:
    """A new certificate promise resolved for one of the registered customers."""
    bpid = random.choice(BPIDS) if BPIDS else uuid.uuid4().hex[:24]
    body = json.dumps(
        {
            "action": "certPormise.resolved",
            "env": "QA",
            "isPing": False,
            "data": {"certPromisesId": uuid.uuid4().hex, "blockpassID": bpid},
        },
        separators=(",", ":"),
    ).encode()
    headers = [
        ("Content-Type", "application/json"),
        ("x-blockpass-event", "certPormise.resolved"),
        ("x-blockpass-delivery", str(uuid.uuid4())),
        ("x-blockpass-signature", hmac.new(secret.encode(), body, hashlib.sha256).hexdigest()),
    ]
    return body, headers


def pool(url: str, secret: str):  # type: ignore[no-untyped-def]
    def build(n: int) -> Iterator[list[bytes]]:
        for _ in range(n):
            body, headers = delivery(url, secret)
            yield [raw_request("POST", url, headers=headers, body=body)]

    return build


def inbound_counts() -> dict[str, int]:
    from django.db.models import Count

    from kyc.models import InboundEvent

    rows = InboundEvent.objects.filter(provider="blockpass").values("state").annotate(n=Count("id"))
    return {r["state"]: r["n"] for r in rows}


def run(ctx: Ctx) -> list[Figure]:
    try:
        resolve("/hooks/blockpass/x/")
    except Resolver404:
        return [Figure("webhook_vs_insert", None, note="Blockpass webhook endpoint not mounted")]
    from kyc import registry

    secret = secrets.token_hex(16)
    settings = {}
    try:
        settings = registry.get("blockpass").sandbox_settings(
            sandbox_url=f"{ctx.sandbox_url}/sandbox/blockpass"
        )
    except Exception:  # noqa: BLE001  (no sandbox: the webhook needs only the secret)
        settings = {}
    settings["webhook_secret"] = secret
    account = seed.merchant_account(provider="blockpass", settings=settings)
    from kyc import services as kyc_services

    BPIDS[:] = [uuid.uuid4().hex[:24] for _ in range(CUSTOMERS)]
    for n, bpid in enumerate(BPIDS):
        kyc_services.record_get_or_create(
            merchant=account.merchant, reference=f"bp-{n}", provider="blockpass", external_id=bpid
        )
    url = f"{ctx.base_url}/hooks/blockpass/{account.webhook_token}/"

    # Preflight: one delivery must be accepted, and its replay deduplicated.
    body, headers = delivery(url, secret)
    first = requests.post(url, data=body, headers=dict(headers), timeout=10)
    again = requests.post(url, data=body, headers=dict(headers), timeout=10)
    if first.status_code >= 300:
        return [
            Figure(
                "webhook_vs_insert",
                None,
                note=f"a signed delivery was answered {first.status_code}: {first.text[:120]}",
            )
        ]
    queries: list[int] = []
    commits: list[int] = []
    with requests.Session() as s:
        for _ in range(10):
            b, h = delivery(url, secret)
            answer = s.post(url, data=b, headers=dict(h), timeout=10)
            queries.append(int(answer.headers[HEADER]))
            commits.append(int(answer.headers[COMMITS_HEADER]))

    before = sum(inbound_counts().values())
    ctx.log(f"webhook: {ctx.runs} x {ctx.seconds:.0f}s pairs at {CONNECTIONS} connections")
    subject = PooledLoad("webhook", url, pool(url, secret), connections=CONNECTIONS)
    baseline = PooledLoad(
        "insert",
        ctx.base_url + BASELINE_INSERT,
        pool(ctx.base_url + BASELINE_INSERT, secret),
        connections=CONNECTIONS,
    )
    pair = paired_runs(ctx, subject=subject, baseline=baseline)
    profile(ctx, "webhook", subject)
    time.sleep(1)
    counts = inbound_counts()
    stored = sum(counts.values()) - before
    sent_ok = sum(r.requests - r.errors for r in pair.subject)  # warm-up not counted here
    exhausted = any(r.pool_exhausted for r in pair.subject + pair.baseline)
    ctx.raw["webhook"] = {
        "webhook": raw_runs(pair.subject),
        "baseline_insert": raw_runs(pair.baseline),
        "queries": queries,
        "commits": commits,
        "inbound_states": counts,
        "stored_during_runs_incl_warmup": stored,
        "answered_2xx_in_runs": sent_ok,
        "preflight": {"first": first.status_code, "replay": again.status_code},
    }
    note = f"replay of a delivery answered {again.status_code}"
    if exhausted:
        note += "; POOL EXHAUSTED (replays counted)"
    return [
        Figure(
            "baseline_insert rps",
            Summary.of([r.rps for r in pair.baseline]),
            "req/s",
            note=f"{CONNECTIONS} connections",
        ),
        Figure(
            "baseline_insert p99",
            Summary.of([r.p99_ms for r in pair.baseline]),
            "ms",
            note="the ceiling's own tail at the same concurrency",
        ),
        *cpu_figures("baseline_insert", pair.baseline),
        *load_figures("webhook", pair.subject, p99_goal="< 100"),
        Figure(
            "webhook_vs_insert",
            pair.ratio(),
            "x",
            goal=">= 0.8",
            note="webhook req/s / baseline_insert req/s; " + note,
        ),
        Figure(
            "webhook db queries",
            Summary.of(queries),
            "per delivery",
            note=f"{stored:,} deliveries stored during the load; states {counts}",
        ),
        Figure(
            "webhook commits",
            Summary.of(commits),
            "per delivery",
            note="durable writes (commits + autocommit writes); baseline_insert does 1",
        ),
    ]
