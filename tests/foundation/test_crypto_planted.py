"""A plaintext value written straight into an encrypted column (a bad migration, a manual
UPDATE, a restore from the wrong dump) is refused loudly when read: never returned as if
it had been decrypted. Every encrypted column of every model is tried."""

from __future__ import annotations

import pytest
from django.db import connection

from kyc.crypto import DecryptionError, encrypted_fields
from tests.isolation.builder import Builder, models_with_encrypted_fields, planted

PLANTS = {
    "plain text": "alice@example.com",
    "plain JSON": '{"client_secret": "s3cr3t-zq"}',
    "our prefix, not a token": "fernet:alice@example.com",
}


def _write_raw(model, field, pk, value: str) -> None:
    table, column = model._meta.db_table, field.column
    with connection.cursor() as cur:
        cur.execute(
            f'UPDATE "{table}" SET "{column}" = %s WHERE "{model._meta.pk.column}" = %s',
            [value, pk],
        )


@pytest.mark.django_db
def test_it_refuses_plaintext_planted_in_any_encrypted_column(merchant) -> None:
    builder = Builder(merchant, "zq")
    models = models_with_encrypted_fields()
    assert len(models) >= 5, models  # identity values, provider settings, raw bodies, ...
    checked = 0
    for model in models:
        obj = builder.get(model)
        for field in encrypted_fields(model):
            # control: the value written through the ORM reads back decrypted
            value = model._default_manager.values_list(field.attname, flat=True).get(pk=obj.pk)
            assert planted("zq", model, field) in str(value), (model, field.name)
            for kind, plant in PLANTS.items():
                _write_raw(model, field, obj.pk, plant)
                with pytest.raises(DecryptionError) as caught:
                    model._default_manager.values_list(field.attname, flat=True).get(pk=obj.pk)
                if kind != "our prefix, not a token":
                    assert "not encrypted" in str(caught.value), (model, field.name, kind)
                with pytest.raises(DecryptionError):
                    model._default_manager.get(pk=obj.pk)
                assert "alice" not in str(caught.value) and "s3cr3t" not in str(caught.value)
                checked += 1
            # put a real ciphertext back so the next field's reads of this row work
            setattr(obj, field.attname, getattr(obj, field.attname))
            obj.save(update_fields=[field.name])
    assert checked >= 3 * 8, checked
