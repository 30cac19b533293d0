"""The merchant's webhook pages: endpoints with health, the delivery log, replay, test."""

from __future__ import annotations

import re
from typing import Any

import pytest
from django.test import Client
from django.urls import reverse
from standardwebhooks.webhooks import Webhook

from kyc import outbox
from kyc.models import Membership, WebhookDelivery, WebhookEndpoint
from tests import factories
from tests.outbox.conftest import Receiver, deliver_all

pytestmark = pytest.mark.django_db


@pytest.fixture
def owner(db: Any) -> Client:
    merchant = factories.MerchantFactory()
    client = Client()
    client.force_login(factories.staff_user(merchant, role=Membership.Role.ADMIN))
    client.merchant = merchant  # type: ignore[attr-defined]
    return client


def test_it_shows_a_new_secret_once_and_it_signs_deliveries(
    owner: Client, receiver: Receiver
) -> None:
    answer = owner.post(reverse("webhooks"), {"url": receiver.url, "events": ["*"]})
    assert answer.status_code == 200
    page = answer.content.decode()
    secret = re.search(r'id="new-secret-value">(whsec_[^<]+)<', page).group(1)  # type: ignore[union-attr]
    endpoint = WebhookEndpoint.objects.get()
    assert endpoint.secret == secret
    # Never again: not on the list, not on the endpoint's page.
    assert secret not in owner.get(reverse("webhooks")).content.decode()
    detail = owner.get(reverse("webhook_detail", args=[endpoint.pk])).content.decode()
    assert secret not in detail and "Send test event" in detail
    # "Send test event" sends a ping signed with that secret.
    assert owner.post(reverse("webhook_test", args=[endpoint.pk])).status_code == 302
    deliver_all()
    request = receiver.requests[0]
    assert Webhook(secret).verify(request.body, request.headers)["type"] == "ping"


def test_it_refuses_a_private_url_with_a_form_error(owner: Client, settings: Any) -> None:
    settings.OUTBOUND_ALLOW_NETWORKS = []
    answer = owner.post(reverse("webhooks"), {"url": "https://10.0.0.8/hook", "events": ["*"]})
    assert answer.status_code == 400
    assert "non-public address" in answer.content.decode()
    assert not WebhookEndpoint.objects.exists()


def test_it_shows_health_attempts_and_replays(owner: Client, receiver: Receiver) -> None:
    endpoint, _ = outbox.webhook_endpoint_create(
        merchant=owner.merchant,  # type: ignore[attr-defined]
        url=receiver.url,
    )
    receiver.default = 500
    receiver.answer = b"<h1>upstream broke</h1>"
    message = outbox.webhook_endpoint_test(endpoint=endpoint)
    deliver_all()
    page = owner.get(reverse("webhook_detail", args=[endpoint.pk])).content.decode()
    assert message.msg_id in page
    assert "HTTP 500" in page and "0.0 % of 4" in page  # four attempts, none succeeded
    assert "&lt;h1&gt;upstream broke&lt;/h1&gt;" in page  # the answer, escaped
    assert "the endpoint answered 500" in page
    delivery = WebhookDelivery.objects.get()
    receiver.default = 200
    answer = owner.post(reverse("webhook_replay", args=[delivery.pk]))
    assert answer.status_code == 302
    delivery.refresh_from_db()
    assert delivery.state == "pending"
    deliver_all()
    assert receiver.ids()[-1] == message.msg_id


def test_it_shows_why_an_endpoint_was_disabled(owner: Client, receiver: Receiver) -> None:
    endpoint, _ = outbox.webhook_endpoint_create(
        merchant=owner.merchant,  # type: ignore[attr-defined]
        url=receiver.url,
    )
    receiver.default = 410
    outbox.webhook_endpoint_test(endpoint=endpoint)
    deliver_all()
    listing = owner.get(reverse("webhooks")).content.decode()
    assert "disabled" in listing and "The endpoint answered 410 Gone." in listing


def test_it_rotates_and_shows_the_new_secret_once(owner: Client, receiver: Receiver) -> None:
    endpoint, old = outbox.webhook_endpoint_create(
        merchant=owner.merchant,  # type: ignore[attr-defined]
        url=receiver.url,
    )
    page = owner.post(reverse("webhook_rotate", args=[endpoint.pk])).content.decode()
    endpoint.refresh_from_db()
    assert endpoint.secret in page and old not in page
    assert endpoint.previous_secret == old
    assert "also signs until" in page


def test_it_gives_verification_snippets_without_inline_script(owner: Client) -> None:
    page = owner.get(reverse("webhooks")).content.decode()
    assert "from standardwebhooks.webhooks import Webhook" in page
    assert "require(&quot;standardwebhooks&quot;)" in page
    assert "wh.verify(" in page
    # Only the portal's own script files: the CSP allows no inline script.
    assert re.findall(r"<script(?![^>]*\bsrc=)", page) == []
    assert not re.search(r"\son[a-z]+=", page)  # no inline event handlers either


def test_it_shows_only_this_merchants_endpoints(owner: Client, receiver: Receiver) -> None:
    other = factories.MerchantFactory()
    theirs, _ = outbox.webhook_endpoint_create(merchant=other, url=receiver.url + "/theirs")
    assert "/theirs" not in owner.get(reverse("webhooks")).content.decode()
    assert owner.get(reverse("webhook_detail", args=[theirs.pk])).status_code == 404
    assert owner.post(reverse("webhook_delete", args=[theirs.pk])).status_code == 404
    assert WebhookEndpoint.objects.filter(pk=theirs.pk).exists()


def test_it_warns_on_the_dashboard_about_a_disabled_endpoint(
    owner: Client, receiver: Receiver
) -> None:
    endpoint, _ = outbox.webhook_endpoint_create(
        merchant=owner.merchant,  # type: ignore[attr-defined]
        url=receiver.url,
    )
    assert "Webhooks not delivered" not in owner.get(reverse("dashboard")).content.decode()
    receiver.default = 410
    outbox.webhook_endpoint_test(endpoint=endpoint)
    deliver_all()
    page = owner.get(reverse("dashboard")).content.decode()
    assert "Webhooks not delivered" in page and "The endpoint answered 410 Gone." in page
    assert reverse("webhook_detail", args=[endpoint.pk]) in page
