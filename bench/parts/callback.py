"""CorePass callbacks vs baseline_insert: signed status + data callbacks, per-request URLs.

For each of many open requests (clones of one real one, each with its own record
and callback token) the pool holds its ACCEPTED status callback, then its data
callback (multipart, as the connector sends it), both Ed448-signed with a key
the merchant's CorePass settings trust. The data callback is stored encrypted
and committed before the answer.
"""

from __future__ import annotations

import json
import secrets
import time
import uuid
from collections.abc import Iterator
from typing import Any

import requests
from django.urls import Resolver404, resolve

from bench import seed
from bench.context import Ctx, PooledLoad, cpu_figures, load_figures, paired_runs, profile, raw_runs
from bench.load import raw_request
from bench.middleware import COMMITS_HEADER, HEADER
from bench.stats import Figure, Summary
from bench.urls import BASELINE_INSERT

CONNECTIONS = 32
ITEM = "SH_EMAIL"


class Connector:
    """Signs callbacks exactly as the connector does (providers.corepass.signature)."""

    def __init__(self, user: str) -> None:
        from cryptography.hazmat.primitives.asymmetric.ed448 import Ed448PrivateKey

        self.key = Ed448PrivateKey.generate()
        self.user = user
        self.expiration = int(time.time()) + 15 * 60

    def public_hex(self) -> str:
        from providers.corepass.signature import public_bytes

        return public_bytes(self.key).hex()

    def status(self, url: str, state: str) -> bytes:
        from providers.corepass.signature import field_hash, sign, status_message

        deadline = int(time.time()) + 180
        fields = [field_hash(ITEM)]
        body: dict[str, Any] = {
            "user": self.user,
            "fields": fields,
            "status": state,
            "expiration": self.expiration,
            "deadline": deadline,
        }
        msg = status_message(
            user=self.user,
            fields=fields,
            status=state,
            expiration=self.expiration,
            deadline=deadline,
        )
        body["signature"] = sign(self.key, msg)
        data = json.dumps(body, separators=(",", ":")).encode()
        return raw_request("POST", url, headers=[("Content-Type", "application/json")], body=data)

    def data(self, url: str) -> bytes:
        from providers.corepass.signature import data_message, sign

        deadline = int(time.time()) + 180
        # The connector's pepper: 49 random printable characters, hex-encoded, then the
        # CoreID and the hex of the field id (providers.corepass.callbacks.pepper_problem).
        pepper = secrets.token_urlsafe(48)[:49].encode().hex() + self.user + ITEM.encode().hex()
        parts = {
            "user": self.user,
            "infos": json.dumps(
                [{"fieldID": ITEM, "fieldValue": "bench@example.org", "pepper": pepper}]
            ),
            "deadline": str(deadline),
            "expiration": str(self.expiration),
            "signature": sign(self.key, data_message(deadline=deadline)),
        }
        boundary = uuid.uuid4().hex
        body = (
            b"".join(
                f'--{boundary}\r\nContent-Disposition: form-data; name="{k}"\r\n\r\n{v}\r\n'.encode()
                for k, v in parts.items()
            )
            + f"--{boundary}--\r\n".encode()
        )
        return raw_request(
            "POST",
            url,
            headers=[("Content-Type", f"multipart/form-data; boundary={boundary}")],
            body=body,
        )


def run(ctx: Ctx) -> list[Figure]:
    try:
        resolve("/hooks/corepass/t/x/status")
        resolve("/hooks/corepass/t/x/data")
    except Resolver404:
        return [Figure("callback_vs_insert", None, note="CorePass callback endpoints not mounted")]
    from providers.corepass import coreid as cid

    body = secrets.token_hex(20)
    user = "cb" + cid.check_digits("cb", body) + body
    connector = Connector(user)
    account = seed.merchant_account(
        provider="corepass",
        settings={
            "connector_url": f"{ctx.sandbox_url}/sandbox/corepass",
            "connector_public_key": connector.public_hex(),
            "default_items": ITEM,
        },
    )
    template = seed.open_transfer(account=account, reference="bench-cb-template")
    template.subject, template.items = user, [ITEM]
    template.provider_status, template.provider_rank = "PENDING", 1
    template.save()
    batches = iter(range(1_000_000))

    def hooks(token: str) -> str:
        return f"{ctx.base_url}/hooks/corepass/t/{token}/"

    def build(n: int) -> Iterator[list[bytes]]:
        tokens = seed.clone_transfers(template=template, count=n, batch=f"cb{next(batches)}")
        for token in tokens:
            yield [
                connector.status(hooks(token) + "status", "ACCEPTED"),
                connector.data(hooks(token) + "data"),
            ]

    # Preflight, one request by hand: both callbacks accepted, with their costs.
    (token,) = seed.clone_transfers(template=template, count=1, batch="cbpre")
    costs: dict[str, tuple[int, int, int]] = {}
    for kind, raw in (
        ("status", connector.status(hooks(token) + "status", "ACCEPTED")),
        ("data", connector.data(hooks(token) + "data")),
    ):
        head, _, payload = raw.partition(b"\r\n\r\n")
        headers = dict(
            line.split(": ", 1)
            for line in head.decode().split("\r\n")[2:]
            if not line.startswith("Content-Length")
        )
        r = requests.post(hooks(token) + kind, data=payload, headers=headers, timeout=10)
        costs[kind] = (
            r.status_code,
            int(r.headers.get(HEADER, -1)),
            int(r.headers.get(COMMITS_HEADER, -1)),
        )
        if r.status_code != 200:
            return [
                Figure(
                    "callback_vs_insert",
                    None,
                    note=f"a signed {kind} callback was answered {r.status_code}: {r.text[:100]}",
                )
            ]

    ctx.log(f"callback: {ctx.runs} x {ctx.seconds:.0f}s pairs at {CONNECTIONS} connections")
    subject = PooledLoad(
        "callback", hooks("x"), build, connections=CONNECTIONS, group_size=2, estimate_rps=600
    )
    baseline = PooledLoad(
        "insert-cb",
        ctx.base_url + BASELINE_INSERT,
        lambda n: (
            [raw_request("POST", ctx.base_url + BASELINE_INSERT, body=b"{}")] for _ in range(n)
        ),
        connections=CONNECTIONS,
    )
    pair = paired_runs(ctx, subject=subject, baseline=baseline)
    profile(ctx, "callback", subject)
    from django.db.models import Count

    from kyc.models import InboundEvent

    states = {
        r["state"]: r["n"]
        for r in InboundEvent.objects.filter(provider="corepass")
        .values("state")
        .annotate(n=Count("id"))
    }
    exhausted = any(r.pool_exhausted for r in pair.subject)
    ctx.raw["callback"] = {
        "callback": raw_runs(pair.subject),
        "baseline_insert": raw_runs(pair.baseline),
        "preflight": costs,
        "inbound_states": states,
    }
    return [
        Figure(
            "baseline_insert rps (cb)",
            Summary.of([r.rps for r in pair.baseline]),
            "req/s",
            note=f"{CONNECTIONS} connections, same run as the callbacks",
        ),
        Figure(
            "baseline_insert (cb) p99",
            Summary.of([r.p99_ms for r in pair.baseline]),
            "ms",
            note="the ceiling's own tail at the same concurrency",
        ),
        *cpu_figures("baseline_insert (cb)", pair.baseline),
        *load_figures("callback", pair.subject),
        Figure(
            "callback_vs_insert",
            pair.ratio(),
            "x",
            goal=">= 0.6",
            note="status+data callbacks req/s / baseline_insert req/s"
            + ("; POOL EXHAUSTED" if exhausted else ""),
        ),
        Figure(
            "callback status cost",
            Summary.of([costs["status"][1]]),
            "queries",
            note=f"{costs['status'][2]} durable writes",
        ),
        Figure(
            "callback data cost",
            Summary.of([costs["data"][1]]),
            "queries",
            note=f"{costs['data'][2]} durable writes; inbound states {states}",
        ),
    ]
