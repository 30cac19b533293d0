"""A record made without a (merchant-signed) refId gets an opaque reference, never one made
of the customer's Blockpass ID (which the record keeps encrypted); erasing the customer
leaves the ID nowhere in plaintext, also for references an earlier version made of the ID."""

from __future__ import annotations

from typing import Any

import pytest
from django.db import connection

from kyc import outbox
from kyc import services as kyc_services
from kyc.crypto import lookup_hash
from kyc.models import KYCRecord, ProviderAccount
from providers.blockpass import sandbox, services

CID = "demo_service"


def _tables_containing(text: str) -> list[str]:
    """Every table whose rows, read as plain text, contain `text` (encrypted columns do not)."""
    found = []
    with connection.cursor() as cur:
        for table in connection.introspection.table_names(cur):
            cur.execute(
                f'SELECT 1 FROM "{table}" t WHERE t::text LIKE %s LIMIT 1',  # noqa: S608
                [f"%{text}%"],
            )
            if cur.fetchone():
                found.append(table)
    return found


def _register(account: ProviderAccount) -> tuple[str, KYCRecord]:
    result = sandbox.app_register(client_id=CID, name="Jane", email="jane@example.com")
    assert result["status"] == 200, result
    record = KYCRecord.objects.get(
        merchant=account.merchant, external_key=lookup_hash(result["bpid"])
    )
    return result["bpid"], record


def test_it_gives_a_record_without_refid_an_opaque_reference_and_erasure_leaves_no_id(
    live_account: ProviderAccount, django_capture_on_commit_callbacks: Any
) -> None:
    bpid, record = _register(live_account)
    assert bpid not in record.reference
    assert services.reference_names_identity(record.reference) is False
    assert record.reference.startswith(services.OPAQUE_REFERENCE_PREFIX)
    assert _tables_containing(bpid) == []  # kept encrypted (and as a keyed hash) only
    reference = record.reference

    with django_capture_on_commit_callbacks(execute=True):
        kyc_services.record_erase(record=record)
    record.refresh_from_db()
    assert record.erased_at and record.reference == reference  # opaque: nothing to forget
    assert _tables_containing(bpid) == []


def test_it_replaces_a_reference_made_of_the_blockpass_id_when_the_customer_is_erased(
    account: ProviderAccount, django_capture_on_commit_callbacks: Any
) -> None:
    bpid = "5f0c1a2b3c4d5e6f7a8b9c0d"
    # The merchant's webhook messages (kept for replays) carry references too.
    outbox.webhook_endpoint_create(merchant=account.merchant, url="https://merchant.test/h")
    # A record registered before the fix: its reference is the Blockpass ID in plaintext.
    record = kyc_services.record_get_or_create(
        merchant=account.merchant,
        reference=f"blockpass-{bpid}",
        provider="blockpass",
        external_id=bpid,
    )
    assert services.reference_names_identity(record.reference)
    record.review_status = KYCRecord.Review.APPROVED  # a change the merchant is told about
    record.save()
    outbox.record_review_decided_event(record=record)
    assert "kyc_kycrecord" in _tables_containing(bpid)  # the scan does see plaintext
    with django_capture_on_commit_callbacks(execute=True):
        kyc_services.record_erase(record=record)
    record.refresh_from_db()
    assert bpid not in record.reference
    assert record.reference.startswith(services.OPAQUE_REFERENCE_PREFIX)
    assert _tables_containing(bpid) == []


@pytest.mark.django_db
def test_it_catches_up_on_identity_references_of_erased_records_in_reconcile(
    account: ProviderAccount,
) -> None:
    bpid = "6a1b2c3d4e5f6a7b8c9d0e1f"
    # Erased, but the after-commit hook never ran (a crash): reconcile still forgets it.
    erased = KYCRecord.objects.create(
        merchant=account.merchant,
        reference=f"blockpass-{bpid}-0123abcd",
        provider="blockpass",
    )
    KYCRecord.objects.filter(pk=erased.pk).update(erased_at=erased.created_at)
    live = KYCRecord.objects.create(
        merchant=account.merchant,
        reference="blockpass-c-0123456789abcdef0123",
        provider="blockpass",
    )
    services.reconcile()
    erased.refresh_from_db()
    live.refresh_from_db()
    assert bpid not in erased.reference and erased.reference.startswith("blockpass-c-")
    assert live.reference == "blockpass-c-0123456789abcdef0123"
