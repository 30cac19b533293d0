"""The audit trail cannot be quietly rewritten: every entry is chained to the one before it
(per merchant), rows are append-only, and `manage.py audit_verify` names the first entry
that was edited, deleted or reordered behind the model's back."""

from __future__ import annotations

from io import StringIO
from typing import Any

import pytest
from django.core.management import call_command
from django.core.management.base import CommandError

from kyc import services
from kyc.audit import (
    audit_chain_status,
    audit_entry_delete,
    audit_write,
    chain_verify,
    entry_hash,
)
from kyc.models import AppendOnlyError, AuditEntry, Merchant
from tests import factories
from tests.audit.tampering import raw_sql, swap_entries

pytestmark = pytest.mark.django_db


def _write(merchant: Merchant | None, n: int, actor: Any = None) -> list[AuditEntry]:
    return [
        audit_write(
            actor=actor,
            merchant=merchant,
            action="test.action",
            object_type="kyc.KYCRecord",
            object_id=str(i),
            detail={"n": i, "reason": "checked", "nested": {"b": [1, 2], "a": "ü"}},
        )
        for i in range(n)
    ]


def _verify(*args: str) -> tuple[int, str, str]:
    out, err = StringIO(), StringIO()
    try:
        call_command("audit_verify", *args, stdout=out, stderr=err)
    except CommandError as exc:
        return exc.returncode, out.getvalue(), err.getvalue() + str(exc)
    return 0, out.getvalue(), err.getvalue()


def test_it_chains_each_merchants_entries_to_the_one_before(merchant: Merchant) -> None:
    other = factories.MerchantFactory()
    staff = factories.staff_user(merchant)
    mine = _write(merchant, 3, actor=staff)
    theirs = _write(other, 2)
    system = _write(None, 2)
    for chain in (mine, theirs, system):
        assert chain[0].prev_hash == ""
        assert [e.prev_hash for e in chain[1:]] == [e.hash for e in chain[:-1]]
        for e in chain:
            e.refresh_from_db()
            assert len(e.hash) == 64 and e.hash == entry_hash(e)  # as read back
    assert audit_chain_status(merchant) == (True, 3, None)
    assert audit_chain_status(other) == (True, 2, None)
    assert audit_chain_status(None) == (True, 2, None)
    code, out, _ = _verify()
    assert code == 0 and out.count("intact") == 3 and mine[-1].hash in out


def test_it_chains_entries_written_through_the_existing_helpers(merchant: Merchant) -> None:
    key, _ = services.api_key_create(merchant=merchant, name="k")
    services.api_key_revoke(key=key)
    direct = AuditEntry.objects.create(merchant=merchant, action="made.directly")
    entries = list(AuditEntry.objects.filter(merchant=merchant).order_by("id"))
    assert [e.action for e in entries] == ["api_key.created", "api_key.revoked", "made.directly"]
    assert entries[2].pk == direct.pk and direct.prev_hash == entries[1].hash
    assert all(e.hash for e in entries)
    assert chain_verify(merchant).ok


def test_it_names_an_entry_edited_behind_the_models_back(merchant: Merchant) -> None:
    entries = _write(merchant, 4)
    assert _verify("--merchant", merchant.slug)[0] == 0  # positive control
    raw_sql(
        "UPDATE kyc_auditentry SET detail = %s WHERE id = %s",
        ['{"n": 1, "reason": "nothing to see"}', entries[1].pk],
    )
    code, _, err = _verify("--merchant", merchant.slug)
    assert code == 1
    assert f"BROKEN at audit entry #{entries[1].pk}" in err and "edited" in err
    assert audit_chain_status(merchant) == (False, 1, entries[1].pk)


def test_it_names_an_entry_whose_actor_was_changed(merchant: Merchant) -> None:
    staff, other = factories.staff_user(merchant), factories.UserFactory()
    entries = _write(merchant, 3, actor=staff)
    raw_sql("UPDATE kyc_auditentry SET actor_id = %s WHERE id = %s", [other.pk, entries[2].pk])
    assert audit_chain_status(merchant) == (False, 2, entries[2].pk)


def test_it_names_the_entry_after_a_deleted_one(merchant: Merchant) -> None:
    entries = _write(merchant, 4)
    raw_sql("DELETE FROM kyc_auditentry WHERE id = %s", [entries[1].pk])
    code, _, err = _verify()
    assert code == 1 and f"#{entries[2].pk}" in err and "deleted" in err
    assert audit_chain_status(merchant)[2] == entries[2].pk


def test_it_names_the_first_entry_when_the_chains_start_was_deleted(merchant: Merchant) -> None:
    entries = _write(merchant, 3)
    raw_sql("DELETE FROM kyc_auditentry WHERE id = %s", [entries[0].pk])
    assert audit_chain_status(merchant) == (False, 0, entries[1].pk)


def test_it_names_reordered_entries(merchant: Merchant) -> None:
    entries = _write(merchant, 4)
    a, b = entries[1].pk, entries[2].pk
    swap_entries(a, b)
    moved = AuditEntry.objects.get(pk=a)
    assert moved.object_id == "2"  # the swap happened
    code, _, err = _verify()
    assert code == 1 and f"#{a}" in err and "reordered" in err


def test_it_keeps_other_chains_intact_when_one_breaks(merchant: Merchant) -> None:
    other = factories.MerchantFactory()
    _write(other, 2)
    entries = _write(merchant, 2)
    raw_sql("UPDATE kyc_auditentry SET action = 'x' WHERE id = %s", [entries[0].pk])
    assert audit_chain_status(other) == (True, 2, None)
    code, out, err = _verify()
    assert code == 1 and f"merchant {other.slug}: intact" in out and merchant.slug in err


def test_it_starts_the_chain_after_entries_from_before_it(merchant: Merchant) -> None:
    """Entries written before the chain existed (no hash) are legacy, not a break..."""
    raw_sql(
        "INSERT INTO kyc_auditentry (at, merchant_id, action, object_type, object_id, detail,"
        " prev_hash, hash) VALUES (now(), %s, 'old', '', '', '{}', '', '')",
        [merchant.pk],
    )
    entries = _write(merchant, 2)
    report = chain_verify(merchant)
    assert report.ok and (report.legacy, report.checked) == (1, 2)
    assert "1 legacy entries" in _verify()[1]
    # ... but an entry without a hash inside the chain is.
    raw_sql(
        "INSERT INTO kyc_auditentry (at, merchant_id, action, object_type, object_id, detail,"
        " prev_hash, hash) VALUES (now(), %s, 'slipped in', '', '', '{}', '', '')",
        [merchant.pk],
    )
    report = chain_verify(merchant)
    assert not report.ok and report.first_broken_id == entries[-1].pk + 1


def test_it_refuses_to_change_or_delete_an_entry(merchant: Merchant) -> None:
    entry = _write(merchant, 1)[0]
    entry.action = "rewritten"
    with pytest.raises(AppendOnlyError):
        entry.save()
    with pytest.raises(AppendOnlyError):
        entry.delete()
    stored = AuditEntry.objects.get(pk=entry.pk)
    assert stored.action == "test.action" and chain_verify(merchant).ok
    # Control: a new entry is still written (and chained after it).
    assert _write(merchant, 1)[0].prev_hash == entry.hash


def test_it_reports_an_unknown_merchant(merchant: Merchant) -> None:
    code, _, err = _verify("--merchant", "no-such-shop")
    assert code == 1 and "no-such-shop" in err


def test_it_accepts_entries_deleted_the_audited_way(merchant: Merchant) -> None:
    """A superuser's deletion through audit_entry_delete leaves a documented gap (its own
    entry names the deleted one's hash); verification then still passes and says so."""
    operator = factories.UserFactory(is_superuser=True, is_staff=True)
    entries = _write(merchant, 5)
    audit_entry_delete(entry=entries[0], actor=operator)  # the chain's first
    audit_entry_delete(entry=entries[2], actor=operator)  # two in a row
    audit_entry_delete(entry=entries[3], actor=operator)
    assert not AuditEntry.objects.filter(pk__in=[entries[i].pk for i in (0, 2, 3)]).exists()
    report = chain_verify(merchant)
    assert report.ok and report.deleted == 3 and report.checked == 2 + 3  # 2 left + 3 notes
    note = AuditEntry.objects.filter(action="evidence.deleted").order_by("id").first()
    assert note is not None and note.actor == operator
    assert note.detail["hash"] == entries[0].hash and note.object_id == str(entries[0].pk)
    code, out, _ = _verify("--merchant", merchant.slug)
    assert code == 0 and "3 deleted by staff" in out
    # The control: a deletion without its note is a break.
    raw_sql("DELETE FROM kyc_auditentry WHERE id = %s", [entries[1].pk])
    assert audit_chain_status(merchant)[0:1] == (False,)


def test_it_does_not_accept_a_deletion_note_for_another_entry(merchant: Merchant) -> None:
    operator = factories.UserFactory(is_superuser=True, is_staff=True)
    entries = _write(merchant, 3)
    raw_sql("DELETE FROM kyc_auditentry WHERE id = %s", [entries[1].pk])
    # A note that names some other hash does not explain the gap.
    audit_write(
        actor=operator,
        merchant=merchant,
        action="evidence.deleted",
        object_type="kyc.AuditEntry",
        object_id=str(entries[1].pk),
        detail={"hash": "0" * 64, "prev_hash": entries[0].hash},
    )
    assert audit_chain_status(merchant) == (False, 1, entries[2].pk)
