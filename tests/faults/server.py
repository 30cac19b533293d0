"""A real gunicorn process on the test database, for faults the test client cannot fake.

The test binds the listening socket itself (a free port unless FAULTS_PORT names one)
and hands it to gunicorn (`fd://`): the URL can only reach this server. A fixed port
shared by concurrent runs let one run's requests reach another run's server (another
database, another Redis), so a known token read as unknown and a cut database as up.
"""

from __future__ import annotations

import os
import signal
import socket
import subprocess
import sys
import time
from pathlib import Path

import requests

ROOT = Path(__file__).resolve().parents[2]
PORT = int(os.environ.get("FAULTS_PORT", "0"))  # 0: any free port


class Server:
    def __init__(self, env: dict[str, str], port: int = PORT) -> None:
        listener = socket.socket(socket.AF_INET, socket.SOCK_STREAM)
        listener.bind(("127.0.0.1", port))  # refused at once if the port is taken
        listener.listen(64)
        self.port = listener.getsockname()[1]
        self.url = f"http://127.0.0.1:{self.port}"
        self.log = ROOT / "var" / f"test-faults-server-{os.getpid()}.log"
        self.log.parent.mkdir(exist_ok=True)
        self.proc = subprocess.Popen(
            [
                sys.executable,
                "-m",
                "gunicorn",
                "portal.wsgi",
                "-b",
                f"fd://{listener.fileno()}",
                "-w",
                "1",
                "--threads",
                "4",
                "--timeout",
                "30",
                "--no-control-socket",  # one shared ~/.gunicorn/gunicorn.ctl otherwise
            ],
            cwd=ROOT,
            env=env,
            stdout=self.log.open("w"),
            stderr=subprocess.STDOUT,
            start_new_session=True,
            pass_fds=(listener.fileno(),),
        )
        listener.close()  # gunicorn holds its own copy
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
