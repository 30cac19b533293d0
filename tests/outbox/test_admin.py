"""Staff see every attempt of an outgoing webhook in the admin and can replay it."""

from __future__ import annotations

from typing import Any

import pytest
from django.test import Client
from django.urls import reverse

from kyc.models import AuditEntry, Membership
from tests import factories
from tests.outbox.conftest import Receiver, deliver_all, pinged

pytestmark = pytest.mark.django_db


def test_it_shows_attempts_and_replays_from_the_admin(db: Any, receiver: Receiver) -> None:
    merchant = factories.MerchantFactory()
    client = Client()
    client.force_login(factories.staff_user(merchant, role=Membership.Role.ADMIN))
    receiver.default = 503
    delivery = pinged(merchant, receiver)
    message, endpoint = delivery.message, delivery.endpoint
    assert delivery.state == "failed"
    page = client.get(reverse("admin:kyc_webhookdelivery_change", args=[delivery.pk]))
    text = page.content.decode()
    assert page.status_code == 200 and message.msg_id in text
    assert text.count(" · 503 · ") == 4  # every attempt, with its status
    assert endpoint.secret not in text
    answer = client.post(
        reverse("admin:kyc_webhookdelivery_changelist"),
        {"action": "replay", "_selected_action": [delivery.pk]},
    )
    assert answer.status_code == 302
    delivery.refresh_from_db()
    assert delivery.state == "pending"
    assert AuditEntry.objects.filter(action="webhook_delivery.replayed").exists()
    receiver.default = 200
    deliver_all()
    assert receiver.ids()[-1] == message.msg_id


def test_it_hides_deliveries_from_roles_that_do_not_manage_integrations(
    db: Any, receiver: Receiver
) -> None:
    merchant = factories.MerchantFactory()
    delivery = pinged(merchant, receiver)
    client = Client()
    client.force_login(factories.staff_user(merchant, role=Membership.Role.VIEWER))
    assert client.get(
        reverse("admin:kyc_webhookdelivery_change", args=[delivery.pk])
    ).status_code in (403, 404)
