"""A provider's HTTP API played by the test: it can hold a request (so a worker can be
killed in the middle of it), answer slowly, or fail with 5xx, and it counts every call."""

from __future__ import annotations

import json
import threading
import time
from collections.abc import Callable
from http.server import BaseHTTPRequestHandler, ThreadingHTTPServer
from typing import Any

Reply = tuple[int, Any]


class FakeProvider:
    def __init__(self, reply: Callable[[str, str, int], Reply]) -> None:
        """reply(method, path, call_number) -> (status, json body); may sleep or block."""
        self.reply = reply
        self.calls: list[tuple[float, str, str]] = []
        self.release = threading.Event()
        self.arrived = threading.Event()
        fake = self

        class Handler(BaseHTTPRequestHandler):
            def _handle(self) -> None:
                length = int(self.headers.get("Content-Length") or 0)
                if length:
                    self.rfile.read(length)
                fake.calls.append((time.monotonic(), self.command, self.path))
                fake.arrived.set()
                status, body = fake.reply(self.command, self.path, len(fake.calls))
                data = json.dumps(body).encode()
                try:
                    self.send_response(status)
                    self.send_header("Content-Type", "application/json")
                    self.send_header("Content-Length", str(len(data)))
                    self.end_headers()
                    self.wfile.write(data)
                except OSError:  # the caller died while we held it
                    pass

            do_GET = do_POST = do_PUT = _handle

            def log_message(self, *args: Any) -> None:
                pass

        self.server = ThreadingHTTPServer(("127.0.0.1", 0), Handler)
        self.server.daemon_threads = True
        self.url = f"http://127.0.0.1:{self.server.server_address[1]}"
        threading.Thread(target=self.server.serve_forever, daemon=True).start()

    def hold(self, seconds: float = 30) -> None:
        """Block this call until released (or the caller is killed)."""
        self.release.wait(seconds)

    def close(self) -> None:
        self.release.set()
        self.server.shutdown()
        self.server.server_close()
