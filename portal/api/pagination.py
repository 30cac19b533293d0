"""List pagination.

Transfers, records, certificates, webhook endpoints and deliveries: cursor pagination,
newest first (`?cursor=&limit=`): a page costs the same on row 100 or 100,000 and rows
added meanwhile never shift a page.
`limit` is at most MAX_LIMIT (a larger value is lowered to it, never refused).
"""

from __future__ import annotations

import re
from typing import Any

from rest_framework.exceptions import NotFound, ValidationError
from rest_framework.pagination import CursorPagination, LimitOffsetPagination
from rest_framework.request import Request
from rest_framework.utils.urls import replace_query_param
from rest_framework.views import APIView

from portal.api.filters import parse_utc

MAX_LIMIT = 100
DEFAULT_LIMIT = 50


class NewestFirstCursorPagination(CursorPagination):
    """`?cursor=&limit=`, newest first; a cursor that is not ours is a 400, not a 404."""

    ordering = "-created_at"
    page_size = DEFAULT_LIMIT
    page_size_query_param = "limit"
    max_page_size = MAX_LIMIT

    def read_position(self, position: str) -> str:
        """The position a cursor carries, as the query reads it; ValueError: not ours.
        Ours carry str(created_at), in UTC; another time is read in UTC (the database
        refuses offsets past 15:59); what is not a time is not ours."""
        return str(parse_utc(position))

    def decode_cursor(self, request: Request) -> Any:
        try:
            cursor = super().decode_cursor(request)
            if cursor is not None and cursor.position is not None:
                position: Any = self.read_position(str(cursor.position))  # stubs say int
                cursor = cursor._replace(position=position)
        except (NotFound, ValueError):
            raise ValidationError({"cursor": ["Invalid cursor."]}) from None
        return cursor

    def encode_cursor(self, cursor: Any) -> str:
        # The next/previous links carry the limit actually used (1000 -> 100).
        url = super().encode_cursor(cursor)
        if f"{self.page_size_query_param}=" in url:
            url = replace_query_param(url, self.page_size_query_param, self.page_size)
        return url

    def get_schema_operation_parameters(self, view: APIView) -> list[dict[str, Any]]:
        return _described(
            super().get_schema_operation_parameters(view),
            {
                self.page_size_query_param: _limit_text(DEFAULT_LIMIT),
                self.cursor_query_param: "Where the page starts: copy it from `next` or "
                "`previous`.",
            },
        )


class NewestIdFirstCursorPagination(NewestFirstCursorPagination):
    """The same, by id: for rows that may share a created_at."""

    ordering = "-id"

    def read_position(self, position: str) -> str:
        # Ours carry an id: anything else (garbage, NUL, past bigint) is not ours.
        if not re.fullmatch(r"-?[0-9]{1,18}", position):
            raise ValueError(position)
        return position


class CappedLimitOffsetPagination(LimitOffsetPagination):
    """A `limit` above MAX_LIMIT is clamped to it (not refused): clients that ask for
    "everything" get the first 100 and a `next` link, never an error or a huge page."""

    max_limit = MAX_LIMIT

    def get_schema_operation_parameters(self, view: APIView) -> list[dict[str, Any]]:
        return _described(
            super().get_schema_operation_parameters(view),
            {self.limit_query_param: _limit_text(self.default_limit)},
        )


def _limit_text(default: Any) -> str:
    return (
        f"Rows per page (default {default}, at most {MAX_LIMIT}; "
        f"a larger value is treated as {MAX_LIMIT})."
    )


def _described(params: list[dict[str, Any]], texts: dict[str, str]) -> list[dict[str, Any]]:
    """The schema's query parameters, with our wording for those named in `texts`."""
    for p in params:
        if p["name"] in texts:
            p["description"] = texts[p["name"]]
    return params
