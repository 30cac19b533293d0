"""The bench harness's machinery (not its timings): stats, table, wrk pools, mounting, args."""

from __future__ import annotations

import shutil
import threading
from http.server import BaseHTTPRequestHandler, ThreadingHTTPServer
from typing import Any

import pytest
from django.db import connection, transaction
from django.http import HttpResponse
from django.test import RequestFactory
from django.urls import Resolver404, resolve

from bench import cpu, load, stack
from bench.middleware import COMMITS_HEADER, HEADER, QueryCountMiddleware
from bench.run import PARTS, parse_args
from bench.stats import (
    Figure,
    Summary,
    parse_goal,
    percentile,
    query_counts,
    ratios,
    raw_sizes,
    table,
)
from bench.urls import BASELINE_INSERT, BASELINE_JSON


def test_it_summarises_runs_as_median_min_max() -> None:
    s = Summary.of([3.0, 1.0, 2.0, 10.0])
    assert (s.median, s.min, s.max, s.runs) == (2.5, 1.0, 10.0, 4)
    with pytest.raises(ValueError):
        Summary.of([])


def test_it_pairs_ratios_run_by_run() -> None:
    assert ratios([80, 90], [100, 100]) == [0.8, 0.9]
    with pytest.raises(ValueError):
        ratios([1], [1, 2])


def test_it_takes_nearest_rank_percentiles() -> None:
    values = list(range(1, 101))
    assert percentile(values, 50) == 50
    assert percentile(values, 99) == 99
    assert percentile([7], 99) == 7


def test_it_says_whether_a_goal_is_met_on_the_median() -> None:
    assert parse_goal(">= 0.8") == (">=", 0.8)
    assert parse_goal("<= 10, constant") == ("<=", 10.0)
    assert Figure("x", Summary.of([0.7, 0.9, 0.85]), goal=">= 0.8").verdict == "met"
    assert Figure("x", Summary.of([0.7, 0.75, 0.9]), goal=">= 0.8").verdict == "MISSED"
    assert Figure("x", Summary.of([120.0]), goal="< 100").verdict == "MISSED"
    assert Figure("x", None, goal=">= 0.8").verdict == "not available"
    assert (
        Figure("x", Summary.of([5.0]), goal="<= 10, constant", also_met=False).verdict == "MISSED"
    )
    assert Figure("x", Summary.of([5.0])).verdict == ""


def test_it_misses_a_query_count_that_grows_with_the_rows() -> None:
    small = {"flat": ([4, 4], [1.0, 1.0]), "grows": ([4, 4], [1.0, 1.0])}
    full = {"flat": ([4, 4, 4], [2.0] * 3), "grows": ([4, 5, 4], [2.0] * 3)}
    figures = query_counts(small, full, sizes=("1,000", "100,000"), goal="<= 10, constant")
    flat, grows = figures["flat"], figures["grows"]
    assert (flat.name, flat.verdict, flat.value and flat.value.median) == ("flat queries", "met", 4)
    assert flat.note == "same count at 1,000 and at 100,000"
    assert grows.verdict == "MISSED"
    assert grows.note == "NOT constant: [4] at 1,000, [4, 5] at 100,000"
    assert raw_sizes(small, full)["full"]["grows"] == {"queries": [4, 5, 4], "ms": [2.0] * 3}


def test_it_starts_one_lone_celery_worker_node_on_the_given_queues() -> None:
    argv = stack.celery_worker_command(queues="celery,webhooks", name="n1", pool=("--pool", "solo"))
    assert argv[1:6] == ["-m", "celery", "-A", "portal", "worker"]
    assert argv[argv.index("-Q") + 1] == "celery,webhooks"
    assert argv[argv.index("-n") + 1] == "n1@%h"
    assert argv[argv.index("--pool") + 1] == "solo"
    assert {"--without-mingle", "--without-gossip"} <= set(argv)


def test_it_prints_one_table_with_every_figure() -> None:
    text = table(
        [
            Figure("poll_vs_baseline", Summary.of([0.5, 0.6, 0.55]), "x", goal=">= 0.8"),
            Figure("callback_vs_insert", None, note="endpoint missing"),
        ]
    )
    lines = text.splitlines()
    assert lines[0].split()[:4] == ["figure", "median", "min", "max"]
    assert "poll_vs_baseline" in lines[2] and "MISSED" in lines[2] and "0.550" in lines[2]
    assert "not available" in lines[3] and "endpoint missing" in lines[3]


def test_it_parses_wrk_results() -> None:
    out = (
        "Running 1s test\nBENCHJSON "
        '{"requests":300,"duration_us":2000000,"connect":0,"read":1,"write":0,"status":2,'
        '"timeout":0,"p50_us":1500,"p99_us":9000,"mean_us":2000.0,"pool_used":301,"pool_size":300}\n'
    )
    r = load.parse_wrk_output(out)
    assert r.rps == 150 and r.p50_ms == 1.5 and r.p99_ms == 9 and r.errors == 3
    assert r.pool_exhausted
    with pytest.raises(RuntimeError):
        load.parse_wrk_output("no result here")


def test_it_writes_raw_requests_dealt_by_group(tmp_path: Any, monkeypatch: Any) -> None:
    monkeypatch.setattr(load, "OUT_DIR", tmp_path)
    req = load.raw_request("POST", "http://127.0.0.1:9/a?b=1", headers=[("X-A", "1")], body=b"hi")
    assert req.startswith(b"POST /a?b=1 HTTP/1.1\r\nHost: 127.0.0.1:9\r\nX-A: 1\r\n")
    assert req.endswith(b"Content-Length: 2\r\n\r\nhi")
    base = load.write_pool("t", [[b"a1", b"a2"], [b"b1"], [b"c1"]], threads=2)
    assert (tmp_path / "t.pool.1").read_bytes() == b"2\na12\na22\nc1"
    assert (tmp_path / "t.pool.2").read_bytes() == b"2\nb1"
    assert base == tmp_path / "t.pool"


@pytest.mark.skipif(shutil.which("wrk") is None, reason="wrk is not installed")
def test_it_replays_a_pool_of_distinct_requests_through_wrk(
    tmp_path: Any, monkeypatch: Any
) -> None:
    monkeypatch.setattr(load, "OUT_DIR", tmp_path)
    seen: list[bytes] = []

    class Handler(BaseHTTPRequestHandler):
        def do_POST(self) -> None:
            seen.append(self.rfile.read(int(self.headers["Content-Length"])))
            self.send_response(200)
            self.send_header("Content-Length", "0")
            self.end_headers()

        def log_message(self, *args: Any) -> None:
            pass

    server = ThreadingHTTPServer(("127.0.0.1", 0), Handler)
    threading.Thread(target=server.serve_forever, daemon=True).start()
    try:
        url = f"http://127.0.0.1:{server.server_port}/hook"
        pool = load.write_pool(
            "smoke",
            ([load.raw_request("POST", url, body=f"body-{i}".encode())] for i in range(5000)),
            threads=1,
        )
        result = load.wrk(url, connections=1, seconds=1, threads=1, pool=pool)
    finally:
        server.shutdown()
    assert result.requests > 0 and result.pool_size == 5000
    # Where the CPU went meanwhile: wrk (reaped child) and this process (the server above).
    assert result.cpu_ms["wrk"] > 0 and result.cpu_ms["bench"] > 0, result.cpu_ms
    # wrk builds one request at thread start that it never sends; after that, pool order.
    numbers = [int(b.split(b"-")[1]) for b in seen]
    assert len(numbers) >= 10
    assert numbers == list(range(numbers[0], numbers[0] + len(numbers)))  # in order, none replayed


@pytest.mark.skipif(not cpu.available(), reason="no /proc on this system")
def test_it_counts_cpu_by_who_spent_it(tmp_path: Any) -> None:
    import subprocess
    import sys
    import time

    # A started process and the child it forks: both count for the group it was started as.
    busy = "import os, time\nos.fork()\nt = time.process_time()\nwhile time.process_time() - t < 0.4: pass\ntime.sleep(30)"
    proc = subprocess.Popen([sys.executable, "-c", busy], start_new_session=True)
    try:
        before = cpu.sample({"worker": proc.pid})
        time.sleep(1.5)
        after = cpu.sample({"worker": proc.pid})
    finally:
        import os
        import signal

        os.killpg(proc.pid, signal.SIGKILL)
        proc.wait()
    spent = cpu.per_request(before, after, requests=100)  # ms per request
    assert spent["worker"] >= 0.7 * 800 / 100, spent  # two processes x 0.4 s, over 100
    assert spent["sandbox"] == 0.0
    assert cpu.describe({"web": 1.94, "worker": 0.01, "redis": 0.3}) == "web 1.9, redis 0.3"
    assert cpu.per_request(before, after, requests=0) == {}


def test_it_mounts_the_baselines_only_in_the_bench_urlconf() -> None:
    for url in (BASELINE_JSON, BASELINE_INSERT):
        with pytest.raises(Resolver404):
            resolve(url)  # tests.settings -> portal.urls
        assert str(resolve(url, urlconf="bench.urls").url_name).startswith("bench_baseline")
    assert resolve("/t/abc/status", urlconf="bench.urls").url_name == "transfer_status"


def test_it_parses_parts_and_refuses_fewer_than_three_runs() -> None:
    assert parse_args([]).parts == list(PARTS)  # every part, in the table's order
    assert PARTS[:6] == ("poll", "webhook", "callback", "qr", "issuance", "admin")
    assert parse_args(["--only", "admin,poll"]).parts == ["poll", "admin"]
    assert parse_args(["--only", "qr", "--quick"]).quick
    with pytest.raises(SystemExit):
        parse_args(["--only", "nope"])
    with pytest.raises(SystemExit):
        parse_args(["--runs", "2"])


def test_it_uses_its_own_database_and_redis_db_on_loopback_only() -> None:
    env = {
        "DATABASE_URL": "postgres://u@127.0.0.1:5432/portal",
        "REDIS_URL": "redis://127.0.0.1:6379/3",
    }
    assert stack.bench_database_url(env).endswith("/portal_bench")
    assert stack.bench_redis_url(env) == "redis://127.0.0.1:6379/15"
    assert stack.bench_database_url(
        {"BENCH_DATABASE_URL": "postgres://x@127.0.0.1/b_bench"}
    ).endswith("/b_bench")
    with pytest.raises(SystemExit):
        stack.only_loopback("http://example.org:8000/")
    with pytest.raises(SystemExit):
        stack.reset_database("postgres://postgres@127.0.0.1:5432/portal")  # not a bench database


@pytest.mark.django_db(transaction=True)
def test_it_counts_queries_and_durable_writes_per_request() -> None:
    def view(request: Any) -> HttpResponse:
        with connection.cursor() as c:
            c.execute("SELECT 1")
            c.execute("CREATE TEMP TABLE IF NOT EXISTS smoke_t (k int)")
            c.execute("INSERT INTO smoke_t VALUES (1)")  # autocommit: one durable write
        with transaction.atomic():
            with connection.cursor() as c:
                c.execute("INSERT INTO smoke_t VALUES (2)")
                c.execute("UPDATE smoke_t SET k = 3")  # same transaction: one commit
        return HttpResponse("ok")

    response = QueryCountMiddleware(view)(RequestFactory().get("/"))
    assert response[HEADER] == "5"
    assert response[COMMITS_HEADER] == "2"
    from django.db import connections

    assert "commit" not in vars(connections["default"])  # the real method is back


def test_it_counts_qr_renders_per_payload() -> None:
    from django.core.cache import cache

    from bench.apps import QR_TOTAL_KEY, counting, qr_key

    render = counting(lambda payload: f"<svg>{payload}</svg>")
    assert render("a") == "<svg>a</svg>"
    render("a")
    render("b")
    assert cache.get(qr_key("a")) == 2 and cache.get(qr_key("b")) == 1
    assert cache.get(QR_TOTAL_KEY) == 3
