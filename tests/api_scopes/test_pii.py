"""Identity values: masked (and never decrypted) without `pii`; with it, decrypted and
audited once per response, naming key, endpoint, records and fields, never a value."""

from __future__ import annotations

import json
from typing import Any
from unittest import mock

import pytest

from kyc import crypto
from kyc.models import AuditEntry, IdentityField
from tests import factories
from tests.api_scopes.conftest import DOB, EMAIL, World

VALUES = {"SH_EMAIL": EMAIL, "SH_Passport_DOB": DOB}


def reads(world: World) -> list[str]:
    return [
        "/api/v1/records/",
        f"/api/v1/records/{world.record.pk}/",
        f"/api/v1/transfers/{world.transfer.pk}/",
    ]


def values_in(body: dict[str, Any]) -> list[dict[str, Any]]:
    if "results" in body:
        return [f for row in body["results"] for f in row["fields"]]
    return body.get("fields", body.get("data"))


@pytest.fixture
def decrypted() -> Any:
    """Every plaintext the field encryption hands out during the test."""
    seen: list[bytes] = []
    real = crypto.decrypt_bytes

    def spy(stored: str) -> bytes:
        out = real(stored)
        seen.append(out)
        return out

    with mock.patch.object(crypto, "decrypt_bytes", spy):
        yield seen


def pii_audits() -> list[AuditEntry]:
    return list(AuditEntry.objects.filter(action="pii.api_read").order_by("pk"))


def test_it_masks_values_for_a_key_without_pii_and_never_decrypts_them(
    world: World, key_with: Any, decrypted: list[bytes]
) -> None:
    reader, _ = key_with("read", "write")
    for url in reads(world):
        r = reader.get(url)
        assert r.status_code == 200, url
        fields = values_in(r.json())
        assert {f["key"] for f in fields} == set(VALUES), url
        assert all(f["value"] is None and f["masked"] is True for f in fields), fields
        assert EMAIL not in r.content.decode() and DOB not in r.content.decode()
    assert not any(EMAIL.encode() in d or DOB.encode() in d for d in decrypted)
    assert pii_audits() == []  # nothing decrypted, nothing to audit


def test_it_shows_decrypted_values_to_a_key_with_pii(
    world: World, key_with: Any, decrypted: list[bytes]
) -> None:
    revealer, _ = key_with("read", "pii")
    for url in reads(world):
        fields = values_in(revealer.get(url).json())
        assert {f["key"]: f["value"] for f in fields} == VALUES, url
        assert not any(f["masked"] for f in fields)
    assert EMAIL.encode() in decrypted  # control for the test above: the spy sees values


def test_it_writes_one_audit_entry_per_pii_response_without_values(
    world: World, key_with: Any
) -> None:
    revealer, key = key_with("read", "pii")
    other = factories.KYCRecordFactory(merchant=world.merchant, reference="cust-2")
    factories.IdentityFieldFactory(record=other, key="SH_EMAIL", value="b@x.io")

    assert revealer.get("/api/v1/records/").status_code == 200
    [entry] = pii_audits()
    assert entry.merchant == world.merchant
    assert entry.detail == {
        "key": key.prefix,
        "endpoint": "GET /api/v1/records/",
        "records": sorted([world.record.pk, other.pk]),
        "fields": {
            str(world.record.pk): ["SH_EMAIL", "SH_Passport_DOB"],
            str(other.pk): ["SH_EMAIL"],
        },
    }
    assert (entry.object_type, entry.object_id) == ("kyc.ApiKey", str(key.pk))
    stored = json.dumps(entry.detail) + str(entry)
    assert EMAIL not in stored and DOB not in stored and "b@x.io" not in stored

    revealer.get(f"/api/v1/transfers/{world.transfer.pk}/")
    assert len(pii_audits()) == 2
    assert pii_audits()[-1].detail["endpoint"] == f"GET /api/v1/transfers/{world.transfer.pk}/"
    assert pii_audits()[-1].detail["records"] == [world.record.pk]


def test_it_writes_no_audit_entry_for_a_response_without_values(
    world: World, key_with: Any
) -> None:
    revealer, _ = key_with("read", "pii")
    for url in ("/api/v1/transfers/", "/api/v1/certificates/", "/api/v1/records/?reference=nobody"):
        assert revealer.get(url).status_code == 200
    assert pii_audits() == []
    # an erased customer carries no value any more: nothing to audit either
    IdentityField.objects.update(value=None, erased_at=world.record.created_at)
    body = revealer.get(f"/api/v1/records/{world.record.pk}/").json()
    assert all(f["value"] is None and f["masked"] is False for f in body["fields"])
    assert pii_audits() == []
