"""A real gunicorn process on the test database, for faults the test client cannot fake."""

from __future__ import annotations

import os
import signal
import subprocess
import sys
import time
from pathlib import Path

import requests

ROOT = Path(__file__).resolve().parents[2]
PORT = int(os.environ.get("FAULTS_PORT", "8112"))


class Server:
    def __init__(self, env: dict[str, str], port: int = PORT) -> None:
        self.port = port
        self.url = f"http://127.0.0.1:{port}"
        self.log = ROOT / "var" / f"test-faults-server-{os.getpid()}.log"
        self.log.parent.mkdir(exist_ok=True)
        self.proc = subprocess.Popen(
            [
                sys.executable,
                "-m",
                "gunicorn",
                "portal.wsgi",
                "-b",
                f"127.0.0.1:{port}",
                "-w",
                "1",
                "--threads",
                "4",
                "--timeout",
                "30",
            ],
            cwd=ROOT,
            env=env,
            stdout=self.log.open("w"),
            stderr=subprocess.STDOUT,
            start_new_session=True,
        )
        deadline = time.time() + 45
        while time.time() < deadline:
            if self.proc.poll() is not None:
                raise RuntimeError(f"gunicorn died:\n{self.log.read_text()[-3000:]}")
            try:
                requests.get(self.url + "/login/", timeout=5)
                return
            except requests.RequestException:  # not listening yet, or still loading
                time.sleep(0.2)
        self.stop()
        raise RuntimeError(f"gunicorn did not start:\n{self.log.read_text()[-3000:]}")

    def stop(self) -> None:
        if self.proc.poll() is None:
            os.killpg(self.proc.pid, signal.SIGTERM)
            try:
                self.proc.wait(timeout=10)
            except subprocess.TimeoutExpired:
                os.killpg(self.proc.pid, signal.SIGKILL)
