"""README's quick start, run exactly as written against a running portal.

The portal is started the way `make run` starts it: `scripts/run.py` (migrate, demo, web,
Celery workers and beat on the embedded defaults: SQLite and the on-disk broker), on a
free port and with a private VAR_DIR, so the developer's own var/ is never touched. It is
ready in about 15 s, well under the 60 s this test allows. The shell block between the
`<!-- quickstart -->` markers is then run by bash from a folder whose var/ is that
VAR_DIR, with only PORT set, as a newcomer would run it in a second terminal.
"""

from __future__ import annotations

import json
import os
import signal
import socket
import subprocess
import sys
import time
from collections.abc import Iterator
from pathlib import Path
from typing import Any

import pytest
import requests

from providers.corepass.coreid import is_valid, sample_coreid
from tests.conftest import ROOT

pytestmark = pytest.mark.worker

START, END = "<!-- quickstart -->", "<!-- /quickstart -->"
# What the test process sets for itself (tests/settings.py, the helper's own services):
# the portal under test gets none of it, only the embedded defaults `make run` has.
_NOT_INHERITED = (
    "DATABASE_URL",
    "REDIS_URL",
    "CACHE_URL",
    "DJANGO_SETTINGS_MODULE",
    "SECRET_KEY",
    "FIELD_ENCRYPTION_KEYS",
    "DEBUG",
    "SANDBOX",
    "PUBLIC_URL",
    "SESSION_COOKIE_SECURE",
    "CSRF_COOKIE_SECURE",
    "SECURE_HSTS_SECONDS",
    "OUTBOUND_ALLOW_NETWORKS",
    "PROMETHEUS_MULTIPROC_DIR",
    "VAR_DIR",
    "PORT",
)


def quickstart_block(readme: str) -> str:
    """The shell code between the markers (the ```sh fence stripped)."""
    assert readme.count(START) == 1 and readme.count(END) == 1, "README needs the markers once"
    part = readme.split(START, 1)[1].split(END, 1)[0].strip()
    assert part.startswith("```sh\n") and part.endswith("```"), part[:80]
    return part.removeprefix("```sh\n").removesuffix("```")


def free_port() -> int:
    with socket.socket() as s:
        s.bind(("127.0.0.1", 0))
        return int(s.getsockname()[1])


def json_documents(text: str) -> list[Any]:
    """Every JSON document printed one after another (curl adds no newline)."""
    decoder, docs, i = json.JSONDecoder(), [], 0
    while True:
        while i < len(text) and text[i].isspace():
            i += 1
        if i >= len(text):
            return docs
        doc, i = decoder.raw_decode(text, i)
        docs.append(doc)


@pytest.fixture
def running_portal(tmp_path: Path) -> Iterator[tuple[int, Path]]:
    port = free_port()
    while port == 8000:  # the point is that the README does not assume 8000
        port = free_port()
    home = tmp_path / "project"
    var = home / "var"
    var.mkdir(parents=True)
    env = {k: v for k, v in os.environ.items() if k not in _NOT_INHERITED}
    env.update(PORT=str(port), VAR_DIR=str(var))
    log = tmp_path / "run.log"
    proc = subprocess.Popen(
        [sys.executable, "scripts/run.py"],
        cwd=ROOT,
        env=env,
        stdout=log.open("w"),
        stderr=subprocess.STDOUT,
        start_new_session=True,
    )
    try:
        deadline = time.time() + 60
        while True:
            if proc.poll() is not None:
                pytest.fail(f"scripts/run.py exited:\n{log.read_text()[-3000:]}")
            try:
                if requests.get(f"http://127.0.0.1:{port}/healthz", timeout=2).ok:
                    break
            except requests.RequestException:
                pass
            if time.time() > deadline:
                pytest.fail(f"the portal did not answer within 60 s:\n{log.read_text()[-3000:]}")
            time.sleep(0.3)
        printed = log.read_text()
        assert f"Sample CoreID (the CorePass sandbox knows it): {sample_coreid()}" in printed
        assert f"http://127.0.0.1:{port}/sandbox/" in printed
        yield port, home
    finally:
        os.killpg(proc.pid, signal.SIGTERM)
        try:
            proc.wait(timeout=20)
        except subprocess.TimeoutExpired:
            os.killpg(proc.pid, signal.SIGKILL)


def test_it_runs_the_readme_quick_start_as_written(running_portal: tuple[int, Path]) -> None:
    port, home = running_portal
    block = quickstart_block((ROOT / "README.md").read_text())
    assert "8000" not in block.replace("${PORT:-8000}", "")  # only as the default of $PORT
    assert sample_coreid() in block and is_valid(sample_coreid())
    out = subprocess.run(
        ["bash", "-e", "-o", "pipefail", "-c", block],
        cwd=home,
        env={"PATH": os.environ["PATH"], "PORT": str(port), "HOME": str(home)},
        capture_output=True,
        text=True,
        timeout=60,
    )
    assert out.returncode == 0, out.stderr[-2000:]
    created, read = json_documents(out.stdout)
    assert created["provider"] == "corepass" and created["reference"] == "customer-42"
    assert created["status"] == "pending", created  # the sandbox connector accepted it
    assert created["page_url"].startswith(f"http://127.0.0.1:{port}/t/")
    assert read["id"] == created["id"]
    assert read["status"] in ("pending", "opened", "accepted", "completed")
    # The customer page the answer points at is live.
    assert requests.get(created["page_url"], timeout=10).status_code == 200


def test_it_finds_exactly_one_quick_start_block() -> None:
    readme = (ROOT / "README.md").read_text()
    block = quickstart_block(readme)
    assert "curl" in block and "$PORT" in block
    with pytest.raises(AssertionError):
        quickstart_block(readme.replace(START, "", 1))  # positive control: markers required
