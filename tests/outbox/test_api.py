"""The webhook endpoints API: manage with `write`, read with `read`, only one's own."""

from __future__ import annotations

from typing import Any

import pytest
from rest_framework.test import APIClient
from standardwebhooks.webhooks import Webhook

from kyc import outbox, services
from kyc.models import AuditEntry, Merchant, WebhookDelivery, WebhookEndpoint
from tests import factories
from tests.outbox.conftest import Receiver, deliver_all, pinged

pytestmark = pytest.mark.django_db

BASE = "/api/v1/webhook-endpoints/"


def client_for(merchant: Merchant, scopes: list[str] | None = None) -> APIClient:
    _, raw = services.api_key_create(merchant=merchant, name="backend", scopes=scopes)
    client = APIClient()
    client.credentials(HTTP_AUTHORIZATION=f"Bearer {raw}")
    return client


@pytest.fixture
def merchant(db: Any) -> Merchant:
    return factories.MerchantFactory()


@pytest.fixture
def api(merchant: Merchant) -> APIClient:
    return client_for(merchant)


def create(api: APIClient, url: str, **extra: Any) -> Any:
    return api.post(BASE, {"url": url, **extra}, format="json")


def test_it_creates_an_endpoint_and_shows_the_secret_once(
    api: APIClient, receiver: Receiver
) -> None:
    answer = create(api, receiver.url, events=["verification.completed"], description="shop")
    assert answer.status_code == 201, answer.content
    body = answer.json()
    assert body["secret"].startswith("whsec_") and body["events"] == ["verification.completed"]
    assert body["enabled"] is True and body["include_pii"] is False
    shown = api.get(f"{BASE}{body['id']}/").json()
    assert "secret" not in shown and body["secret"] not in str(api.get(BASE).content)
    assert WebhookEndpoint.objects.get().secret == body["secret"]
    assert AuditEntry.objects.filter(action="webhook_endpoint.created").exists()


def test_it_defaults_to_every_event(api: APIClient, receiver: Receiver) -> None:
    assert create(api, receiver.url).json()["events"] == ["*"]


def test_it_marks_endpoints_created_by_a_pii_key(merchant: Merchant, receiver: Receiver) -> None:
    api = client_for(merchant, ["read", "write", "pii"])
    assert create(api, receiver.url).json()["include_pii"] is True


@pytest.mark.parametrize(
    ("data", "field"),
    [
        ({"url": "https://10.1.1.1/hook"}, "url"),
        ({"url": "http://example.com/hook"}, "url"),
        ({"url": "javascript:alert(1)"}, "url"),
        ({"url": "https://example.com/", "events": ["verification.nope"]}, "events"),
        ({"url": "https://example.com/", "events": []}, "events"),
        ({}, "url"),
    ],
)
def test_it_refuses_bad_input_with_a_400_naming_the_field(
    api: APIClient, data: dict[str, Any], field: str
) -> None:
    answer = api.post(BASE, data, format="json")
    assert answer.status_code == 400 and field in answer.json()["errors"], answer.content
    assert not WebhookEndpoint.objects.exists()


def test_it_needs_the_write_scope_to_manage_and_read_to_list(
    merchant: Merchant, receiver: Receiver
) -> None:
    reader = client_for(merchant, ["read"])
    answer = create(reader, receiver.url)
    assert answer.status_code == 403 and "write" in answer.json()["detail"]
    assert not WebhookEndpoint.objects.exists()
    endpoint, _ = outbox.webhook_endpoint_create(merchant=merchant, url=receiver.url)
    assert reader.get(BASE).status_code == 200
    for method, path in [
        ("patch", f"{BASE}{endpoint.pk}/"),
        ("delete", f"{BASE}{endpoint.pk}/"),
        ("post", f"{BASE}{endpoint.pk}/rotate-secret/"),
        ("post", f"{BASE}{endpoint.pk}/test/"),
        ("post", f"{BASE}{endpoint.pk}/recover/"),
    ]:
        assert getattr(reader, method)(path, {}, format="json").status_code == 403, path
    writer_only = client_for(merchant, ["write"])
    assert writer_only.get(BASE).status_code == 403
    assert APIClient().get(BASE).status_code == 401
    endpoint.refresh_from_db()
    assert endpoint.enabled and WebhookEndpoint.objects.count() == 1


def test_it_hides_other_merchants_endpoints_and_deliveries(
    api: APIClient, receiver: Receiver
) -> None:
    delivery = pinged(factories.MerchantFactory(), receiver)
    theirs = delivery.endpoint
    assert api.get(BASE).json()["results"] == []
    for method, path in [
        ("get", f"{BASE}{theirs.pk}/"),
        ("patch", f"{BASE}{theirs.pk}/"),
        ("delete", f"{BASE}{theirs.pk}/"),
        ("post", f"{BASE}{theirs.pk}/rotate-secret/"),
        ("get", f"{BASE}{theirs.pk}/deliveries/"),
        ("post", f"{BASE}{theirs.pk}/test/"),
        ("get", f"/api/v1/webhook-deliveries/{delivery.pk}/"),
        ("post", f"/api/v1/webhook-deliveries/{delivery.pk}/replay/"),
    ]:
        assert getattr(api, method)(path, {}, format="json").status_code == 404, path
    assert WebhookEndpoint.objects.filter(pk=theirs.pk, enabled=True).exists()
    assert len(receiver.requests) == 1  # no replay, no test sent for us


def test_it_updates_disables_and_deletes(api: APIClient, receiver: Receiver) -> None:
    pk = create(api, receiver.url).json()["id"]
    answer = api.patch(
        f"{BASE}{pk}/", {"events": ["ping"], "enabled": False, "description": "x"}, format="json"
    )
    assert answer.status_code == 200, answer.content
    assert answer.json()["events"] == ["ping"] and answer.json()["enabled"] is False
    assert answer.json()["disabled_reason"] == "Disabled by the merchant."
    answer = api.patch(f"{BASE}{pk}/", {"url": "https://192.168.1.1/"}, format="json")
    assert answer.status_code == 400 and "url" in answer.json()["errors"]
    assert api.delete(f"{BASE}{pk}/").status_code == 204
    assert not WebhookEndpoint.objects.exists()


def test_it_rotates_the_secret_and_signs_with_both(api: APIClient, receiver: Receiver) -> None:
    created = create(api, receiver.url).json()
    answer = api.post(f"{BASE}{created['id']}/rotate-secret/")
    assert answer.status_code == 200
    new = answer.json()["secret"]
    assert new.startswith("whsec_") and new != created["secret"]
    assert answer.json()["secret_rotating_until"]
    assert api.post(f"{BASE}{created['id']}/test/").status_code == 202
    deliver_all()
    request = receiver.requests[-1]
    Webhook(created["secret"]).verify(request.body, request.headers)
    Webhook(new).verify(request.body, request.headers)


def test_it_lists_deliveries_newest_first_with_attempts_and_pages(
    api: APIClient, receiver: Receiver
) -> None:
    pk = create(api, receiver.url).json()["id"]
    receiver.script = [500]
    ids = [api.post(f"{BASE}{pk}/test/").json()["webhook_id"] for _ in range(3)]
    deliver_all()
    page = api.get(f"{BASE}{pk}/deliveries/?limit=2").json()
    assert [d["webhook_id"] for d in page["results"]] == [ids[2], ids[1]]
    assert page["next"]
    rest = api.get(page["next"]).json()
    assert [d["webhook_id"] for d in rest["results"]] == [ids[0]]
    first = rest["results"][0]
    assert first["state"] == "succeeded" and first["attempt_count"] == 2
    assert [a["status_code"] for a in first["attempts"]] == [200, 500]  # newest first
    assert first["attempts"][0]["response_body"] == '{"ok": true}'
    assert isinstance(first["attempts"][0]["latency_ms"], int)
    assert api.get(f"{BASE}{pk}/deliveries/?cursor=garbage").status_code == 400


def test_it_replays_and_recovers_with_the_original_id(api: APIClient, receiver: Receiver) -> None:
    pk = create(api, receiver.url).json()["id"]
    receiver.default = 500
    webhook_id = api.post(f"{BASE}{pk}/test/").json()["webhook_id"]
    deliver_all()
    delivery = WebhookDelivery.objects.get()
    assert delivery.state == "failed"
    receiver.default = 200
    answer = api.post(f"/api/v1/webhook-deliveries/{delivery.pk}/replay/")
    assert answer.status_code == 202 and answer.json()["state"] == "pending"
    deliver_all()
    assert receiver.ids()[-1] == webhook_id
    delivery.refresh_from_db()
    assert delivery.state == "succeeded"
    # recover: fail it again, then re-send everything failed since a time
    WebhookDelivery.objects.filter(pk=delivery.pk).update(state="failed")
    answer = api.post(f"{BASE}{pk}/recover/", {"since": "2000-01-01T00:00:00Z"}, format="json")
    assert answer.status_code == 200 and answer.json() == {"count": 1}
    deliver_all()
    assert receiver.ids()[-1] == webhook_id
    assert (
        api.post(f"{BASE}{pk}/recover/", {"since": "yesterday"}, format="json").status_code == 400
    )


def test_it_sends_a_ping_on_test(api: APIClient, receiver: Receiver) -> None:
    created = create(api, receiver.url, events=["verification.completed"]).json()
    answer = api.post(f"{BASE}{created['id']}/test/")
    assert answer.status_code == 202 and answer.json()["type"] == "ping"
    deliver_all()
    payload = Webhook(created["secret"]).verify(
        receiver.requests[0].body, receiver.requests[0].headers
    )
    assert payload["type"] == "ping" and payload["data"]["endpoint_id"] == created["id"]


def test_it_caps_the_number_of_endpoints(api: APIClient, receiver: Receiver, settings: Any) -> None:
    settings.WEBHOOK_MAX_ENDPOINTS = 2
    assert create(api, receiver.url).status_code == 201
    assert create(api, receiver.url).status_code == 201
    answer = create(api, receiver.url)
    assert answer.status_code == 400 and "at most 2" in str(answer.json())
