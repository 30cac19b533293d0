"""A real receiver: an HTTP server on 127.0.0.1 that verifies Standard Webhooks signatures.

The outbound policy refuses loopback; each test opts in through OUTBOUND_ALLOW_NETWORKS
(the operator's explicit setting), exactly as an embedded or sandbox install would.
"""

from __future__ import annotations

import json
import threading
from collections.abc import Iterator
from dataclasses import dataclass, field
from http.server import BaseHTTPRequestHandler, ThreadingHTTPServer
from typing import Any

import pytest
from django.utils import timezone

from kyc import outbox
from kyc.models import (
    Merchant,
    ProviderAccount,
    TransferRequest,
    WebhookDelivery,
    WebhookEndpoint,
    WebhookMessage,
)
from tests import factories
from tests.faults.promise_log import (  # noqa: F401  (promise figures for README's table)
    _write_promises,
    promise,
    pytest_runtest_makereport,
)


@dataclass
class Received:
    headers: dict[str, str]
    body: bytes

    @property
    def payload(self) -> dict[str, Any]:
        return dict(json.loads(self.body))

    @property
    def signatures(self) -> list[str]:
        return self.headers["webhook-signature"].split(" ")


@dataclass
class Receiver:
    """Answers with the next status of `script` (then `default`), and keeps every request."""

    url: str = ""
    script: list[int] = field(default_factory=list)
    default: int = 200
    answer: bytes = b'{"ok": true}'
    requests: list[Received] = field(default_factory=list)
    lock: threading.Lock = field(default_factory=threading.Lock)
    # When set, the first request is held (not answered) until `release` is set.
    hold_first: bool = False
    release: threading.Event = field(default_factory=threading.Event)

    def next_status(self) -> int:
        with self.lock:
            return self.script.pop(0) if self.script else self.default

    def ids(self) -> list[str]:
        return [r.headers["webhook-id"] for r in self.requests]

    def types(self) -> list[str]:
        return [r.payload["type"] for r in self.requests]


def _handler(receiver: Receiver) -> type[BaseHTTPRequestHandler]:
    class Handler(BaseHTTPRequestHandler):
        def do_POST(self) -> None:  # noqa: N802  (http.server's name)
            length = int(self.headers.get("content-length") or 0)
            body = self.rfile.read(length)
            receiver.requests.append(
                Received({k.lower(): v for k, v in self.headers.items()}, body)
            )
            if receiver.hold_first and len(receiver.requests) == 1:
                receiver.release.wait(30)
            status = receiver.next_status()
            self.send_response(status)
            self.send_header("content-type", "application/json")
            self.send_header("content-length", str(len(receiver.answer)))
            self.end_headers()
            self.wfile.write(receiver.answer)

        def log_message(self, format: str, *args: Any) -> None:
            pass

    return Handler


@pytest.fixture
def receiver(settings: Any) -> Iterator[Receiver]:
    settings.OUTBOUND_ALLOW_NETWORKS = ["127.0.0.1/32"]
    settings.WEBHOOK_RETRY_SCHEDULE = [0, 0, 0, 0]  # every retry due at once in tests
    rec = Receiver()
    server = ThreadingHTTPServer(("127.0.0.1", 0), _handler(rec))
    rec.url = f"http://127.0.0.1:{server.server_address[1]}/hooks/kyc"
    thread = threading.Thread(target=server.serve_forever, daemon=True)
    thread.start()
    try:
        yield rec
    finally:
        rec.release.set()
        server.shutdown()
        server.server_close()


@dataclass
class Shop:
    merchant: Merchant
    account: ProviderAccount
    endpoint: WebhookEndpoint
    secret: str


@pytest.fixture
def shop(db: Any, receiver: Receiver) -> Shop:
    merchant = factories.MerchantFactory()
    account = factories.ProviderAccountFactory(merchant=merchant, provider="corepass")
    endpoint, secret = outbox.webhook_endpoint_create(
        merchant=merchant, url=receiver.url, events=["*"]
    )
    return Shop(merchant, account, endpoint, secret)


def make_transfer(shop: Shop, reference: str = "order-1") -> TransferRequest:
    return factories.TransferRequestFactory(account=shop.account, reference=reference)


def pinged(merchant: Merchant, receiver: Receiver) -> WebhookDelivery:
    """A new endpoint of `merchant` at `receiver`, sent one test ping: its delivery."""
    endpoint, _ = outbox.webhook_endpoint_create(merchant=merchant, url=receiver.url)
    message = outbox.webhook_endpoint_test(endpoint=endpoint)
    deliver_all()
    return WebhookDelivery.objects.get(message=message)


def deliver_all(rounds: int = 20) -> None:
    """What the worker and the sweeper do, inline: dispatch, then send what is due, until
    nothing is due (retry schedule [0, 0, ...] in these tests)."""
    for _ in range(rounds):
        for pk in WebhookMessage.objects.filter(dispatched_at__isnull=True).values_list(
            "pk", flat=True
        ):
            outbox.webhook_message_dispatch(message_id=pk)
        due = list(
            WebhookDelivery.objects.filter(
                state=WebhookDelivery.State.PENDING, next_attempt_at__lte=timezone.now()
            ).values_list("pk", flat=True)
        )
        if not due:
            return
        for pk in due:
            outbox.webhook_delivery_send(delivery_id=pk)
