"""Identity values in verification payloads: masked by default, decrypted only for an
endpoint created by a key with the `pii` scope (while it keeps it), and audited."""

from __future__ import annotations

from typing import Any

import pytest
from standardwebhooks.webhooks import Webhook

from kyc import outbox, services
from kyc.models import AuditEntry, TransferRequest
from kyc.services import FieldValue, StatusUpdate
from kyc.status import Status
from tests import factories
from tests.outbox.conftest import Receiver, deliver_all

pytestmark = pytest.mark.django_db

NAME = "Jane Q. Secretperson"


def complete_with_values(merchant: Any) -> TransferRequest:
    record = factories.KYCRecordFactory(merchant=merchant, reference="order-7")
    transfer = factories.TransferRequestFactory(record=record)
    services.transfer_apply(
        transfer_id=transfer.pk,
        update=StatusUpdate(
            status=Status.COMPLETED, fields=(FieldValue(key="SH_NAME", value=NAME, pepper="p"),)
        ),
        source="callback",
    )
    return transfer


def completed_payload(receiver: Receiver, secret: str) -> dict[str, Any]:
    deliver_all()
    payloads = [Webhook(secret).verify(r.body, r.headers) for r in receiver.requests]
    return next(p for p in payloads if p["type"] == "verification.completed")


def test_it_sends_values_masked_by_default(db: Any, receiver: Receiver) -> None:
    merchant = factories.MerchantFactory()
    _, secret = outbox.webhook_endpoint_create(merchant=merchant, url=receiver.url)
    complete_with_values(merchant)
    values = completed_payload(receiver, secret)["data"]["data"]
    assert values == [
        {
            "key": "SH_NAME",
            "value": None,
            "masked": True,
            "status": "received",
            "received_at": values[0]["received_at"],
        }
    ]
    assert NAME.encode() not in b"".join(r.body for r in receiver.requests)
    assert not AuditEntry.objects.filter(action="pii.webhook_sent").exists()


def test_it_sends_values_to_an_endpoint_of_a_pii_key_and_audits_it(
    db: Any, receiver: Receiver
) -> None:
    merchant = factories.MerchantFactory()
    key, _ = services.api_key_create(merchant=merchant, name="crm", scopes=["read", "write", "pii"])
    endpoint, secret = outbox.webhook_endpoint_create(merchant=merchant, url=receiver.url, key=key)
    assert endpoint.include_pii
    complete_with_values(merchant)
    values = completed_payload(receiver, secret)["data"]["data"]
    assert values[0]["value"] == NAME and values[0]["masked"] is False
    # One entry per send that carried values (verification.updated and .completed).
    entries = list(AuditEntry.objects.filter(action="pii.webhook_sent"))
    assert len(entries) == 2
    for entry in entries:
        assert entry.detail["fields"] == ["SH_NAME"] and entry.detail["key"] == key.prefix
        assert NAME not in str(entry.detail)
    # The pepper is never sent.
    assert b'"p"' not in receiver.requests[-1].body


def test_it_masks_values_again_once_the_key_is_revoked(db: Any, receiver: Receiver) -> None:
    merchant = factories.MerchantFactory()
    key, _ = services.api_key_create(merchant=merchant, name="crm", scopes=["read", "write", "pii"])
    _, secret = outbox.webhook_endpoint_create(merchant=merchant, url=receiver.url, key=key)
    services.api_key_revoke(key=key)
    complete_with_values(merchant)
    values = completed_payload(receiver, secret)["data"]["data"]
    assert values[0]["value"] is None and values[0]["masked"] is True


def test_it_never_flags_an_endpoint_of_a_key_without_pii(db: Any, receiver: Receiver) -> None:
    merchant = factories.MerchantFactory()
    key, _ = services.api_key_create(merchant=merchant, name="shop")
    endpoint, _ = outbox.webhook_endpoint_create(merchant=merchant, url=receiver.url, key=key)
    assert not endpoint.include_pii and not outbox.may_send_pii(endpoint)
