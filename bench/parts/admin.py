"""Admin at scale: KYCRecord and TransferRequest changelists with 100,000 rows each.

Logged in as a superuser through the real stack (login form, session cookie).
Queries per page are measured at a small table and at the full one, on the
first, a middle and the last page: the goal is the same small count everywhere.
"""

from __future__ import annotations

import re
import secrets
import time

import requests

from bench import seed
from bench.context import Ctx
from bench.middleware import HEADER
from bench.stats import Figure, Summary, query_counts, raw_sizes

PER_PAGE = 100  # Django admin's default list_per_page
CHANGELISTS = {
    "KYCRecord": "/admin/kyc/kycrecord/",
    "TransferRequest": "/admin/kyc/transferrequest/",
}
REPEATS = 3


def login(base_url: str, username: str, password: str) -> requests.Session:
    s = requests.Session()
    page = s.get(f"{base_url}/admin/login/", timeout=30)
    token = re.search(r'name="csrfmiddlewaretoken" value="([^"]+)"', page.text)
    if token is None:
        raise RuntimeError("no CSRF token on the admin login page")
    r = s.post(
        f"{base_url}/admin/login/?next=/admin/",
        data={
            "username": username,
            "password": password,
            "csrfmiddlewaretoken": token.group(1),
            "next": "/admin/",
        },
        headers={"Referer": f"{base_url}/admin/login/"},
        timeout=30,
        allow_redirects=False,
    )
    if r.status_code != 302:
        raise RuntimeError(f"admin login failed: {r.status_code}")
    return s


def measure(s: requests.Session, url: str, pages: list[int]) -> tuple[list[int], list[float]]:
    queries: list[int] = []
    times: list[float] = []
    for p in pages:
        for _ in range(REPEATS):
            t0 = time.perf_counter()
            r = s.get(url, params={"p": p} if p else None, timeout=60)
            times.append((time.perf_counter() - t0) * 1000)
            if r.status_code != 200:
                raise RuntimeError(f"{url}?p={p} answered {r.status_code}")
            queries.append(int(r.headers[HEADER]))
    return queries, times


def run(ctx: Ctx) -> list[Figure]:
    total = 10_000 if ctx.quick else 100_000
    small = 1_000
    account = seed.merchant_account(provider="corepass")
    password = secrets.token_urlsafe(16)
    seed.superuser(username="bench-admin", password=password)
    s = login(ctx.base_url, "bench-admin", password)

    seed.admin_rows(account=account, count=small, batch="a")
    at_small = {
        name: measure(s, ctx.base_url + path, [0, small // PER_PAGE // 2, small // PER_PAGE - 1])
        for name, path in CHANGELISTS.items()
    }
    t0 = time.perf_counter()
    seed.admin_rows(account=account, count=total - small, batch="b")
    ctx.log(f"admin: {total:,} rows per table seeded in {time.perf_counter() - t0:.1f}s")
    last = total // PER_PAGE - 1
    at_full = {
        name: measure(s, ctx.base_url + path, [0, last // 2, last])
        for name, path in CHANGELISTS.items()
    }
    ctx.raw["admin"] = {"rows": total, **raw_sizes(at_small, at_full)}
    sizes = (f"{small:,} rows", f"{total:,} rows, first/middle/last page")
    queries = query_counts(
        at_small, at_full, sizes=sizes, goal="<= 10, constant", label="admin {} queries/page"
    )
    figures: list[Figure] = []
    for name in CHANGELISTS:
        figures.append(queries[name])
        figures.append(
            Figure(
                f"admin {name} time/page",
                Summary.of(at_full[name][1]),
                "ms",
                note=f"first/middle/last page x {REPEATS}",
            )
        )
    return figures
