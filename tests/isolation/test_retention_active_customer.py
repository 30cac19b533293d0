"""Retention on a customer who is still active: what is older than the merchant's period
goes (values, certificates, deliveries, the identifying parts of old requests), what is
newer stays, and the customer is not erased whole."""

from __future__ import annotations

import datetime as dt

import pytest
from django.utils import timezone

from kyc import tasks
from kyc.models import (
    AuditEntry,
    Certificate,
    IdentityField,
    InboundEvent,
    KYCRecord,
    ProviderAccount,
    TransferRequest,
)

pytestmark = pytest.mark.django_db


def test_it_erases_only_what_is_past_the_period_on_an_active_customer(merchant) -> None:
    merchant.retention_days = 30
    merchant.save()
    old = timezone.now() - dt.timedelta(days=40)
    account = ProviderAccount.objects.create(merchant=merchant, provider="corepass")
    record = KYCRecord.objects.create(merchant=merchant, reference="still-active")

    def transfer(ref: str) -> TransferRequest:
        return TransferRequest.objects.create(
            merchant=merchant,
            account=account,
            provider="corepass",
            reference=ref,
            record=record,
            subject=f"subject-{ref}",
            qr_payload=f"qr-{ref}",
        )

    t_old, t_new = transfer("old"), transfer("new")
    f_old = IdentityField.objects.create(
        record=record, transfer=t_old, provider="corepass", key="SH_EMAIL", value="old@example.com"
    )
    f_new = IdentityField.objects.create(
        record=record, transfer=t_new, provider="corepass", key="SH_PHONE", value="new@example.com"
    )

    def certificate(ref: str) -> Certificate:
        return Certificate.objects.create(
            merchant=merchant,
            record=record,
            provider="blockpass",
            slug="s",
            external_id=f"cert-{ref}",
            raw=f"raw-{ref}".encode(),
            recipient_name=f"Name {ref}",
        )

    c_old, c_new = certificate("old"), certificate("new")

    def delivery(ref: str) -> InboundEvent:
        return InboundEvent.objects.create(
            provider="corepass", merchant=merchant, transfer=t_old, body=f"body-{ref}".encode()
        )

    e_old, e_new = delivery("old"), delivery("new")
    # age the old rows; the customer itself was active today (updated_at is now)
    IdentityField.objects.filter(pk=f_old.pk).update(received_at=old)
    Certificate.objects.filter(pk=c_old.pk).update(created_at=old)
    InboundEvent.objects.filter(pk=e_old.pk).update(received_at=old)
    TransferRequest.objects.filter(pk=t_old.pk).update(created_at=old)

    assert tasks.erase_expired_pii() == 0  # nobody erased whole

    f_old, f_new = (IdentityField.objects.get(pk=f.pk) for f in (f_old, f_new))
    assert f_old.value is None and f_old.erased_at is not None
    assert f_new.value == "new@example.com" and f_new.erased_at is None
    c_old, c_new = (Certificate.objects.get(pk=c.pk) for c in (c_old, c_new))
    assert c_old.raw is None and c_old.recipient_name == "" and c_old.erased_at is not None
    assert bytes(c_new.raw) == b"raw-new" and c_new.recipient_name == "Name new"
    assert c_new.erased_at is None
    e_old, e_new = (InboundEvent.objects.get(pk=e.pk) for e in (e_old, e_new))
    assert e_old.body is None and e_old.erased_at is not None
    assert bytes(e_new.body) == b"body-new" and e_new.erased_at is None
    t_old, t_new = (TransferRequest.objects.get(pk=t.pk) for t in (t_old, t_new))
    assert t_old.subject == "" and t_old.qr_payload == ""
    assert "pii_erased_at" in t_old.provider_data
    assert t_new.subject == "subject-new" and t_new.qr_payload == "qr-new"
    assert "pii_erased_at" not in t_new.provider_data
    # the customer stays: not erased, no erasure audited
    record = KYCRecord.objects.get(pk=record.pk)
    assert record.erased_at is None
    assert not AuditEntry.objects.filter(action="record.erased").exists()
    # the next day's run changes nothing more
    assert tasks.erase_expired_pii() == 0
    assert IdentityField.objects.get(pk=f_new.pk).value == "new@example.com"
