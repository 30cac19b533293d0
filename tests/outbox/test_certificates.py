"""certificate.received: one message per new Sunbird certificate and per Blockpass upload,
written in the transaction that stores the certificate (a rollback sends nothing)."""

from __future__ import annotations

from typing import Any

import pytest
from django.db import transaction
from standardwebhooks.webhooks import Webhook

from kyc import outbox
from kyc.models import Certificate, ProviderAccount, WebhookMessage
from providers.blockpass import services as bp_services
from providers.sunbird import services as sb_services
from providers.sunbird.provider import SunbirdProvider
from providers.sunbird.schemas import CertRecord
from tests import factories
from tests.blockpass.conftest import bp_settings
from tests.outbox.conftest import Receiver, Shop, deliver_all
from tests.sunbird.conftest import make_run

pytestmark = pytest.mark.django_db


def _cert(n: int) -> CertRecord:
    return CertRecord(
        id=f"cert-{n}",
        recipient_id=f"learner-{n}",
        recipient_name=f"Learner {n}",
        course_id="do_1",
        batch_id="batch-200",
        download_url=f"https://registry.example/cert-{n}.pdf",
    )


@pytest.fixture
def sunbird_run(shop: Shop) -> Any:
    factories.ProviderAccountFactory(
        merchant=shop.merchant,
        provider="sunbird",
        settings=SunbirdProvider().sandbox_settings(
            sandbox_url="http://127.0.0.1:9/sandbox/sunbird"
        ),
    )
    return make_run(shop.merchant)


def test_it_sends_one_certificate_received_per_new_sunbird_certificate(
    shop: Shop, receiver: Receiver, sunbird_run: Any
) -> None:
    sb_services.certificates_store(run=sunbird_run, records=[_cert(1), _cert(2)])
    # The next page repeats cert-2 (the registry's pages overlap): no second message for it.
    sb_services.certificates_store(run=sunbird_run, records=[_cert(2), _cert(3)])
    assert Certificate.objects.filter(provider="sunbird").count() == 3
    deliver_all()
    got = [Webhook(shop.secret).verify(r.body, r.headers) for r in receiver.requests]
    assert sorted(e["data"]["external_id"] for e in got) == ["cert-1", "cert-2", "cert-3"]
    assert {e["type"] for e in got} == {"certificate.received"}
    first = next(e for e in got if e["data"]["external_id"] == "cert-1")
    assert first["data"]["recipient_id"] == "learner-1"
    assert (
        "recipient_name" not in first["data"]
        and "Learner 1" not in receiver.requests[0].body.decode()
    )


def test_it_writes_the_certificate_and_its_message_in_one_transaction(
    shop: Shop, sunbird_run: Any
) -> None:
    with pytest.raises(RuntimeError), transaction.atomic():
        sb_services.certificates_store(run=sunbird_run, records=[_cert(7)])
        assert WebhookMessage.objects.filter(event_type="certificate.received").count() == 1
        raise RuntimeError("the page's transaction fails after the insert")
    assert not Certificate.objects.filter(external_id="cert-7").exists()
    assert not WebhookMessage.objects.filter(event_type="certificate.received").exists()


def test_it_writes_no_sunbird_message_when_no_endpoint_listens(
    shop: Shop, sunbird_run: Any
) -> None:
    outbox.webhook_endpoint_update(endpoint=shop.endpoint, events=["verification.completed"])
    sb_services.certificates_store(run=sunbird_run, records=[_cert(1), _cert(2)])
    assert Certificate.objects.filter(provider="sunbird").count() == 2
    assert not WebhookMessage.objects.filter(event_type="certificate.received").exists()
    outbox.webhook_endpoint_update(endpoint=shop.endpoint, events=["certificate.received"])
    sb_services.certificates_store(run=sunbird_run, records=[_cert(3)])
    assert WebhookMessage.objects.filter(event_type="certificate.received").count() == 1


def blockpass_session(shop: Shop, reference: str) -> tuple[ProviderAccount, str]:
    """The shop's Blockpass account and a customer's upload session token there."""
    account = factories.ProviderAccountFactory(
        merchant=shop.merchant, provider="blockpass", settings=bp_settings()
    )
    record = factories.KYCRecordFactory(
        merchant=shop.merchant, reference=reference, provider="blockpass"
    )
    return account, bp_services._session_token(account=account, record=record)


def test_it_sends_certificate_received_for_each_blockpass_certificate_upload(
    shop: Shop, receiver: Receiver
) -> None:
    account, token = blockpass_session(shop, "bp-cust")
    upload = bp_services.Upload(
        access_token=token,
        slug_list=["email", "given_name", "kyc-cert"],
        values={"email": "ada@example.com", "given_name": "Ada", "[cer]kyc-cert": "cert-body"},
    )
    bp_services.merchant_upload(account=account, upload=upload)
    bp_services.merchant_upload(account=account, upload=upload)  # a re-upload: sent again
    deliver_all()
    got = [Webhook(shop.secret).verify(r.body, r.headers) for r in receiver.requests]
    received = [e for e in got if e["type"] == "certificate.received"]
    assert len(received) == 2
    cert = Certificate.objects.get(provider="blockpass")
    assert {e["data"]["id"] for e in received} == {cert.pk}
    assert {e["data"]["slug"] for e in received} == {"kyc-cert"}
    assert all("cert-body" not in r.body.decode() for r in receiver.requests)  # no raw data


def test_it_sends_nothing_for_an_upload_without_certificates(
    shop: Shop, receiver: Receiver
) -> None:
    account, token = blockpass_session(shop, "bp-cust-2")
    bp_services.merchant_upload(
        account=account,
        upload=bp_services.Upload(
            access_token=token,
            slug_list=["email", "given_name"],
            values={"email": "ada@example.com", "given_name": "Ada"},
        ),
    )
    assert not WebhookMessage.objects.filter(event_type="certificate.received").exists()
