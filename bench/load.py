"""The load generator: wrk (a second process), driven with Lua for pre-signed POST bodies.

GET loads use wrk as is. POST loads (webhooks, callbacks) need a distinct,
correctly signed body per request; signing in Lua would need HMAC/Ed448, so
Python signs a pool of raw HTTP requests up front, one file per wrk thread,
and Lua replays them in order. If a pool runs out, wrk wraps around and the
result says so (replays are duplicates, which are cheaper: the figure is then
flagged rather than silently flattered).
"""

from __future__ import annotations

import dataclasses
import json
import shutil
import subprocess
from collections.abc import Iterable, Sequence
from dataclasses import dataclass, field
from pathlib import Path
from urllib.parse import urlsplit

from bench import cpu
from bench.stack import OUT_DIR, only_loopback

_DONE_LUA = r"""
function done(summary, latency, requests)
  local e = summary.errors
  local used, size = 0, 0
  for _, t in ipairs(threads) do
    used = used + (t:get("sent") or 0)
    size = size + (t:get("size") or 0)
  end
  io.write(string.format(
    'BENCHJSON {"requests":%d,"duration_us":%d,"connect":%d,"read":%d,"write":%d,' ..
    '"status":%d,"timeout":%d,"p50_us":%d,"p99_us":%d,"mean_us":%.1f,"pool_used":%d,"pool_size":%d}\n',
    summary.requests, summary.duration, e.connect, e.read, e.write, e.status, e.timeout,
    latency:percentile(50), latency:percentile(99), latency.mean, used, size))
end
"""

_THREADS_LUA = r"""
threads = {}
function setup(thread)
  table.insert(threads, thread)
  thread:set("tid", #threads)
end
"""

# Each pool file: records of "<byte length>\n<raw HTTP request>".
_POOL_LUA = r"""
local pool = {}
local n = 0
sent = 0
size = 0
function init(args)
  local f = assert(io.open(args[1] .. "." .. tid, "rb"))
  local data = f:read("*a")
  f:close()
  local pos = 1
  while pos <= #data do
    local nl = string.find(data, "\n", pos, true)
    local len = tonumber(string.sub(data, pos, nl - 1))
    pool[#pool + 1] = string.sub(data, nl + 1, nl + len)
    pos = nl + 1 + len
  end
  size = #pool
end
function request()
  n = n + 1
  sent = n
  return pool[((n - 1) % #pool) + 1]
end
"""


@dataclass(frozen=True)
class LoadResult:
    requests: int
    seconds: float
    p50_ms: float
    p99_ms: float
    mean_ms: float
    errors: int  # connect/read/write/timeout errors and 4xx/5xx answers
    pool_used: int = 0
    pool_size: int = 0
    # Milliseconds of CPU per request during the run, by who spent it (bench.cpu).
    cpu_ms: dict[str, float] = field(default_factory=dict)

    @property
    def rps(self) -> float:
        return self.requests / self.seconds if self.seconds else 0.0

    @property
    def pool_exhausted(self) -> bool:
        return self.pool_size > 0 and self.pool_used > self.pool_size


def parse_wrk_output(text: str) -> LoadResult:
    for line in text.splitlines():
        if line.startswith("BENCHJSON "):
            d = json.loads(line[len("BENCHJSON ") :])
            return LoadResult(
                requests=d["requests"],
                seconds=d["duration_us"] / 1e6,
                p50_ms=d["p50_us"] / 1000,
                p99_ms=d["p99_us"] / 1000,
                mean_ms=d["mean_us"] / 1000,
                errors=d["connect"] + d["read"] + d["write"] + d["timeout"] + d["status"],
                pool_used=d["pool_used"],
                pool_size=d["pool_size"],
            )
    raise RuntimeError(f"wrk printed no result:\n{text[-2000:]}")


def wrk_binary() -> str:
    found = shutil.which("wrk")
    if not found:
        raise SystemExit(
            "bench: wrk is not installed. Install Debian's package: `sudo apt-get install -y wrk`"
        )
    return found


def _script(name: str, body: str) -> Path:
    OUT_DIR.mkdir(parents=True, exist_ok=True)
    path = OUT_DIR / name
    path.write_text(_THREADS_LUA + body + _DONE_LUA)
    return path


def wrk(
    url: str,
    *,
    connections: int,
    seconds: float,
    threads: int = 2,
    pool: Path | None = None,
) -> LoadResult:
    """One wrk run against url (loopback only), optionally replaying a request pool."""
    only_loopback(url)
    threads = max(1, min(threads, connections))
    script = _script("pool.lua", _POOL_LUA) if pool else _script("get.lua", "")
    cmd = [
        wrk_binary(),
        "-t",
        str(threads),
        "-c",
        str(connections),
        "-d",
        f"{max(1, round(seconds))}s",
        "--timeout",
        "10s",
        "-s",
        str(script),
        url,
    ]
    if pool:
        cmd += ["--", str(pool)]
    before = cpu.sample(cpu.ROOTS) if cpu.available() else None
    out = subprocess.run(cmd, capture_output=True, text=True, timeout=seconds + 60, check=False)
    if out.returncode != 0:
        raise RuntimeError(f"wrk failed ({out.returncode}): {out.stderr[-2000:]}")
    result = parse_wrk_output(out.stdout)
    if before is None:
        return result
    after = cpu.sample(cpu.ROOTS)
    return dataclasses.replace(result, cpu_ms=cpu.per_request(before, after, result.requests))


def raw_request(
    method: str, url: str, *, headers: Sequence[tuple[str, str]] = (), body: bytes = b""
) -> bytes:
    """The exact bytes of one HTTP/1.1 request (keep-alive; gunicorn's sync workers close anyway)."""
    parts = urlsplit(url)
    path = parts.path + (f"?{parts.query}" if parts.query else "")
    lines = [f"{method} {path} HTTP/1.1", f"Host: {parts.netloc}"]
    lines += [f"{k}: {v}" for k, v in headers]
    lines.append(f"Content-Length: {len(body)}")
    return ("\r\n".join(lines) + "\r\n\r\n").encode() + body


def write_pool(name: str, groups: Iterable[Sequence[bytes]], threads: int) -> Path:
    """Deal groups of pre-built requests round-robin into one file per wrk thread (a group,
    e.g. one request's status then data callback, stays in order on one thread);
    returns the base path the Lua script appends `.<thread>` to."""
    OUT_DIR.mkdir(parents=True, exist_ok=True)
    base = OUT_DIR / f"{name}.pool"
    files = [(base.parent / f"{base.name}.{i + 1}").open("wb") for i in range(threads)]
    try:
        for n, group in enumerate(groups):
            f = files[n % threads]
            for req in group:
                f.write(f"{len(req)}\n".encode())
                f.write(req)
    finally:
        for f in files:
            f.close()
    return base
