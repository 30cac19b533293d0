"""The delivery insert (kyc.services.inbox._insert, through kyc.prepared) stores what
Model.save() would (tests/intake/test_prepared.py: and skips nothing save() would do)."""

from __future__ import annotations

from typing import Any

import pytest
from django.db import connection

from kyc.models import InboundEvent
from kyc.services import inbox

pytestmark = pytest.mark.django_db


def _fields(merchant: Any) -> dict[str, Any]:
    return {
        "provider": "blockpass",
        "merchant_id": merchant.pk,
        "kind": "certPormise.resolved",
        "path": "/hooks/blockpass/x/",
        "headers": {"content-type": "application/json", "x-blockpass-delivery": "d-1"},
        "body": b'{"blockpassID": "secret-customer-id"}',
        "body_size": 37,
        "remote_addr": "203.0.113.9",
        "state": InboundEvent.State.RECEIVED,
        "verified": True,
        "attempts": 0,
    }


def _stored(pk: int) -> dict[str, Any]:
    row = InboundEvent.objects.get(pk=pk)
    return {
        f.attname: getattr(row, f.attname)
        for f in InboundEvent._meta.concrete_fields
        if f.attname not in ("id", "dedupe_key", "received_at")
    }


def test_it_stores_the_same_row_as_the_orm(merchant: Any) -> None:
    fast = inbox._insert(InboundEvent(dedupe_key="k-fast", **_fields(merchant)))
    orm = InboundEvent.objects.create(dedupe_key="k-orm", **_fields(merchant))
    assert fast.pk and fast.pk != orm.pk and not fast._state.adding
    assert _stored(fast.pk) == _stored(orm.pk)
    assert bytes(InboundEvent.objects.get(pk=fast.pk).body) == _fields(merchant)["body"]
    with connection.cursor() as cursor:
        cursor.execute("SELECT body, remote_addr FROM kyc_inboundevent WHERE id = %s", [fast.pk])
        raw, addr = cursor.fetchone()
    assert b"secret-customer-id" not in str(raw).encode()  # encrypted at rest
    assert str(addr) == "203.0.113.9"


def test_a_repeated_key_is_kept_as_a_duplicate(merchant: Any) -> None:
    first, original = inbox.inbound_store(dedupe_key="k-1", **_store_args(merchant))
    again, found = inbox.inbound_store(dedupe_key="k-1", **_store_args(merchant))
    assert original is None and found is not None and found.pk == first.pk
    assert again.state == InboundEvent.State.DUPLICATE and again.duplicate_of_id == first.pk


def _store_args(merchant: Any) -> dict[str, Any]:
    fields = _fields(merchant)
    return {
        "provider": fields["provider"],
        "path": fields["path"],
        "headers": fields["headers"],
        "body": fields["body"],
        "remote_addr": fields["remote_addr"],
    }
