"""OpenAPI post-processing: every operation documents the errors it can answer.

The fuzz tests (tests/abuse/test_api_fuzz.py) hold the API to its schema, so
401 (no or bad key), 403 (the key lacks the route's scope), 404 (not this
merchant's or no such object), 400 (invalid input) and 429 (the key's
throttle) are declared where they can happen, with their JSON shape. Each
operation's description names the scope it needs.
"""

from __future__ import annotations

from typing import Any

from portal.api.auth import required_scope

_ERROR = {
    "application/json": {
        "schema": {
            "type": "object",
            "properties": {"detail": {"type": "string"}},
            "additionalProperties": True,
        }
    }
}


def add_error_responses(
    result: dict[str, Any], generator: Any, request: Any, public: bool
) -> dict[str, Any]:
    for path, operations in result.get("paths", {}).items():
        for method, operation in operations.items():
            if not isinstance(operation, dict) or "responses" not in operation:
                continue
            responses = operation["responses"]
            responses.setdefault(
                "401", {"description": "Missing, unknown or revoked API key.", "content": _ERROR}
            )
            if "{" in path:
                responses.setdefault(
                    "404", {"description": "No such object for this merchant.", "content": _ERROR}
                )
            if method in ("post", "put", "patch") or operation.get("parameters"):
                responses.setdefault("400", {"description": "Invalid input.", "content": _ERROR})
            scope = required_scope(method)
            responses.setdefault(
                "403",
                {"description": f"The API key lacks the `{scope}` scope.", "content": _ERROR},
            )
            responses.setdefault(
                "429",
                {
                    "description": "Too many requests for this API key (API_THROTTLE_RATE); "
                    "retry after the Retry-After header's seconds.",
                    "content": _ERROR,
                },
            )
            note = f"Needs an API key with the `{scope}` scope."
            if "/transfers/" in path or "/records/" in path:  # responses with field values
                note += " Identity values are decrypted only with the `pii` scope (audited)."
            operation["description"] = (operation.get("description", "") + "\n\n" + note).strip()
    return result
