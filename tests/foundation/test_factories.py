"""The factories in tests/factories.py build valid rows, as the core's services would."""

from __future__ import annotations

from typing import Any

import pytest
from django.db import connection

from kyc.contract import FieldValue
from kyc.crypto import decrypt_bytes, lookup_hash
from kyc.models import IdentityField, Membership
from kyc.services.records import identity_fields_store, record_get_or_create
from tests import factories

pytestmark = pytest.mark.django_db


def raw_column(table: str, column: str, pk: Any) -> str:
    with connection.cursor() as cur:
        cur.execute(f"SELECT {column} FROM {table} WHERE id = %s", [pk])
        return cur.fetchone()[0]


@pytest.mark.parametrize(
    "make",
    [
        factories.MembershipFactory,
        factories.KYCRecordFactory,
        factories.TransferRequestFactory,
        factories.TransferEventFactory,
        factories.IdentityFieldFactory,
        factories.CertPromiseFactory,
        factories.CertificateFactory,
        factories.InboundEventFactory,
        factories.WebhookEndpointFactory,
    ],
)
def test_it_builds_a_row_that_passes_model_validation(make: Any) -> None:
    row = make()
    row.full_clean()
    assert type(row).objects.filter(pk=row.pk).exists()


def test_it_builds_a_second_row_without_clashing_with_the_first() -> None:
    merchant = factories.MerchantFactory()
    first, second = factories.KYCRecordFactory.create_batch(2, merchant=merchant)
    assert first.reference != second.reference
    one, two = factories.CertificateFactory.create_batch(2, merchant=merchant)
    assert one.external_id != two.external_id


def test_it_stores_a_record_like_record_get_or_create(merchant: Any) -> None:
    made = factories.KYCRecordFactory(merchant=merchant, provider="corepass", external_id="cb12")
    stored = record_get_or_create(
        merchant=merchant, reference="by-service", provider="corepass", external_id="cb12"
    )
    assert made.external_key == stored.external_key == lookup_hash("cb12")
    assert "cb12" not in raw_column("kyc_kycrecord", "external_id", made.pk)
    assert factories.KYCRecordFactory(merchant=merchant).external_key == ""


def test_it_stores_an_identity_value_like_identity_fields_store(merchant: Any) -> None:
    record = factories.KYCRecordFactory(merchant=merchant, provider="corepass")
    made = factories.IdentityFieldFactory(record=record, key="SH_EMAIL", value="a@example.com")
    identity_fields_store(
        record=record,
        provider="corepass",
        fields=[FieldValue(key="SH_Passport_DOB", value="1990-01-01", pepper="")],
    )
    stored = IdentityField.objects.get(record=record, key="SH_Passport_DOB")
    made.refresh_from_db()
    assert made.provider == stored.provider == "corepass"
    assert made.status == stored.status == "received"
    assert made.pepper is None and stored.pepper is None
    column = raw_column("kyc_identityfield", "value", made.pk)
    assert "a@example.com" not in column
    assert decrypt_bytes(column).decode() == made.value == "a@example.com"


def test_it_stores_an_empty_pepper_as_none_and_a_pepper_encrypted() -> None:
    assert factories.IdentityFieldFactory(pepper="").pepper is None
    peppered = factories.IdentityFieldFactory(pepper="salt-1")
    assert decrypt_bytes(raw_column("kyc_identityfield", "pepper", peppered.pk)) == b"salt-1"


def test_it_makes_a_request_through_the_merchants_own_account(merchant: Any) -> None:
    record = factories.KYCRecordFactory(merchant=merchant, reference="cust-9")
    transfer = factories.TransferRequestFactory(record=record, provider="incode")
    assert transfer.merchant == merchant and transfer.reference == "cust-9"
    assert (transfer.account.merchant, transfer.account.provider) == (merchant, "incode")
    again = factories.TransferRequestFactory(merchant=merchant, provider="incode")
    assert again.account == transfer.account  # one account per provider, as the model allows


def test_it_takes_merchant_and_provider_from_a_given_account() -> None:
    account = factories.ProviderAccountFactory(provider="portmone")
    transfer = factories.TransferRequestFactory(account=account)
    assert (transfer.merchant, transfer.provider) == (account.merchant, "portmone")
    event = factories.TransferEventFactory(transfer=transfer)
    assert event.status == transfer.status and event.transfer.merchant == account.merchant


def test_it_files_rows_of_a_record_under_the_records_merchant() -> None:
    record = factories.KYCRecordFactory()
    assert factories.CertificateFactory(record=record).merchant == record.merchant
    assert factories.CertPromiseFactory(record=record).merchant == record.merchant
    assert factories.IdentityFieldFactory(record=record).record.merchant == record.merchant


def test_it_files_a_delivery_like_inbound_store() -> None:
    transfer = factories.TransferRequestFactory(provider="incode")
    delivery = factories.InboundEventFactory(transfer=transfer, provider="incode", body=b"abc")
    assert (delivery.merchant, delivery.account) == (transfer.merchant, transfer.account)
    assert delivery.body_size == 3
    assert decrypt_bytes(raw_column("kyc_inboundevent", "body", delivery.pk)) == b"abc"
    assert factories.InboundEventFactory().merchant is None  # unknown sender: no merchant


def test_it_gives_each_endpoint_its_own_signing_secret() -> None:
    one, two = factories.WebhookEndpointFactory.create_batch(2)
    assert one.secret.startswith("whsec_") and one.secret != two.secret
    assert one.subscribed("verification.completed")


def test_it_makes_a_staff_member_with_the_role_asked_for(merchant: Any) -> None:
    user = factories.staff_user(merchant, role=Membership.Role.COMPLIANCE)
    assert Membership.objects.get(user=user, merchant=merchant).role == "compliance"
    assert factories.MembershipFactory().role == Membership.Role.VIEWER
