"""List pagination: `?limit=&offset=`, at most MAX_LIMIT rows per page."""

from __future__ import annotations

from typing import Any

from rest_framework.pagination import LimitOffsetPagination
from rest_framework.views import APIView

MAX_LIMIT = 100


class CappedLimitOffsetPagination(LimitOffsetPagination):
    """A `limit` above MAX_LIMIT is clamped to it (not refused): clients that ask for
    "everything" get the first 100 and a `next` link, never an error or a huge page."""

    max_limit = MAX_LIMIT

    def get_schema_operation_parameters(self, view: APIView) -> list[dict[str, Any]]:
        params = super().get_schema_operation_parameters(view)
        for p in params:
            if p["name"] == self.limit_query_param:
                p["description"] = (
                    f"Rows per page (default {self.default_limit}, at most {MAX_LIMIT}; "
                    "a larger value is treated as 100)."
                )
        return params
