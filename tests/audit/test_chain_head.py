"""The admin's audit list checks each chain from where it was last verified intact (its
stored head), so a load reads only the entries written since; a change to an older entry
resets the head (a database trigger), so the next load walks the whole chain and names it.
`manage.py audit_verify` always walks everything."""

from __future__ import annotations

from collections.abc import Iterator
from io import StringIO
from typing import Any

import pytest
from django.core.management import call_command
from django.core.management.base import CommandError
from django.test import Client
from django.urls import reverse

from kyc import audit
from kyc.audit import audit_entry_delete, audit_write, chain_verify_from_head
from kyc.models import AuditChainHead, AuditEntry, Membership, Merchant
from tests import factories
from tests.admin_workspace.conftest import member
from tests.audit.tampering import raw_sql, swap_entries

pytestmark = pytest.mark.django_db

CHANGELIST = "admin:kyc_auditentry_changelist"


def _write(merchant: Merchant, n: int) -> list[AuditEntry]:
    return [
        audit_write(actor=None, merchant=merchant, action="test.head", object_id=str(i))
        for i in range(n)
    ]


class Reads:
    """Counts the audit entries the verification reads (and hashes)."""

    def __init__(self, monkeypatch: pytest.MonkeyPatch) -> None:
        self.rows = 0
        real = audit._entries

        def counted(merchant_id: int | None, after_id: int = 0) -> Iterator[AuditEntry]:
            for entry in real(merchant_id, after_id):
                self.rows += 1
                yield entry

        monkeypatch.setattr(audit, "_entries", counted)

    def take(self) -> int:
        rows, self.rows = self.rows, 0
        return rows


def _list(client: Client) -> str:
    response = client.get(reverse(CHANGELIST))
    assert response.status_code == 200
    return response.content.decode()


def _audit_verify(merchant: Merchant) -> tuple[int, str]:
    out, err = StringIO(), StringIO()
    try:
        call_command("audit_verify", "--merchant", merchant.slug, stdout=out, stderr=err)
    except CommandError as exc:
        return exc.returncode, err.getvalue()
    return 0, out.getvalue()


def test_it_reads_only_the_entries_written_since_the_last_load(
    merchant: Merchant, monkeypatch: pytest.MonkeyPatch
) -> None:
    _write(merchant, 40)
    client = member(merchant, Membership.Role.VIEWER)  # writes no entry of its own
    reads = Reads(monkeypatch)
    assert "40 chained entries verified" in _list(client)
    assert reads.take() == 40  # the first load walks the chain once
    assert "40 chained entries verified" in _list(client)
    assert reads.take() == 0  # nothing new: nothing read
    _write(merchant, 2)
    assert "42 chained entries verified" in _list(client)
    assert reads.take() == 2
    head = AuditChainHead.objects.get(chain=merchant.pk)
    newest = AuditEntry.objects.filter(merchant=merchant).order_by("-id").first()
    assert newest is not None and (head.last_id, head.hash) == (newest.pk, newest.hash)


def test_it_takes_as_many_queries_for_a_long_chain_as_for_a_short_one(
    merchant: Merchant, django_assert_max_num_queries: Any
) -> None:
    written = 0
    for before in (3, 500):  # a short chain, then a long one
        _write(merchant, before)
        chain_verify_from_head(merchant)
        _write(merchant, 1)
        written += before + 1
        # the head, its entry, deletion notes, the new entries, the new head
        with django_assert_max_num_queries(5):
            report = chain_verify_from_head(merchant)
        assert report.ok and report.read == 1 and report.checked == written


def _edit(entries: list[AuditEntry]) -> int:
    raw_sql("UPDATE kyc_auditentry SET detail = %s WHERE id = %s", ['{"x": 1}', entries[1].pk])
    return entries[1].pk


def _delete(entries: list[AuditEntry]) -> int:
    raw_sql("DELETE FROM kyc_auditentry WHERE id = %s", [entries[1].pk])
    return entries[2].pk


def _reorder(entries: list[AuditEntry]) -> int:
    a, b = entries[1].pk, entries[2].pk
    swap_entries(a, b)
    return a


@pytest.mark.parametrize(
    "tamper", [_edit, _delete, _reorder], ids=["edited", "deleted", "reordered"]
)
def test_it_names_a_change_before_the_head_on_the_next_load(
    merchant: Merchant, monkeypatch: pytest.MonkeyPatch, tamper: Any
) -> None:
    entries = _write(merchant, 6)
    client = member(merchant, Membership.Role.VIEWER)
    assert "6 chained entries verified" in _list(client)
    assert AuditChainHead.objects.get(chain=merchant.pk).last_id == entries[-1].pk
    broken_id = tamper(entries)  # behind the model's back, before the head
    assert AuditChainHead.objects.get(chain=merchant.pk).last_id == 0  # the trigger reset it
    reads = Reads(monkeypatch)
    html = _list(client)
    assert "Broken</span>" in html and f"Broken at entry #{broken_id}" in html
    assert reads.take() >= 2  # walked from the start, not from the old head
    # still broken on every later load (a broken chain stores no head)
    assert f"Broken at entry #{broken_id}" in _list(client)
    code, err = _audit_verify(merchant)
    assert code == 1 and f"BROKEN at audit entry #{broken_id}" in err


def test_it_keeps_other_merchants_heads_when_one_chain_changes(merchant: Merchant) -> None:
    other = factories.MerchantFactory()
    mine, theirs = _write(merchant, 3), _write(other, 3)
    chain_verify_from_head(merchant)
    chain_verify_from_head(other)
    _edit(mine)
    assert AuditChainHead.objects.get(chain=merchant.pk).last_id == 0
    assert AuditChainHead.objects.get(chain=other.pk).last_id == theirs[-1].pk


def test_it_resets_the_head_when_an_entry_is_inserted_below_it(merchant: Merchant) -> None:
    other = factories.MerchantFactory()
    first = _write(merchant, 1)
    gap = _write(other, 1)[0].pk
    _write(merchant, 2)
    raw_sql("DELETE FROM kyc_auditentry WHERE id = %s", [gap])  # another chain's id is free
    assert chain_verify_from_head(merchant).ok
    assert AuditChainHead.objects.get(chain=merchant.pk).last_id > gap
    # An entry slipped into the verified part of the chain, linked to the entry before it.
    raw_sql(
        "INSERT INTO kyc_auditentry (id, at, merchant_id, action, object_type, object_id,"
        " detail, prev_hash, hash) VALUES (%s, now(), %s, 'slipped in', '', '', '{}', %s, %s)",
        [gap, merchant.pk, first[0].hash, "f" * 64],
    )
    assert AuditChainHead.objects.get(chain=merchant.pk).last_id == 0
    report = chain_verify_from_head(merchant)
    assert not report.ok and report.first_broken_id == gap


def test_it_does_not_keep_a_head_verified_while_the_chain_changed(
    merchant: Merchant, monkeypatch: pytest.MonkeyPatch
) -> None:
    """An entry edited while a load is walking the new entries: that load cannot see it,
    but it does not store its head either, so the next load walks everything."""
    entries = _write(merchant, 4)
    chain_verify_from_head(merchant)
    _write(merchant, 1)
    real_walk = audit._walk

    def walk_while_edited(mid: int | None, start: Any) -> audit.ChainReport:
        _edit(entries)
        return real_walk(mid, start)

    monkeypatch.setattr(audit, "_walk", walk_while_edited)
    assert chain_verify_from_head(merchant).ok  # it started from the old head
    monkeypatch.setattr(audit, "_walk", real_walk)
    assert AuditChainHead.objects.get(chain=merchant.pk).last_id == 0
    report = chain_verify_from_head(merchant)
    assert not report.ok and report.first_broken_id == entries[1].pk


def test_it_verifies_every_entry_when_asked(merchant: Merchant) -> None:
    """Without the trigger (its reset undone here) an edit before the head goes unseen by a load;
    "Verify every entry now" walks the whole chain and names it, as audit_verify does."""
    entries = _write(merchant, 4)
    client = member(merchant, Membership.Role.VIEWER)
    assert "4 chained entries verified" in _list(client)
    head = AuditChainHead.objects.filter(chain=merchant.pk)
    kept = head.values("last_id", "hash").get()
    _edit(entries)
    head.update(**kept)  # as if no trigger had reset it
    assert "Intact</span>" in _list(client)  # the load trusts the head
    response = client.post(reverse("admin:kyc_auditentry_verify"), follow=True)
    html = response.content.decode()
    assert "0 chain(s) intact, 1 broken" in html
    assert f"Broken at entry #{entries[1].pk}" in html
    assert _audit_verify(merchant)[0] == 1


def test_it_still_accepts_entries_deleted_the_audited_way(merchant: Merchant) -> None:
    operator = factories.UserFactory(is_superuser=True, is_staff=True)
    entries = _write(merchant, 4)
    client = member(merchant, Membership.Role.VIEWER)
    assert "4 chained entries verified" in _list(client)
    audit_entry_delete(entry=entries[1], actor=operator)  # before the head
    html = _list(client)
    assert "Intact</span>" in html and "1 documented deletion by an operator" in html
    _write(merchant, 1)
    report = chain_verify_from_head(merchant)
    assert report.ok and report.read == 1 and report.deleted == 1 and report.checked == 5
