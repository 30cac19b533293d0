"""One error body for every API error (400, 401, 403, 404, 405, 409, 415, 422, 429, 503).

    {"detail": "<what went wrong, for a person>", "code": "<stable, for a program>",
     "errors": {"<field>": ["<message>", ...]}}            # 400 invalid input only

DRF's own exceptions (authentication, permission, throttling, parsing, validation) all
go through `exception_handler` (settings.REST_FRAMEWORK["EXCEPTION_HANDLER"]); the API's
own refusals are raised as `ApiError`, so nothing answers in another shape. A failed
`POST /transfers/` (the provider refused or is down) answers 422/503 with this body plus
the request it created (its fields beside `detail` and `code`).
"""

from __future__ import annotations

from typing import Any

from rest_framework import exceptions, status
from rest_framework.response import Response
from rest_framework.views import exception_handler as drf_exception_handler

# Codes the API's own refusals use (DRF's exceptions bring theirs: not_authenticated,
# authentication_failed, permission_denied, not_found, throttled, parse_error, ...).
INVALID = "invalid"
CONFLICT = "conflict"
IDEMPOTENCY_KEY_REUSED = "idempotency_key_reused"
IDEMPOTENCY_IN_PROGRESS = "idempotency_in_progress"


class ApiError(exceptions.APIException):
    """An API refusal with its own status and code (409 conflicts, 422 key reuse, ...)."""

    def __init__(self, detail: str, *, code: str, status_code: int) -> None:
        super().__init__(detail, code)
        self.status_code = status_code


def conflict(detail: str, code: str = CONFLICT) -> ApiError:
    return ApiError(detail, code=code, status_code=status.HTTP_409_CONFLICT)


def body(detail: str, code: str, errors: Any = None) -> dict[str, Any]:
    out: dict[str, Any] = {"detail": detail, "code": code}
    if errors is not None:
        out["errors"] = errors
    return out


def _first_message(errors: Any, path: str = "") -> str:
    """'coreid: This field is required.' from DRF's nested error dict/list."""
    if isinstance(errors, dict):
        for name, value in errors.items():
            label = name if name != "non_field_errors" else ""
            return _first_message(value, f"{path}.{label}" if path and label else label or path)
    if isinstance(errors, list) and errors:
        return _first_message(errors[0], path)
    text = str(errors)
    return f"{path}: {text}" if path else text


def exception_handler(exc: Exception, context: dict[str, Any]) -> Response | None:
    response = drf_exception_handler(exc, context)
    if response is None:
        return None  # not an API exception: a 500, which DRF leaves to Django
    data = response.data
    if isinstance(exc, exceptions.ValidationError):
        errors = data if isinstance(data, dict) else {"non_field_errors": data}
        response.data = body(f"Invalid input: {_first_message(errors)}", INVALID, errors)
        return response
    detail = data.get("detail", data) if isinstance(data, dict) else data
    code = exc.get_codes() if isinstance(exc, exceptions.APIException) else None
    if not isinstance(code, str):
        code = {404: "not_found", 403: "permission_denied"}.get(response.status_code, "error")
    response.data = body(str(detail), code)
    return response
