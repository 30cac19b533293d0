"""kyc/crypto.py's contract in detail: what an operator reads when a value cannot be opened,
and exactly what goes inside the ciphertext (each test kills mutants `make mutate` found)."""

from __future__ import annotations

import datetime as dt
from decimal import Decimal

import pytest
from cryptography.fernet import Fernet

from kyc.crypto import (
    DecryptionError,
    EncryptedBytesField,
    EncryptedJSONField,
    decrypt_bytes,
    encrypt_bytes,
    rotate,
)

NOT_ENCRYPTED = "stored value is not encrypted; refusing to return it as plaintext"
WRONG_KEY = (
    "cannot decrypt a stored value: none of FIELD_ENCRYPTION_KEYS is the key it was "
    "encrypted with (a key was removed before `manage.py rotate_keys` ran?)"
)


def test_it_tells_the_operator_why_a_value_cannot_be_read(settings) -> None:
    # The message is what an operator acts on: it names the cause and the command.
    with pytest.raises(DecryptionError) as plain:
        decrypt_bytes("alice@example.com")
    assert str(plain.value) == NOT_ENCRYPTED

    stored = encrypt_bytes(b"alice@example.com")
    settings.FIELD_ENCRYPTION_KEYS = [Fernet.generate_key().decode()]
    with pytest.raises(DecryptionError) as wrong:
        decrypt_bytes(stored)
    assert str(wrong.value) == WRONG_KEY


def test_it_refuses_to_rotate_what_no_configured_key_opens(settings) -> None:
    stored = encrypt_bytes(b"s3cr3t")
    k2 = Fernet.generate_key().decode()
    settings.FIELD_ENCRYPTION_KEYS = [k2]
    with pytest.raises(DecryptionError) as wrong:
        rotate(stored)
    assert str(wrong.value) == "cannot rotate a value that no configured key opens"
    with pytest.raises(DecryptionError) as plain:
        rotate("s3cr3t")
    assert str(plain.value) == "stored value is not encrypted"
    # control: under K2 the value rotates and reads back
    assert decrypt_bytes(rotate(encrypt_bytes(b"s3cr3t"))) == b"s3cr3t"


def test_it_encrypts_text_handed_to_a_bytes_field_as_utf8() -> None:
    field = EncryptedBytesField()
    stored = field.get_prep_value("héllo")
    assert stored.startswith("fernet:")
    assert decrypt_bytes(stored) == "héllo".encode()
    assert field.from_db_value(stored, None, None) == b"h\xc3\xa9llo"
    # bytes are kept exactly, not re-encoded through str()
    assert field.from_db_value(field.get_prep_value(b"\xff\x00raw"), None, None) == b"\xff\x00raw"


def test_it_encrypts_json_in_one_canonical_form() -> None:
    # Sorted keys and no spaces: the same dict always encrypts the same plaintext, and
    # keys read back in a stable order whatever order they were written in.
    field = EncryptedJSONField()
    stored = field.get_prep_value({"b": 1, "a": [1, 2], "c": {"z": None, "y": "é"}})
    assert decrypt_bytes(stored) == b'{"a":[1,2],"b":1,"c":{"y":"\\u00e9","z":null}}'
    assert list(field.from_db_value(stored, None, None)) == ["a", "b", "c"]


def test_it_stores_dates_and_decimals_in_json_as_text() -> None:
    # Provider settings carry expiry times and amounts; they must save, not raise.
    field = EncryptedJSONField()
    at = dt.datetime(2026, 1, 2, 3, 4, 5, tzinfo=dt.UTC)
    stored = field.get_prep_value({"expires_at": at, "amount": Decimal("1.50")})
    assert field.from_db_value(stored, None, None) == {
        "amount": "1.50",
        "expires_at": "2026-01-02 03:04:05+00:00",
    }


@pytest.mark.django_db
def test_it_serializes_encrypted_json_as_plain_json_for_fixtures_and_forms(merchant) -> None:
    # dumpdata/loaddata and admin forms go through value_to_string/to_python: the value,
    # never the ciphertext, and text that is not JSON is left for the form to reject.
    from kyc.models import ProviderAccount

    account = ProviderAccount.objects.create(
        merchant=merchant, provider="blockpass", settings={"client_id": "c-1"}
    )
    field = ProviderAccount._meta.get_field("settings")
    assert field.value_to_string(account) == '{"client_id": "c-1"}'
    assert field.to_python('{"client_id": "c-1"}') == {"client_id": "c-1"}
    assert field.to_python("not json") == "not json"
    assert field.to_python({"a": 1}) == {"a": 1}
