"""Encryption at rest: no plaintext in the column, loud failure on a wrong key, rotation."""

import pytest
from cryptography.fernet import Fernet
from django.core.management import call_command
from django.db import connection

from kyc.crypto import DecryptionError
from kyc.models import IdentityField, KYCRecord, ProviderAccount


def raw_column(table: str, column: str, pk: int) -> str:
    with connection.cursor() as cur:
        cur.execute(f"SELECT {column} FROM {table} WHERE id = %s", [pk])
        return cur.fetchone()[0]


@pytest.mark.django_db
def test_it_stores_no_plaintext_in_the_column(merchant) -> None:
    record = KYCRecord.objects.create(merchant=merchant, reference="r1")
    field = IdentityField.objects.create(
        record=record,
        provider="corepass",
        key="SH_EMAIL",
        value="alice@example.com",
        pepper="pepper-123",
    )
    account = ProviderAccount.objects.create(
        merchant=merchant, provider="blockpass", settings={"client_secret": "s3cr3t-value"}
    )
    assert "alice@example.com" not in raw_column("kyc_identityfield", "value", field.pk)
    assert "pepper-123" not in raw_column("kyc_identityfield", "pepper", field.pk)
    assert "s3cr3t-value" not in raw_column("kyc_provideraccount", "settings", account.pk)
    assert IdentityField.objects.get(pk=field.pk).value == "alice@example.com"
    assert ProviderAccount.objects.get(pk=account.pk).settings["client_secret"] == "s3cr3t-value"


@pytest.mark.django_db
def test_it_fails_loudly_with_a_wrong_key(merchant, settings) -> None:
    record = KYCRecord.objects.create(merchant=merchant, reference="r1")
    field = IdentityField.objects.create(
        record=record, provider="corepass", key="SH_EMAIL", value="alice@example.com"
    )
    settings.FIELD_ENCRYPTION_KEYS = [Fernet.generate_key().decode()]
    with pytest.raises(DecryptionError, match="none of FIELD_ENCRYPTION_KEYS"):
        IdentityField.objects.get(pk=field.pk)


@pytest.mark.django_db
def test_it_rotates_keys_so_the_old_key_can_be_removed(merchant, settings) -> None:
    k1 = settings.FIELD_ENCRYPTION_KEYS[0]
    record = KYCRecord.objects.create(merchant=merchant, reference="r1")
    field = IdentityField.objects.create(
        record=record, provider="corepass", key="SH_EMAIL", value="alice@example.com"
    )
    k2 = Fernet.generate_key().decode()
    settings.FIELD_ENCRYPTION_KEYS = [k2, k1]
    call_command("rotate_keys")
    settings.FIELD_ENCRYPTION_KEYS = [k2]
    assert IdentityField.objects.get(pk=field.pk).value == "alice@example.com"
    settings.FIELD_ENCRYPTION_KEYS = [k1]
    with pytest.raises(DecryptionError):
        IdentityField.objects.get(pk=field.pk)
