"""`make run`'s runner: embedded defaults, /healthz 200, login page, Ctrl-C stops every process."""

import json
import os
import signal
import socket
import subprocess
import sys
import time
import urllib.request
from pathlib import Path

import pytest

ROOT = Path(__file__).resolve().parents[2]


def free_port() -> int:
    with socket.socket() as s:
        s.bind(("127.0.0.1", 0))
        return s.getsockname()[1]


def get(url: str) -> tuple[int, bytes]:
    try:
        with urllib.request.urlopen(url, timeout=3) as r:  # noqa: S310 (loopback only)
            return r.status, r.read()
    except urllib.error.HTTPError as e:
        return e.code, e.read()


@pytest.mark.worker
def test_it_starts_web_worker_and_beat_on_embedded_defaults_and_stops_them_all(tmp_path) -> None:
    port = free_port()
    env = {
        k: v
        for k, v in os.environ.items()
        if k
        not in {
            "DATABASE_URL",
            "REDIS_URL",
            "CACHE_URL",
            "DJANGO_SETTINGS_MODULE",
            "FIELD_ENCRYPTION_KEYS",
            "SECRET_KEY",
            "DEBUG",
            "SANDBOX",
        }
    }
    env.update(PORT=str(port), VAR_DIR=str(tmp_path / "var"))
    proc = subprocess.Popen(
        [sys.executable, "scripts/run.py"],
        cwd=ROOT,
        env=env,
        stdout=subprocess.PIPE,
        stderr=subprocess.STDOUT,
        text=True,
    )
    try:
        deadline = time.time() + 120
        status = 0
        while time.time() < deadline:
            try:
                status, body = get(f"http://127.0.0.1:{port}/healthz")
                if status == 200:
                    break
            except OSError:
                pass
            time.sleep(0.5)
        assert status == 200, "healthz did not answer 200 within 2 minutes"
        assert json.loads(body) == {"db": "ok", "broker": "ok"}
        assert get(f"http://127.0.0.1:{port}/login/")[0] == 200
        assert (tmp_path / "var" / "portal.sqlite3").exists(), (
            "embedded mode uses SQLite under var/"
        )
        assert (tmp_path / "var" / "broker").is_dir(), "embedded mode uses the on-disk broker"
    finally:
        proc.send_signal(signal.SIGINT)
        out, _ = proc.communicate(timeout=30)
    assert "demo / demo-password" in out and "API key: kp_" in out and f"127.0.0.1:{port}" in out
    time.sleep(1)
    with pytest.raises(OSError):
        get(f"http://127.0.0.1:{port}/healthz")
    left = subprocess.run(
        ["pgrep", "-f", "celery -A portal (worker|beat)"], capture_output=True, text=True
    ).stdout.split()
    ours = (
        [
            pid
            for pid in left
            if str(tmp_path) in Path(f"/proc/{pid}/environ").read_bytes().decode(errors="ignore")
        ]
        if left
        else []
    )
    assert ours == [], "worker or beat survived Ctrl-C"
