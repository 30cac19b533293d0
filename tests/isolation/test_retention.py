"""Retention: the daily task erases PII past each merchant's period; "erase this customer"
does it at once; the rows that remain say what was erased and when. On a customer who is
still active, what is older than the merchant's period goes (values, certificates,
deliveries, the identifying parts of old requests), what is newer stays, and the customer
is not erased whole."""

from __future__ import annotations

import datetime as dt

import pytest
from django.conf import settings
from django.db import models
from django.utils import timezone

from kyc import tasks
from kyc.crypto import encrypted_fields
from kyc.models import (
    AuditEntry,
    Certificate,
    IdentityField,
    InboundEvent,
    KYCRecord,
    ProviderAccount,
    TransferRequest,
)
from tests.contract.deliveries import sandbox_account
from tests.isolation.builder import models_with_encrypted_fields, planted_value

pytestmark = pytest.mark.django_db

CORE = {IdentityField, Certificate, InboundEvent, TransferRequest, KYCRecord}


def customer_models() -> list[type[models.Model]]:
    """Models whose encrypted values are about a customer (merchant settings are not)."""
    out = []
    for m in models_with_encrypted_fields():
        if m is ProviderAccount:
            continue
        linked = any(
            f.is_relation and f.related_model in (KYCRecord, TransferRequest)
            for f in m._meta.concrete_fields
        )
        if m in CORE or linked:
            out.append(m)
    return out


def age(side, days: int) -> None:
    """Move every timestamp of a side's objects `days` into the past."""
    then = timezone.now() - dt.timedelta(days=days)
    for model, obj in side.builder.built.items():
        names = [
            f.name
            for f in model._meta.concrete_fields
            if isinstance(f, models.DateTimeField)
            and f.name in ("created_at", "updated_at", "received_at")
        ]
        if names:
            model._default_manager.filter(pk=obj.pk).update(**{n: then for n in names})


def is_blank(value) -> bool:
    return value in (None, "", b"", {})


def assert_erased(side) -> int:
    n = 0
    for model in customer_models():
        obj = model._default_manager.get(pk=side.builder.get(model).pk)
        for f in encrypted_fields(model):
            assert is_blank(getattr(obj, f.attname)), f"{model._meta.label}.{f.name} kept"
            n += 1
        if hasattr(obj, "erased_at"):
            assert obj.erased_at is not None, model._meta.label
    t = TransferRequest.objects.get(pk=side.builder.get(TransferRequest).pk)
    assert t.qr_svg == "" and "pii_erased_at" in t.provider_data
    return n


def assert_intact(side) -> None:
    for model in customer_models():
        obj = model._default_manager.get(pk=side.builder.get(model).pk)
        for f in encrypted_fields(model):
            assert getattr(obj, f.attname) == planted_value(side.builder.tag, model, f)


def test_it_erases_expired_pii_by_each_merchants_period(world, promise) -> None:
    a, b = world
    a.merchant.retention_days = 30
    a.merchant.save()
    models_ = customer_models()
    for m in models_:  # build before ageing, so every customer model is covered
        a.builder.get(m), b.builder.get(m)
    age(a, 40)
    age(b, 40)  # B keeps a year: 40 days is within its period
    now = timezone.now()
    orphan_old = InboundEvent.objects.create(
        provider="corepass", body=b"PLANTED-orphan", received_at=now - dt.timedelta(days=400)
    )
    orphan_new = InboundEvent.objects.create(provider="corepass", body=b"PLANTED-orphan-new")
    fresh = KYCRecord.objects.create(merchant=a.merchant, reference="fresh")
    fresh_field = IdentityField.objects.create(
        record=fresh, provider="corepass", key="E", value="v"
    )
    account = ProviderAccount.objects.get(pk=a.builder.get(ProviderAccount).pk)

    assert tasks.erase_expired_pii() == 1  # A's aged customer
    values = assert_erased(a)
    assert_intact(b)
    assert IdentityField.objects.get(pk=fresh_field.pk).value == "v"
    assert InboundEvent.objects.get(pk=orphan_old.pk).body is None
    assert InboundEvent.objects.get(pk=orphan_new.pk).body == b"PLANTED-orphan-new"
    # merchant configuration is not customer data
    assert ProviderAccount.objects.get(pk=account.pk).settings == account.settings
    record = KYCRecord.objects.get(pk=a.builder.get(KYCRecord).pk)
    assert record.erased_at is not None and record.external_key == ""
    entry = AuditEntry.objects.get(action="record.erased", object_id=str(record.pk))
    assert entry.detail["reason"] == "retention period passed"
    assert entry.detail["fields"] >= 1 and entry.detail["deliveries"] >= 1
    # idempotent: running again erases nothing new
    assert tasks.erase_expired_pii() == 0
    assert AuditEntry.objects.filter(action="record.erased").count() == 1
    promise("retention", values, "values erased by the daily task")


def test_it_runs_daily_from_beat() -> None:
    from portal.celery import app

    entries = [
        e
        for e in settings.CELERY_BEAT_SCHEDULE.values()
        if e["task"] == "kyc.tasks.erase_expired_pii"
    ]
    assert len(entries) == 1
    schedule = entries[0]["schedule"]
    assert "kyc.tasks.erase_expired_pii" in app.tasks
    # a crontab firing once a day: one hour, one minute, every day
    assert len(schedule.hour) == 1 and len(schedule.minute) == 1
    assert len(schedule.day_of_week) == 7 and len(schedule.day_of_month) == 31


def test_it_erases_a_customer_at_once_from_the_admin(world, client, promise) -> None:
    a, b = world
    models_ = customer_models()
    for m in models_:
        a.builder.get(m), b.builder.get(m)
    record = a.builder.get(KYCRecord)
    # B's staff selecting A's record erases nothing
    client.force_login(b.staff)
    client.post("/admin/kyc/kycrecord/", {"action": "erase_pii", "_selected_action": [record.pk]})
    assert_intact(a)
    client.force_login(a.staff)
    # The action first shows a confirmation page with counts and asks why
    action = {"action": "erase_pii", "_selected_action": [record.pk]}
    r = client.post("/admin/kyc/kycrecord/", action)
    assert r.status_code == 200 and 'name="reason"' in r.content.decode()
    assert_intact(a)
    r = client.post(
        "/admin/kyc/kycrecord/",
        {**action, "post": "yes", "reason": "the customer asked"},
        follow=True,
    )
    assert r.status_code == 200 and "Erased personal data of 1 record" in r.content.decode()
    values = assert_erased(a)
    assert_intact(b)
    entry = AuditEntry.objects.get(action="record.erased", object_id=str(record.pk))
    assert entry.actor == a.staff and entry.detail["reason"] == "the customer asked"
    page = client.get(f"/admin/kyc/kycrecord/{record.pk}/change/").content.decode()
    assert "erased" in page  # the remaining rows say so
    promise("retention", values, "values erased on request")


def test_it_erases_only_what_is_past_the_period_on_an_active_customer(merchant) -> None:
    merchant.retention_days = 30
    merchant.save()
    old = timezone.now() - dt.timedelta(days=40)
    account = sandbox_account(merchant, "corepass")
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
