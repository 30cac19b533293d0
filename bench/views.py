"""The framework's own ceiling, served by the same gunicorn workers as the portal."""

from __future__ import annotations

import uuid

from django.db import connection
from django.http import HttpRequest, JsonResponse
from django.views.decorators.csrf import csrf_exempt
from django.views.decorators.http import require_GET, require_POST

# Created by run.py before the server starts; a raw table so the bench adds no model.
INSERT_TABLE_SQL = "CREATE TABLE IF NOT EXISTS bench_insert (k text PRIMARY KEY)"


@require_GET
def baseline_json(request: HttpRequest) -> JsonResponse:
    """A tiny JSON answer, no database."""
    return JsonResponse({"ok": True})


@csrf_exempt
@require_POST
def baseline_insert(request: HttpRequest) -> JsonResponse:
    """Read the body, insert one row with a unique key, committed (autocommit) before the answer."""
    request.body  # noqa: B018  (read it, as a webhook view does)
    with connection.cursor() as cursor:
        cursor.execute("INSERT INTO bench_insert (k) VALUES (%s)", [uuid.uuid4().hex])
    return JsonResponse({"ok": True})
