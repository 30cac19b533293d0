"""QR codes: how many times a request's QR is rendered while its page is open and polled.

Requests are created through the real API (CorePass against its sandbox
connector, on the same server); each is then watched like a customer does: the
page loaded every 10 s, the status fragment polled every 2 s (htmx), for 2
minutes (10 s with --quick). A counter around kyc.qr.render_svg (bench.apps)
counts renders per payload in Redis, whichever process renders.
"""

from __future__ import annotations

import secrets
import threading
import time

import requests

from bench import seed
from bench.apps import QR_TOTAL_KEY, qr_key
from bench.context import Ctx
from bench.stats import Figure, Summary

REQUESTS = 3
POLL_EVERY = 2.0  # the fragment's hx-trigger interval
RELOAD_EVERY = 10.0
LINK_CHARS = 200


def coreid() -> str:
    from providers.corepass import coreid as cid

    body = secrets.token_hex(20)
    return "cb" + cid.check_digits("cb", body) + body


def watch(base: str, token: str, until: float, hits: list[int]) -> None:
    """One customer's browser: page now and every RELOAD_EVERY, fragment every POLL_EVERY."""
    with requests.Session() as s:
        next_page = 0.0
        while time.monotonic() < until:
            now = time.monotonic()
            if now >= next_page:
                s.get(f"{base}/t/{token}/", timeout=10)
                hits[0] += 1
                next_page = now + RELOAD_EVERY
            s.get(f"{base}/t/{token}/status", timeout=10)
            hits[1] += 1
            time.sleep(POLL_EVERY)


def render_ms() -> Summary:
    """What one render costs, for scale (in this process, a 200-character link)."""
    from kyc import qr

    render = getattr(qr.render_svg, "__wrapped__", qr.render_svg)
    link = "https://example.org/kyc?" + "x" * (LINK_CHARS - 24)
    times = []
    for _ in range(10):
        t0 = time.perf_counter()
        render(link)
        times.append((time.perf_counter() - t0) * 1000)
    return Summary.of(times)


def run(ctx: Ctx) -> list[Figure]:
    from django.core.cache import cache

    from kyc import registry
    from kyc import services as kyc_services
    from kyc.models import TransferRequest

    window = 10.0 if ctx.quick else 120.0
    try:
        settings = registry.get("corepass").sandbox_settings(
            sandbox_url=f"{ctx.sandbox_url}/sandbox/corepass"
        )
    except Exception as exc:  # noqa: BLE001
        return [Figure("qr_renders_per_request", None, note=f"no CorePass sandbox: {exc}")]
    account = seed.merchant_account(provider="corepass", settings=settings)
    _, api_key = kyc_services.api_key_create(merchant=account.merchant, name="bench")
    tokens: list[str] = []
    for n in range(REQUESTS):
        r = requests.post(
            f"{ctx.base_url}/api/v1/transfers/",
            json={
                "provider": "corepass",
                "reference": f"bench-qr-{n}",
                "coreid": coreid(),
                "items": ["SH_EMAIL"],
            },
            headers={"Authorization": f"Bearer {api_key}"},
            timeout=30,
        )
        if r.status_code != 201:
            return [
                Figure(
                    "qr_renders_per_request",
                    None,
                    note=f"creating a request answered {r.status_code}: {r.text[:120]}",
                )
            ]
        tokens.append(r.json()["page_url"].rstrip("/").rsplit("/", 1)[-1])

    ctx.log(f"qr: watching {REQUESTS} request pages for {window:.0f}s")
    until = time.monotonic() + window
    hits = [[0, 0] for _ in tokens]
    threads = [
        threading.Thread(target=watch, args=(ctx.base_url, t, until, h), daemon=True)
        for t, h in zip(tokens, hits, strict=True)
    ]
    for t in threads:
        t.start()
    for t in threads:
        t.join(window + 30)

    per_request = []
    for token in tokens:
        payload = TransferRequest.objects.get(page_token=token).qr_payload
        per_request.append(int(cache.get(qr_key(payload)) or 0))
    ctx.raw["qr"] = {
        "window_seconds": window,
        "renders_per_request": per_request,
        "renders_total": int(cache.get(QR_TOTAL_KEY) or 0),
        "page_views_and_polls": hits,
    }
    views = sum(h[0] for h in hits)
    polls = sum(h[1] for h in hits)
    return [
        Figure(
            "qr_renders_per_request",
            Summary.of(per_request),
            "renders",
            goal="== 1",
            note=f"{REQUESTS} requests, {window:.0f}s: {views} page views, {polls} polls",
        ),
        Figure("qr render time", render_ms(), "ms", note=f"one render of a {LINK_CHARS}-char link"),
    ]
