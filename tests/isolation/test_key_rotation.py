"""K1 -> add K2 -> rotate -> remove K1: every encrypted field of every model still reads.

Models come from `apps.get_models()`, so encrypted fields added by the provider
flow apps are rotated (and tested) as soon as their app is installed.
"""

from __future__ import annotations

import pytest
from cryptography.fernet import Fernet
from django.core.management import call_command
from django.db import connection, models

from kyc.crypto import PREFIX, DecryptionError, encrypted_fields
from tests.isolation.builder import models_with_encrypted_fields, planted_value

pytestmark = pytest.mark.django_db


def raw_values(obj: models.Model) -> list[str]:
    model = type(obj)
    cols = ", ".join(connection.ops.quote_name(f.column) for f in encrypted_fields(model))
    table = connection.ops.quote_name(model._meta.db_table)
    pk = connection.ops.quote_name(model._meta.pk.column)
    with connection.cursor() as cur:
        cur.execute(f"SELECT {cols} FROM {table} WHERE {pk} = %s", [obj.pk])
        return [v for v in cur.fetchone() if v]


def all_encrypted_objects(world) -> list[models.Model]:
    a, b = world
    objs = []
    for model in models_with_encrypted_fields():
        for side in (a, b):
            objs.append(side.builder.get(model))
    return objs


def assert_reads_back(objs: list[models.Model], world) -> int:
    a, b = world
    checked = 0
    for obj in objs:
        model = type(obj)
        tag = a.builder.tag if obj in a.builder.built.values() else b.builder.tag
        fresh = model._default_manager.get(pk=obj.pk)
        for field in encrypted_fields(model):
            assert getattr(fresh, field.attname) == planted_value(tag, model, field), (
                model._meta.label,
                field.name,
            )
            checked += 1
    return checked


def test_it_rotates_every_encrypted_field_of_every_model(world, settings, promise) -> None:
    objs = all_encrypted_objects(world)
    labels = {type(o)._meta.label for o in objs}
    assert {
        "kyc.IdentityField",
        "kyc.ProviderAccount",
        "kyc.InboundEvent",
        "kyc.Certificate",
    } <= labels
    k1 = settings.FIELD_ENCRYPTION_KEYS[0]
    k2 = Fernet.generate_key().decode()
    before = {o.pk: raw_values(o) for o in objs if isinstance(o.pk, int)}
    for obj in objs:  # nothing is stored in clear, and K2 opens nothing yet
        for value in raw_values(obj):
            assert value.startswith(PREFIX) and "PLANTED" not in value
            Fernet(k1.encode()).decrypt(value[len(PREFIX) :].encode())

    settings.FIELD_ENCRYPTION_KEYS = [k2, k1]
    assert_reads_back(objs, world)  # old values still open while both keys are configured
    call_command("rotate_keys", stdout=open("/dev/null", "w"))
    settings.FIELD_ENCRYPTION_KEYS = [k2]
    checked = assert_reads_back(objs, world)
    for obj in objs:
        for value in raw_values(obj):
            Fernet(k2.encode()).decrypt(value[len(PREFIX) :].encode())  # really under K2
        if isinstance(obj.pk, int):
            assert raw_values(obj) != before[obj.pk]

    # a key that opened the data before rotation no longer does: loud, per model
    settings.FIELD_ENCRYPTION_KEYS = [k1]
    for obj in objs:
        with pytest.raises(DecryptionError, match="none of FIELD_ENCRYPTION_KEYS"):
            type(obj)._default_manager.get(pk=obj.pk)
    promise("key_rotation", len(labels), "models")
    promise("key_rotation", checked, "values rotated")


def test_it_fails_loudly_on_a_wrong_or_malformed_key(world, settings) -> None:
    a, _ = world
    objs = [a.builder.get(m) for m in models_with_encrypted_fields()]
    settings.FIELD_ENCRYPTION_KEYS = [Fernet.generate_key().decode()]
    for obj in objs:
        with pytest.raises(DecryptionError):
            type(obj)._default_manager.get(pk=obj.pk)
    settings.FIELD_ENCRYPTION_KEYS = ["not-a-key"]
    with pytest.raises(DecryptionError, match="malformed"):
        type(objs[0])._default_manager.get(pk=objs[0].pk)
    settings.FIELD_ENCRYPTION_KEYS = []
    with pytest.raises(DecryptionError, match="empty"):
        type(objs[0])._default_manager.get(pk=objs[0].pk)
