"""The Incode token-server endpoints: the write scope, and no customer reference in the
query string (it lands in access logs); the body or a header carries it instead."""

from __future__ import annotations

from typing import Any

import pytest
import requests

from kyc.models import TransferRequest

ENDPOINTS = ("/api/incode/start", "/api/incode/onboarding-url")


@pytest.mark.parametrize("path", ENDPOINTS)
def test_it_refuses_a_reference_in_the_query_string_without_echoing_it(
    world: Any, key_with: Any, client: Any, path: str
) -> None:
    api, _ = key_with("write")
    auth = {"HTTP_AUTHORIZATION": f"Bearer {api.raw_key}"}
    for query in ({"reference": "ada@example.com"}, {"email": "ada@example.com"}):
        r = client.get(path, query, **auth)
        assert r.status_code == 400, r.content
        error = r.json()["error"]
        assert next(iter(query)) in error and "body" in error and "X-Reference" in error
        assert "ada@example.com" not in r.content.decode()
    assert TransferRequest.objects.count() == 1  # the world's own: nothing started


@pytest.mark.parametrize("path", ENDPOINTS)
def test_it_refuses_a_key_without_the_write_scope(
    world: Any, key_with: Any, client: Any, path: str
) -> None:
    reader, _ = key_with("read", "pii")
    for method in (client.get, client.post):
        r = method(path, HTTP_AUTHORIZATION=f"Bearer {reader.raw_key}")
        assert r.status_code == 403
        assert "'write' scope" in r.json()["error"]
    assert TransferRequest.objects.count() == 1


def test_it_answers_400_to_a_body_that_is_not_a_json_object(
    world: Any, key_with: Any, client: Any
) -> None:
    api, _ = key_with("write")
    for body in ("{not json", '["a"]', '{"reference": 5}', '{"reference": "' + "x" * 201 + '"}'):
        r = client.post(
            ENDPOINTS[0],
            body,
            content_type="application/json",
            HTTP_AUTHORIZATION=f"Bearer {api.raw_key}",
        )
        assert r.status_code == 400, body
    assert TransferRequest.objects.count() == 1


def test_it_takes_the_reference_from_a_json_body_a_form_or_the_header(
    live_server: Any,
    incode_account: Any,
    api_key: str,
) -> None:
    auth = {"Authorization": f"Bearer {api_key}"}
    sent = [
        ("json", {"reference": "cust-json@example.com", "redirectUrl": "https://shop.example/"}),
        ("data", {"reference": "cust-form@example.com"}),
    ]
    for how, body in sent:
        r = requests.post(
            f"{live_server.url}/api/incode/onboarding-url", headers=auth, timeout=10, **{how: body}
        )
        assert r.status_code == 200, r.text
        t = TransferRequest.objects.get(pk=r.json()["transferId"])
        assert t.reference == body["reference"] and r.json()["url"] == t.deep_link
    t = TransferRequest.objects.get(reference="cust-json@example.com")
    assert t.redirect_url == "https://shop.example/"
    r = requests.get(
        f"{live_server.url}/api/incode/start",
        headers={**auth, "X-Reference": "cust-header@example.com"},
        timeout=10,
    )
    assert r.status_code == 200, r.text
    assert TransferRequest.objects.get(pk=r.json()["transferId"]).reference == (
        "cust-header@example.com"
    )
