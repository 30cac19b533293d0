"""The OpenAPI schema documents every operation: a summary, its errors in the one error
shape with an example, Idempotency-Key on every POST, and no trailing-underscore names."""

from __future__ import annotations

from collections.abc import Iterator
from typing import Any

import pytest
from drf_spectacular.generators import SchemaGenerator

from portal.api import examples

ERROR = {"$ref": "#/components/schemas/Error"}


@pytest.fixture(scope="module")
def schema() -> dict[str, Any]:
    return SchemaGenerator().get_schema(request=None, public=True)


def operations(schema: dict[str, Any]) -> Iterator[tuple[str, str, dict[str, Any]]]:
    for path, ops in schema["paths"].items():
        for method, op in ops.items():
            yield path, method, op


def names(node: Any) -> Iterator[str]:
    """Every property and parameter name anywhere in the schema."""
    if isinstance(node, dict):
        for key, value in node.items():
            if key == "properties" and isinstance(value, dict):
                yield from value
            if key == "name" and isinstance(value, str):
                yield value
            yield from names(value)
    elif isinstance(node, list):
        for item in node:
            yield from names(item)


def test_it_gives_every_operation_a_summary(schema: dict[str, Any]) -> None:
    ops = list(operations(schema))
    assert len(ops) >= 19  # transfers (+ cancel), records, certificates, webhooks
    missing = [f"{m.upper()} {p}" for p, m, op in ops if not op.get("summary")]
    assert not missing, missing
    summaries = [op["summary"] for _, _, op in ops]
    assert len(set(summaries)) == len(summaries), "two operations share a summary"
    assert "Cancel a verification request" in summaries


def test_it_has_no_trailing_underscore_names(schema: dict[str, Any]) -> None:
    found = sorted({n for n in names(schema) if n.endswith("_")})
    assert not found, found
    assert "fields" in schema["components"]["schemas"]["Record"]["properties"]  # control


def test_it_describes_both_ways_in(schema: dict[str, Any]) -> None:
    from django.conf import settings

    schemes = schema["components"]["securitySchemes"]
    assert schemes["ApiKey"]["type"] == "http" and schemes["ApiKey"]["scheme"] == "bearer"
    session = schemes["MemberSession"]
    assert {k: v for k, v in session.items() if k != "description"} == {
        "type": "apiKey",
        "in": "cookie",
        "name": settings.SESSION_COOKIE_NAME,
    }
    assert "CSRF" in session["description"]


def test_it_documents_every_error_in_one_shape_with_an_example(schema: dict[str, Any]) -> None:
    for path, method, op in operations(schema):
        errors = {s: r for s, r in op["responses"].items() if s[0] in "45"}
        assert {"401", "403", "429"} <= set(errors), (method, path)
        for status, response in errors.items():
            media = response["content"]["application/json"]
            assert media["schema"] == ERROR, (method, path, status)
            (example,) = media["examples"].values()
            assert {"detail", "code"} <= set(example["value"]), (method, path, status)
    error = schema["components"]["schemas"]["Error"]
    assert set(error["required"]) == {"detail", "code"}
    assert set(examples.ERRORS) >= {"400", "401", "403", "404", "409", "422", "429"}


def test_it_documents_idempotency_on_every_post_and_examples_on_create(
    schema: dict[str, Any],
) -> None:
    posts = [(p, op) for p, m, op in operations(schema) if m == "post"]
    assert len(posts) >= 6
    for path, op in posts:
        headers = [x["name"] for x in op["parameters"] if x["in"] == "header"]
        assert headers == ["Idempotency-Key"], path
        assert {"409", "422"} <= set(op["responses"]), path
    create = schema["paths"]["/api/v1/transfers/"]["post"]
    request_examples = create["requestBody"]["content"]["application/json"]["examples"]
    assert len(request_examples) >= 2
    created = create["responses"]["201"]
    assert created["content"]["application/json"]["examples"]
    assert "Idempotent-Replayed" in created["headers"]
    listing = schema["paths"]["/api/v1/transfers/"]["get"]
    params = {x["name"] for x in listing["parameters"]}
    assert {
        "status",
        "provider",
        "reference",
        "created_after",
        "created_before",
        "cursor",
    } <= params
    assert "offset" not in params


def test_it_gives_every_request_and_answer_an_example(schema: dict[str, Any]) -> None:
    missing = []
    for path, method, op in operations(schema):
        body = op.get("requestBody", {}).get("content", {}).get("application/json")
        if body is not None and not body.get("examples"):
            missing.append(f"{method.upper()} {path} request")
        for status, response in op["responses"].items():
            media = response.get("content", {}).get("application/json")
            if media is not None and not media.get("examples"):
                missing.append(f"{method.upper()} {path} {status}")
    assert not missing, missing
