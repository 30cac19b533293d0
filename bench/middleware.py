"""Bench-only: what a request cost the database, as response headers.

X-Bench-Queries: SQL statements run. X-Bench-Commits: durable writes, i.e.
explicit commits (outermost atomic blocks) plus write statements run in
autocommit mode, each of which is its own transaction and its own WAL flush.
"""

from __future__ import annotations

from collections.abc import Callable
from typing import Any

from django.db import connections
from django.http import HttpRequest, HttpResponse

HEADER = "X-Bench-Queries"
COMMITS_HEADER = "X-Bench-Commits"
# Outgoing-webhook messages written (INSERT INTO kyc_webhookmessage), and how many of
# those ran in autocommit mode (each one an extra commit): "<inserts>/<autocommit>".
OUTBOX_HEADER = "X-Bench-Outbox"
_WRITES = ("insert", "update", "delete")


class QueryCountMiddleware:
    def __init__(self, get_response: Callable[[HttpRequest], HttpResponse]) -> None:
        self.get_response = get_response

    def __call__(self, request: HttpRequest) -> HttpResponse:
        conn = connections["default"]
        queries = 0
        commits = 0
        outbox = [0, 0]

        def counter(
            execute: Callable[..., Any], sql: str, params: Any, many: bool, context: Any
        ) -> Any:
            nonlocal queries, commits
            queries += 1
            if not conn.in_atomic_block and sql.lstrip()[:6].lower() in _WRITES:
                commits += 1
            if sql.lstrip().startswith('INSERT INTO "kyc_webhookmessage"'):
                outbox[0] += 1
                outbox[1] += 0 if conn.in_atomic_block else 1
            return execute(sql, params, many, context)

        real_commit = conn.commit

        def counting_commit() -> None:
            nonlocal commits
            commits += 1
            real_commit()

        conn.commit = counting_commit  # type: ignore[method-assign]
        try:
            with conn.execute_wrapper(counter):
                response = self.get_response(request)
        finally:
            del conn.commit  # back to the class's method
        response[HEADER] = str(queries)
        response[COMMITS_HEADER] = str(commits)
        response[OUTBOX_HEADER] = f"{outbox[0]}/{outbox[1]}"
        return response
