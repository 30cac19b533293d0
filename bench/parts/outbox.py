"""Outgoing webhooks: how fast committed changes reach merchants' endpoints, and what the
outbox adds to the request that triggers them.

- Throughput: the orchestrator commits messages (each `verification.updated` in its own
  transaction, as a request would) for a merchant with 1 endpoint, then for one with 20;
  the stack's Celery worker dispatches, signs and POSTs them to a receiver on 127.0.0.1
  that answers 200 at once. Figures: deliveries (message x endpoint) per second from the
  first commit to the last 2xx, and each delivery's latency from its commit to its 2xx.
- Added cost: `POST /api/v1/transfers/{id}/cancel/` through the real stack (it sends
  `verification.updated` + `verification.canceled`), with the bench's query headers:
  outbox INSERTs per request, and how many of them ran outside the request's transaction
  (each would be an extra commit). Goal: one insert, no extra commit.
"""

from __future__ import annotations

import statistics
import threading
import time
import uuid
from http.server import BaseHTTPRequestHandler, ThreadingHTTPServer
from typing import Any

import requests

from bench.context import Ctx
from bench.middleware import COMMITS_HEADER, HEADER, OUTBOX_HEADER
from bench.stats import Figure, Summary

ENDPOINT_COUNTS = (1, 20)


class Receiver:
    """Answers 200 to every POST and notes when each (endpoint path, webhook-id) arrived."""

    def __init__(self) -> None:
        self.lock = threading.Lock()
        self.arrived: dict[tuple[str, str], float] = {}
        self.posts = 0
        receiver = self

        class Handler(BaseHTTPRequestHandler):
            protocol_version = "HTTP/1.1"  # keep-alive, as a real receiver would

            def do_POST(self) -> None:  # noqa: N802  (http.server's name)
                length = int(self.headers.get("content-length") or 0)
                self.rfile.read(length)
                now = time.time()
                key = (self.path, self.headers.get("webhook-id", ""))
                with receiver.lock:
                    receiver.posts += 1
                    receiver.arrived.setdefault(key, now)
                self.send_response(200)
                self.send_header("content-length", "2")
                self.end_headers()
                self.wfile.write(b"ok")

            def log_message(self, format: str, *args: Any) -> None:
                pass

        self.server = ThreadingHTTPServer(("127.0.0.1", 0), Handler)
        self.server.daemon_threads = True
        self.url = f"http://127.0.0.1:{self.server.server_address[1]}"
        threading.Thread(target=self.server.serve_forever, daemon=True).start()

    def count(self, paths: set[str], ids: set[str]) -> int:
        with self.lock:
            return sum(1 for (p, i) in self.arrived if p in paths and i in ids)

    def stop(self) -> None:
        self.server.shutdown()
        self.server.server_close()


def _merchant(slug: str, receiver: Receiver, endpoints: int) -> tuple[Any, set[str]]:
    from kyc import outbox
    from kyc.models import Merchant

    merchant = Merchant.objects.create(name=slug, slug=slug)
    paths = set()
    for n in range(endpoints):
        path = f"/{slug}/ep{n}"
        outbox.webhook_endpoint_create(merchant=merchant, url=receiver.url + path, events=["*"])
        paths.add(path)
    return merchant, paths


def _one_run(
    merchant: Any, paths: set[str], receiver: Receiver, messages: int, timeout: float
) -> dict[str, Any]:
    from django.db import transaction

    from kyc import outbox

    committed: dict[str, float] = {}
    for _ in range(messages):
        ref = str(uuid.uuid4())  # a verification id (none stored: its values list is empty)
        with transaction.atomic():
            m = outbox.webhook_message_create(
                merchant=merchant,
                type=outbox.VERIFICATION_UPDATED,
                data={"id": ref, "status": "pending"},
                object_type="verification",
                object_id=ref,
            )
        committed[m.msg_id] = time.time()  # on_commit has enqueued its dispatch by now
    expected = messages * len(paths)
    ids = set(committed)
    deadline = time.time() + timeout
    while receiver.count(paths, ids) < expected and time.time() < deadline:
        time.sleep(0.05)
    with receiver.lock:
        arrivals = [(i, t) for (p, i), t in receiver.arrived.items() if p in paths and i in ids]
    got = len(arrivals)
    first = min(committed.values())
    last = max((t for _, t in arrivals), default=time.time())
    latencies = [(t - committed[i]) * 1000 for i, t in arrivals]
    return {
        "messages": messages,
        "endpoints": len(paths),
        "delivered": got,
        "expected": expected,
        "seconds": round(last - first, 3),
        "deliveries_per_s": got / (last - first) if last > first else 0.0,
        "p50_ms": statistics.median(latencies) if latencies else float("nan"),
        "p99_ms": (
            statistics.quantiles(latencies, n=100)[98] if len(latencies) >= 2 else float("nan")
        ),
    }


def _cancel_cost(ctx: Ctx, merchant: Any, tries: int) -> dict[str, list[int]]:
    """Queries, commits and outbox inserts of real cancel requests (each sends 2 events)."""
    from bench import seed
    from kyc import services
    from kyc.models import ProviderAccount

    account = ProviderAccount.objects.create(merchant=merchant, provider="corepass", enabled=True)
    _, key = services.api_key_create(
        merchant=merchant, name="bench outbox", scopes=["read", "write"]
    )
    out: dict[str, list[int]] = {"queries": [], "commits": [], "inserts": [], "autocommit": []}
    with requests.Session() as s:
        s.headers["Authorization"] = f"Bearer {key}"
        for n in range(tries):
            t = seed.open_transfer(account=account, reference=f"bench-cancel-{n}")
            r = s.post(f"{ctx.base_url}/api/v1/transfers/{t.pk}/cancel/", timeout=15)
            if r.status_code != 200 or OUTBOX_HEADER not in r.headers:
                raise RuntimeError(f"cancel answered {r.status_code}: {r.text[:200]}")
            inserts, autocommit = (int(x) for x in r.headers[OUTBOX_HEADER].split("/"))
            out["queries"].append(int(r.headers[HEADER]))
            out["commits"].append(int(r.headers[COMMITS_HEADER]))
            out["inserts"].append(inserts)
            out["autocommit"].append(autocommit)
    return out


def run(ctx: Ctx) -> list[Figure]:
    receiver = Receiver()
    figures: list[Figure] = []
    raw: dict[str, Any] = {}
    try:
        for endpoints in ENDPOINT_COUNTS:
            merchant, paths = _merchant(f"bench-outbox-{endpoints}", receiver, endpoints)
            messages = (60 if ctx.quick else 300) if endpoints == 1 else (10 if ctx.quick else 40)
            runs = [
                _one_run(merchant, paths, receiver, messages, timeout=60 if ctx.quick else 180)
                for _ in range(ctx.runs)
            ]
            raw[f"{endpoints}_endpoints"] = runs
            lost = sum(r["expected"] - r["delivered"] for r in runs)
            note = f"{messages} messages x {endpoints} endpoint(s) per run"
            if lost:
                note += f"; {lost} NOT DELIVERED within the timeout"
            label = f"outbox {endpoints} endpoint{'s' if endpoints > 1 else ''}"
            figures += [
                Figure(
                    f"{label} deliveries/s",
                    Summary.of([r["deliveries_per_s"] for r in runs]),
                    "per s",
                    note=note + "; commit to the receiver's 2xx",
                    also_met=None if not lost else False,
                ),
                Figure(f"{label} p50", Summary.of([r["p50_ms"] for r in runs]), "ms"),
                Figure(f"{label} p99", Summary.of([r["p99_ms"] for r in runs]), "ms"),
            ]
        cost = _cancel_cost(ctx, merchant, tries=10)
        raw["cancel_cost"] = cost
        figures += [
            Figure(
                "outbox inserts per triggering request",
                Summary.of(cost["inserts"]),
                "per request",
                goal="<= 1",
                note="POST /transfers/{id}/cancel/ (2 events: verification.updated + .canceled)",
            ),
            Figure(
                "outbox extra commits",
                Summary.of(cost["autocommit"]),
                "per request",
                goal="<= 0",
                note=(
                    "outbox inserts outside the request's transaction; the request's own: "
                    f"{statistics.median(cost['commits']):g} commits, "
                    f"{statistics.median(cost['queries']):g} queries"
                ),
            ),
        ]
        raw["receiver_posts"] = receiver.posts
    finally:
        receiver.stop()
        ctx.raw["outbox"] = raw
    return figures
