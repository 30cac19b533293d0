"""Changes to the audit log made behind the models' back, as someone with database access
would make them (the chain must name each)."""

from __future__ import annotations

from typing import Any

from django.db import connection

# Every column of an entry but its id.
COLUMNS = "at, actor_id, merchant_id, action, object_type, object_id, detail, prev_hash, hash"


def raw_sql(statement: str, params: list[Any]) -> None:
    with connection.cursor() as cur:
        cur.execute(statement, params)


def swap_entries(a: int, b: int) -> None:
    """Swap every column but the id of two entries (what reordering the log looks like)."""
    raw_sql(
        f"UPDATE kyc_auditentry t SET ({COLUMNS}) = "  # noqa: S608 - fixed column list
        f"(SELECT {COLUMNS} FROM kyc_auditentry s "
        "WHERE s.id = CASE WHEN t.id = %s THEN %s ELSE %s END) WHERE t.id IN (%s, %s)",
        [a, b, a, a, b],
    )
