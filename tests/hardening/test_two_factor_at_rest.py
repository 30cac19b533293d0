"""Staff authenticator secrets are encrypted at rest: a database dump or a read-only SQL
account gives nobody a TOTP key, a plaintext value planted in the column is refused loudly,
and devices from django-otp's plaintext table move over (encrypted) and keep working."""

from __future__ import annotations

import importlib
import time
from types import SimpleNamespace

import pytest
from cryptography.fernet import Fernet
from django.apps import apps
from django.contrib.auth import get_user_model
from django.core.management import call_command
from django.db import connection
from django_otp.oath import TOTP

from kyc.crypto import PREFIX, DecryptionError
from kyc.models import StaffTOTPDevice

pytestmark = pytest.mark.django_db

TABLE = StaffTOTPDevice._meta.db_table


def raw_key(device: StaffTOTPDevice) -> str:
    with connection.cursor() as cur:
        cur.execute(f'SELECT "key" FROM "{TABLE}" WHERE id = %s', [device.pk])  # noqa: S608
        return str(cur.fetchone()[0])


def write_raw_key(device: StaffTOTPDevice, value: str) -> None:
    with connection.cursor() as cur:
        cur.execute(f'UPDATE "{TABLE}" SET "key" = %s WHERE id = %s', [value, device.pk])  # noqa: S608


def code_for(key_hex: str) -> str:
    totp = TOTP(bytes.fromhex(key_hex))
    totp.time = time.time()
    return f"{totp.token():06d}"


@pytest.fixture
def user():
    return get_user_model().objects.create_user("dora", password="pw-123456789", is_staff=True)


def test_it_stores_no_hex_key_in_the_column(user) -> None:
    device = StaffTOTPDevice.objects.create(user=user, name="phone")
    key = StaffTOTPDevice.objects.get(pk=device.pk).key
    assert len(bytes.fromhex(key)) == 20  # control: the ORM reads the real secret back
    stored = raw_key(device)
    assert stored.startswith(PREFIX) and key not in stored and key.upper() not in stored
    assert StaffTOTPDevice.objects.get(pk=device.pk).verify_token(code_for(key))


def test_it_refuses_a_plaintext_key_planted_in_the_column(user) -> None:
    device = StaffTOTPDevice.objects.create(user=user, name="phone")
    plain = "3132333435363738393031323334353637383930"
    write_raw_key(device, plain)
    with pytest.raises(DecryptionError) as caught:
        StaffTOTPDevice.objects.get(pk=device.pk)
    assert "not encrypted" in str(caught.value) and plain not in str(caught.value)


def test_it_refuses_sign_in_codes_against_a_planted_key(client, user, settings) -> None:
    settings.STAFF_REQUIRE_2FA = True
    device = StaffTOTPDevice.objects.create(user=user, name="phone", confirmed=True)
    plain = "3132333435363738393031323334353637383930"
    write_raw_key(device, plain)
    client.force_login(user)
    with pytest.raises(DecryptionError):  # a 500 for the operator, never a door for the user
        client.post("/2fa/verify/", {"code": code_for(plain), "next": "/"})


def test_it_rotates_the_key_with_everything_else(user, settings) -> None:
    device = StaffTOTPDevice.objects.create(user=user, name="phone")
    key = device.key
    k1, k2 = settings.FIELD_ENCRYPTION_KEYS[0], Fernet.generate_key().decode()
    settings.FIELD_ENCRYPTION_KEYS = [k2, k1]
    call_command("rotate_keys", stdout=open("/dev/null", "w"))  # noqa: SIM115
    settings.FIELD_ENCRYPTION_KEYS = [k2]
    Fernet(k2.encode()).decrypt(raw_key(device)[len(PREFIX) :].encode())
    assert StaffTOTPDevice.objects.get(pk=device.pk).key == key


def test_it_moves_plaintext_devices_over_encrypted_and_deletes_them(user) -> None:
    migration = importlib.import_module("kyc.migrations.0008_h16_encrypted_totp_devices")
    key = "00112233445566778899aabbccddeeff00112233"
    with connection.cursor() as cur:  # the table django-otp's TOTPDevice left behind
        cur.execute(
            "CREATE TABLE otp_totp_totpdevice (id integer PRIMARY KEY, user_id integer, "
            "name varchar(64), confirmed boolean, key varchar(80), step smallint, t0 bigint, "
            "digits smallint, tolerance smallint, drift smallint, last_t bigint, "
            "throttling_failure_timestamp timestamp with time zone NULL, "
            "throttling_failure_count integer, created_at timestamp with time zone NULL, "
            "last_used_at timestamp with time zone NULL)"
        )
        cur.execute(
            "INSERT INTO otp_totp_totpdevice VALUES "
            "(7, %s, 'old phone', true, %s, 30, 0, 6, 1, 0, -1, NULL, 0, "
            "'2026-01-02T03:04:05Z', NULL)",
            [user.pk, key],
        )
    migration.move_plaintext_devices(apps, SimpleNamespace(connection=connection))
    device = StaffTOTPDevice.objects.get(user=user)
    assert (device.name, device.confirmed, device.key) == ("old phone", True, key)
    assert device.created_at is not None and device.created_at.year == 2026
    assert device.created_at.month == 1
    assert key not in raw_key(device) and raw_key(device).startswith(PREFIX)
    with connection.cursor() as cur:
        cur.execute("SELECT count(*) FROM otp_totp_totpdevice")
        assert cur.fetchone()[0] == 0  # no plaintext copy left
    assert device.verify_token(code_for(key))  # the phone keeps working
