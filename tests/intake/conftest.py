"""What one delivery costs the database: statements run and durable writes (commits)."""

from __future__ import annotations

from collections.abc import Callable, Iterator
from contextlib import contextmanager
from dataclasses import dataclass, field
from typing import Any

import pytest
from django.db import connection

_WRITES = ("insert", "update", "delete")


@dataclass
class Cost:
    queries: list[str] = field(default_factory=list)
    commits: int = 0

    def __str__(self) -> str:
        lines = "\n".join(f"  {q[:160]}" for q in self.queries)
        return f"{len(self.queries)} queries, {self.commits} commit(s):\n{lines}"


@contextmanager
def cost() -> Iterator[Cost]:
    """Counts like the bench's X-Bench-Queries / X-Bench-Commits headers: every statement,
    and every durable write (a commit, or a write statement run in autocommit mode)."""
    seen = Cost()

    def counter(execute: Callable[..., Any], sql: str, params: Any, many: bool, ctx: Any) -> Any:
        seen.queries.append(sql)
        if not connection.in_atomic_block and sql.lstrip()[:6].lower() in _WRITES:
            seen.commits += 1
        return execute(sql, params, many, ctx)

    real_commit = connection.commit

    def counting_commit() -> None:
        seen.commits += 1
        real_commit()

    connection.commit = counting_commit  # type: ignore[method-assign]
    try:
        with connection.execute_wrapper(counter):
            yield seen
    finally:
        del connection.commit


@pytest.fixture
def measure() -> Callable[[], Any]:
    return cost
