"""OpenAPI post-processing: every operation documents the errors it can answer.

The fuzz tests (tests/abuse/test_api_fuzz.py) hold the API to its schema, so
401 (no or bad key), 403 (the key lacks the route's scope), 404 (not this
merchant's or no such object), 400 (invalid input), 409 and 422 (POSTs: a conflict,
an Idempotency-Key reused or still running) and 429 (the key's throttle) are
declared where they can happen, all with the one error shape (components/schemas/Error,
portal/api/errors.py) and an example each. Every POST documents the Idempotency-Key
header; each operation's description names the scope it needs.
"""

from __future__ import annotations

from typing import Any

from portal.api import examples
from portal.api.auth import required_scope
from portal.api.idempotency import DESCRIPTION as IDEMPOTENCY_DESCRIPTION
from portal.api.idempotency import HEADER, MAX_KEY_LENGTH, REPLAYED_HEADER

ERROR_REF = {"$ref": "#/components/schemas/Error"}

_DESCRIPTIONS = {
    "400": "Invalid input: `errors` names each field and what is wrong with it.",
    "401": "Missing, unknown or revoked API key (or no signed-in session).",
    "404": "No such object for this merchant.",
    "409": "Conflict: the object is in a state that does not allow this, or a request "
    "with the same Idempotency-Key is still running.",
    "422": "The Idempotency-Key was already used for another request.",
    "429": "Too many requests for this API key (API_THROTTLE_RATE); "
    "retry after the Retry-After header's seconds.",
}


def _error(description: str, status: str) -> dict[str, Any]:
    name, value = examples.ERRORS[status]
    return {
        "description": description,
        "content": {
            "application/json": {
                "schema": ERROR_REF,
                "examples": {name.replace(" ", ""): {"summary": name, "value": value}},
            }
        },
    }


def _with_error_example(response: dict[str, Any], status: str) -> None:
    """A response declared in a view (e.g. create's 422/503): add the error example."""
    media = response.get("content", {}).get("application/json")
    if media is not None and status in examples.ERRORS and "examples" not in media:
        name, value = examples.ERRORS[status]
        media["examples"] = {name.replace(" ", ""): {"summary": name, "value": value}}


# What the docs page says first. Module level: prose.
API_DESCRIPTION = """Ask customers for verified identity data and track what providers send.

- **Auth**: `Authorization: Bearer <api key>` (keys and their scopes: the API keys page), or,
  signed in to the portal, your session (Try it out below; writes need your role).
- **Quick start**: the portal's *API quick start* page has copyable curl and Python.
- **Errors**: always `{"detail": "…", "code": "…"}`, plus `errors` per field on a 400.
- **Retries**: send `Idempotency-Key` with a POST; the same key and body within 24 h gets
  the first answer back (`Idempotent-Replayed: true`) and nothing runs twice.
- **Lists**: newest first, cursor pages (follow `next`), filters `status`, `provider`,
  `reference`, `created_after`, `created_before`.
- **Webhooks**: instead of polling, add an endpoint and receive `verification.*` events.
"""

TAGS = [
    {"name": "Verifications", "description": "Ask a customer through a provider; follow it."},
    {"name": "Customer records", "description": "What providers sent about each customer."},
    {"name": "Certificates", "description": "Certificates received (Blockpass) or issued."},
    {"name": "Webhooks", "description": "Endpoints on your backend and what was sent."},
]


def add_error_responses(
    result: dict[str, Any], generator: Any, request: Any, public: bool
) -> dict[str, Any]:
    result.setdefault("info", {})["description"] = API_DESCRIPTION
    result["tags"] = TAGS  # the docs page's sections, in this order
    for path, operations in result.get("paths", {}).items():
        for method, operation in operations.items():
            if not isinstance(operation, dict) or "responses" not in operation:
                continue
            responses = operation["responses"]
            for status in list(responses):
                _with_error_example(responses[status], status)
            responses.setdefault("401", _error(_DESCRIPTIONS["401"], "401"))
            if "{" in path:
                responses.setdefault("404", _error(_DESCRIPTIONS["404"], "404"))
            if method in ("post", "put", "patch") or operation.get("parameters"):
                responses.setdefault("400", _error(_DESCRIPTIONS["400"], "400"))
            scope = required_scope(method)
            responses.setdefault(
                "403", _error(f"The API key lacks the `{scope}` scope (or the role).", "403")
            )
            responses.setdefault("429", _error(_DESCRIPTIONS["429"], "429"))
            if method == "post":
                _idempotency(operation, responses)
            note = f"Needs an API key with the `{scope}` scope."
            if "/transfers/" in path or "/records/" in path:  # responses with field values
                note += " Identity values are decrypted only with the `pii` scope (audited)."
            operation["description"] = (operation.get("description", "") + "\n\n" + note).strip()
    return result


def _idempotency(operation: dict[str, Any], responses: dict[str, Any]) -> None:
    operation.setdefault("parameters", []).append(
        {
            "in": "header",
            "name": HEADER,
            "required": False,
            "description": IDEMPOTENCY_DESCRIPTION,
            "schema": {"type": "string", "minLength": 1, "maxLength": MAX_KEY_LENGTH},
            "example": "5f0c8d2e-1b7a-4c55-9f3e-2a6b8c1d0e47",
        }
    )
    responses.setdefault("409", _error(_DESCRIPTIONS["409"], "409"))
    responses.setdefault("422", _error(_DESCRIPTIONS["422"], "422"))
    for status, response in responses.items():
        if status.startswith("2"):
            response.setdefault("headers", {})[REPLAYED_HEADER] = {
                "description": "`true` when this is the stored answer to an earlier "
                "request with the same Idempotency-Key.",
                "schema": {"type": "string", "enum": ["true"]},
            }
