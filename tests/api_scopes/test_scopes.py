"""Every API route checks its scope: read for GET, write for POST, PATCH and DELETE;
403 names the scope."""

from __future__ import annotations

from collections.abc import Iterator
from typing import Any

from django.urls import URLPattern, URLResolver, get_resolver, reverse
from rest_framework.test import APIClient

from kyc import outbox, services
from kyc.models import ApiKey, TransferRequest, WebhookDelivery
from tests import factories
from tests.api_scopes.conftest import World

ALL = ("read", "write", "pii")


def walk(patterns: list[Any], prefix: str = "") -> Iterator[tuple[str, URLPattern]]:
    for p in patterns:
        if isinstance(p, URLResolver):
            yield from walk(p.url_patterns, prefix + str(p.pattern))
        else:
            yield prefix + str(p.pattern), p


def api_calls(world: World) -> list[tuple[str, str]]:
    """(method, url) of every REST API route, found from the URL conf (new routes too)."""
    objects = {
        "transfer": world.transfer.pk,
        "record": world.record.pk,
        "certificate": world.certificate.pk,
        **_webhook_objects(world),
    }
    calls = []
    for route, p in walk(get_resolver().url_patterns):
        if not (route.startswith("api/v1/") and hasattr(p.callback, "actions")):
            continue
        if "pk" in p.pattern.regex.groupindex:
            pk = next(pk for name, pk in objects.items() if p.name.startswith(f"{name}-"))
            url = reverse(p.name, kwargs={"pk": pk})
        else:
            url = reverse(p.name)
        methods = {m.upper() for m in p.callback.actions}
        if "GET" in methods:
            # DRF adds HEAD to a route's actions only once it has served the route in this
            # process: every route that answers GET answers HEAD, whatever ran before.
            methods.add("HEAD")
        calls += [(method, url) for method in sorted(methods)]
    return calls


def _webhook_objects(world: World) -> dict[str, Any]:
    endpoint = factories.WebhookEndpointFactory(
        merchant=world.merchant, url="https://hooks.example.com/kyc"
    )
    message = outbox.webhook_message_create(merchant=world.merchant, type="ping", data={})
    delivery = WebhookDelivery.objects.create(message=message, endpoint=endpoint)
    return {"webhook-endpoint": endpoint.pk, "webhook-delivery": delivery.pk}


def call(client: Any, method: str, url: str) -> Any:
    return getattr(client, method.lower())(url, {}, format="json")


def test_it_refuses_every_route_to_a_key_without_the_scope_it_needs(
    world: World, key_with: Any
) -> None:
    calls = api_calls(world)
    methods = {m for m, _ in calls}
    assert methods == {"GET", "HEAD", "POST", "PATCH", "DELETE"} and len(calls) >= 12, calls
    for method, url in calls:
        scope = "read" if method in ("GET", "HEAD") else "write"
        lacking, _ = key_with(*(s for s in ALL if s != scope))
        r = call(lacking, method, url)
        assert r.status_code == 403, (method, url, r.status_code)
        if method != "HEAD":
            assert f"'{scope}' scope" in r.json()["detail"], r.json()
        # control: a key with only that scope gets past the check
        only, _ = key_with(scope)
        r = call(only, method, url)
        assert r.status_code not in (401, 403), (method, url, r.status_code, r.content)
    assert TransferRequest.objects.count() == 1  # a refused POST started nothing


def test_it_refuses_to_start_a_verification_with_a_read_only_key(
    world: World, key_with: Any
) -> None:
    reader, _ = key_with("read", "pii")
    r = reader.post("/api/v1/transfers/", {"provider": "corepass", "reference": "x"}, format="json")
    assert r.status_code == 403
    assert r.json()["detail"].startswith("This API key lacks the 'write' scope")
    assert not TransferRequest.objects.filter(reference="x").exists()


def test_it_gives_a_new_key_read_and_write_but_not_pii(world: World) -> None:
    key, _ = services.api_key_create(merchant=world.merchant, name="default")
    key.refresh_from_db()
    assert key.scopes == ["read", "write"]
    assert not key.has_scope(ApiKey.Scope.PII)


def test_it_refuses_an_unknown_scope(world: World) -> None:
    import pytest

    from kyc.errors import InvalidInput

    with pytest.raises(InvalidInput, match="root"):
        services.api_key_create(merchant=world.merchant, name="x", scopes=["read", "root"])
    assert not ApiKey.objects.filter(name="x").exists()


def test_it_answers_401_to_a_key_with_a_correct_prefix_and_a_wrong_secret(
    world: World, key_with: Any
) -> None:
    client, key = key_with("read")
    raw = client.raw_key
    assert client.get("/api/v1/records/").status_code == 200  # control
    kp, prefix, secret = raw.split("_", 2)
    forged = f"{kp}_{prefix}_{'A' if secret[0] != 'A' else 'B'}{secret[1:]}"
    for token in (forged, f"{kp}_{prefix}_", f"{kp}_{prefix}_x", raw + "x"):
        # a fresh client: APIClient.credentials() would override a per-call header
        r = APIClient().get("/api/v1/records/", HTTP_AUTHORIZATION=f"Bearer {token}")
        assert r.status_code == 401, token
        assert "results" not in r.json()
    services.api_key_revoke(key=key)
    assert client.get("/api/v1/records/").status_code == 401
