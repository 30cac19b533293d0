"""Bad input that needs a provider's own signing: replayed deliveries, expired deadlines,
a stranger's key, an unknown request. Each is refused with a clear 4xx (or, for a replay
or a resolution nobody asked for, answered without effect) and the delivery is kept."""

from __future__ import annotations

import time
import uuid

import pytest
from cryptography.hazmat.primitives.asymmetric.ed448 import Ed448PrivateKey

from kyc.models import InboundEvent, Merchant, TransferEvent
from tests.contract.deliveries import (
    blockpass_account,
    blockpass_resolved,
    blockpass_webhook,
    corepass_request,
    corepass_status,
)
from tests.contract.deliveries import post as deliver

pytestmark = pytest.mark.django_db


def kept(before: set[int]) -> InboundEvent:
    new = InboundEvent.objects.exclude(pk__in=before).order_by("-pk")
    assert new.exists(), "the delivery was not kept"
    return new.first()


def ids() -> set[int]:
    return set(InboundEvent.objects.values_list("pk", flat=True))


def test_it_refuses_bad_corepass_status_callbacks(client, promise) -> None:
    key, stranger = Ed448PrivateKey.generate(), Ed448PrivateKey.generate()
    merchant = Merchant.objects.create(name="cp", slug="cp")
    t, user = corepass_request(merchant, key=key, last_digit="1")
    url = f"/hooks/corepass/t/{t.callback_token}/status"

    def status(status: str, *, deadline: int, signer=key, who: str = user) -> bytes:
        return corepass_status(signer, who, status=status, deadline=deadline)

    def post(body: bytes):
        return client.post(url, body, content_type="application/json")

    now = int(time.time())
    cases = {
        "expired deadline": (status("ACCEPTED", deadline=now - 30), range(400, 500)),
        "stranger's key": (
            status("ACCEPTED", deadline=now + 120, signer=stranger),
            range(400, 500),
        ),
        "another customer": (
            status("ACCEPTED", deadline=now + 120, who=user[:-1] + "2"),
            range(400, 500),
        ),
    }
    events_before = TransferEvent.objects.filter(transfer=t).count()
    for name, (body, expected) in cases.items():
        before = ids()
        r = post(body)
        assert r.status_code in expected, (name, r.status_code, r.content)
        assert r.json()["message"], name
        event = kept(before)
        assert event.state == InboundEvent.State.REFUSED and event.error, (name, event.state)
    t.refresh_from_db()
    assert (
        t.status == "pending" and TransferEvent.objects.filter(transfer=t).count() == events_before
    )

    good = status("ACCEPTED", deadline=now + 120)
    assert post(good).status_code == 200
    after_first = TransferEvent.objects.filter(transfer=t).count()
    t.refresh_from_db()
    assert t.provider_status == "ACCEPTED"
    before = ids()
    replay = post(good)  # the same delivery again: no effect, still kept
    assert replay.status_code in (200, 409), replay.content
    kept(before)
    assert TransferEvent.objects.filter(transfer=t).count() == after_first
    promise("webhook_bad_input", len(cases) + 1, "signed bad inputs tried")


def test_it_refuses_bad_blockpass_webhooks(client, promise) -> None:
    merchant = Merchant.objects.create(name="bp", slug="bp")
    secret = "whsec-zq-123"
    account = blockpass_account(merchant, webhook_secret=secret)

    def post(payload: dict, *, delivery: str | None = None, secret_: str = secret):
        d = blockpass_webhook(account, payload, secret=secret_, delivery_id=delivery or "")
        return deliver(client, d)

    resolved = blockpass_resolved("no-such-customer", promise_id="p-1")
    before = ids()
    r = post(resolved, secret_="wrong-secret")
    assert 400 <= r.status_code < 500 and r.json()["message"]
    assert kept(before).state == InboundEvent.State.REFUSED

    # unknown request: a resolution for a customer who never registered here
    before = ids()
    r = post(resolved)
    event = kept(before)
    if (
        event.state == InboundEvent.State.RECEIVED
    ):  # accepted and enqueued: run what the worker runs
        from kyc.tasks import process_inbound

        process_inbound(event.pk)
        event.refresh_from_db()
    if r.status_code < 400:  # answered so Blockpass stops retrying; kept, not processed
        assert event.state in (InboundEvent.State.FAILED, InboundEvent.State.IGNORED), event.state
        assert "no record" in event.error
    else:
        assert r.status_code < 500

    # replayed delivery id: same answer, no second effect, still kept
    ping = {"action": "serviceInfo.updated", "isPing": True}
    delivery = str(uuid.uuid4())
    assert post(ping, delivery=delivery).status_code == 200
    before = ids()
    again = post(ping, delivery=delivery)
    assert again.status_code == 200 and "duplicate" in again.json()["message"]
    assert kept(before).state == InboundEvent.State.DUPLICATE
    promise("webhook_bad_input", 3, "signed bad inputs tried")
