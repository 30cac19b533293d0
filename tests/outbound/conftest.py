"""Outbound-policy fixtures: small live HTTP servers that record what reaches them.

The policy refuses loopback; these tests opt in explicitly, per test, through the
settings-level OUTBOUND_ALLOW_NETWORKS (never a switch in production settings)."""

from __future__ import annotations

import http.server
import threading
from collections.abc import Callable, Iterator
from dataclasses import dataclass, field
from typing import Any

import pytest

# (method, path, headers, body) -> (status, headers, body)
Answer = Callable[[str, str, dict[str, str], bytes], tuple[int, dict[str, str], bytes]]


def ok_json(*_: Any) -> tuple[int, dict[str, str], bytes]:
    return 200, {"Content-Type": "application/json"}, b"{}"


@dataclass
class Seen:
    method: str
    path: str
    headers: dict[str, str]
    body: bytes

    def text(self) -> str:
        return f"{self.method} {self.path} {self.headers} {self.body.decode(errors='replace')}"


@dataclass
class Capture:
    """A live server on (host, port) that records every request it receives."""

    host: str
    port: int
    seen: list[Seen] = field(default_factory=list)
    answer: Answer = ok_json
    server: Any = None

    @property
    def url(self) -> str:
        return f"http://{self.host}:{self.port}"

    def saw(self, text: str) -> bool:
        return any(text in s.text() for s in self.seen)


def start_capture(host: str = "127.0.0.1", port: int = 0, answer: Answer = ok_json) -> Capture:
    capture = Capture(host=host, port=port, answer=answer)

    class Handler(http.server.BaseHTTPRequestHandler):
        def _any(self) -> None:
            length = int(self.headers.get("Content-Length") or 0)
            body = self.rfile.read(length) if length else b""
            headers = {k: v for k, v in self.headers.items()}
            capture.seen.append(Seen(self.command, self.path, headers, body))
            status, extra, payload = capture.answer(self.command, self.path, headers, body)
            self.send_response(status)
            for k, v in extra.items():
                self.send_header(k, v)
            self.send_header("Content-Length", str(len(payload)))
            self.end_headers()
            self.wfile.write(payload)

        do_GET = do_POST = do_PUT = do_DELETE = do_PATCH = _any

        def log_message(self, *args: Any) -> None:
            pass

    server = http.server.ThreadingHTTPServer((host, port), Handler)
    capture.port = server.server_address[1]
    capture.server = server
    threading.Thread(target=server.serve_forever, daemon=True).start()
    return capture


@pytest.fixture
def captures() -> Iterator[Callable[..., Capture]]:
    started: list[Capture] = []

    def start(host: str = "127.0.0.1", port: int = 0, answer: Answer = ok_json) -> Capture:
        c = start_capture(host, port, answer)
        started.append(c)
        return c

    yield start
    for c in started:
        c.server.shutdown()
        c.server.server_close()


@pytest.fixture
def allow_networks(settings: Any) -> Callable[..., None]:
    """The explicit test opt-in: let provider calls reach these (loopback) networks."""

    def allow(*networks: str) -> None:
        settings.OUTBOUND_ALLOW_NETWORKS = list(networks)

    return allow
