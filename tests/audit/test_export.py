"""Export of a merchant's audit trail for a date range, as CSV or JSON; the export is
itself audited, and carries only that merchant's entries."""

from __future__ import annotations

import csv
import datetime as dt
import io
import json
from io import StringIO
from typing import Any

import pytest
from django.core.management import call_command
from django.db import connection
from django.utils import timezone

from kyc.audit import audit_export, audit_write, chain_verify
from kyc.models import AuditEntry, Merchant
from tests import factories

pytestmark = pytest.mark.django_db

DAY = dt.date(2026, 3, 10)


def _at(entry: AuditEntry, when: dt.datetime) -> None:
    """Move an entry in time (for the date range), behind the model's back: the chain
    then reports that entry as edited (the JSON export says so)."""
    entry.at = when
    with connection.cursor() as cur:
        cur.execute("UPDATE kyc_auditentry SET at = %s WHERE id = %s", [when, entry.pk])


def _scene(merchant: Merchant) -> dict[str, AuditEntry]:
    staff = factories.staff_user(merchant, username="rita")
    other = factories.MerchantFactory()
    tz = timezone.get_current_timezone()
    entries = {
        "before": audit_write(actor=staff, merchant=merchant, action="old.thing"),
        "first": audit_write(
            actor=staff,
            merchant=merchant,
            action="record.review_decided",
            object_type="kyc.KYCRecord",
            object_id="7",
            detail={"decision": "reject", "reason_code": "document_expired"},
        ),
        "formula": audit_write(
            actor=None, merchant=merchant, action="note", detail={"x": 1}, object_id="=1+2"
        ),
        "after": audit_write(actor=staff, merchant=merchant, action="new.thing"),
        "theirs": audit_write(actor=None, merchant=other, action="their.thing"),
    }
    _at(entries["before"], dt.datetime.combine(DAY - dt.timedelta(days=1), dt.time(23, 59), tz))
    _at(entries["first"], dt.datetime.combine(DAY, dt.time(0, 0, 1), tz))
    _at(entries["formula"], dt.datetime.combine(DAY, dt.time(23, 59, 59), tz))
    _at(entries["after"], dt.datetime.combine(DAY + dt.timedelta(days=1), dt.time(0, 0), tz))
    _at(entries["theirs"], dt.datetime.combine(DAY, dt.time(12), tz))
    return entries


def test_it_exports_the_days_entries_as_csv_and_audits_the_export(merchant: Merchant) -> None:
    entries = _scene(merchant)
    staff = factories.staff_user(merchant, username="exporter")
    export = audit_export(merchant=merchant, actor=staff, since=DAY, until=DAY, format="csv")
    rows = list(csv.DictReader(io.StringIO(export.body)))
    assert [r["id"] for r in rows] == [str(entries["first"].pk), str(entries["formula"].pk)]
    first = rows[0]
    assert (first["actor"], first["merchant"], first["action"]) == (
        "rita",
        merchant.slug,
        "record.review_decided",
    )
    assert json.loads(first["detail"]) == {"decision": "reject", "reason_code": "document_expired"}
    assert first["hash"] == entries["first"].hash
    assert first["prev_hash"] == entries["first"].prev_hash
    assert rows[1]["object_id"] == "'=1+2"  # a spreadsheet shows it, never runs it
    assert export.count == 2 and export.content_type.startswith("text/csv")
    assert export.filename == f"audit-{merchant.slug}-20260310-20260310.csv"
    logged = AuditEntry.objects.filter(action="audit.exported").get()
    assert logged.actor == staff and logged.merchant == merchant
    assert logged.detail["count"] == 2 and logged.detail["format"] == "csv"


def test_it_exports_json_with_the_chain_state(merchant: Merchant) -> None:
    entries = _scene(merchant)
    export = audit_export(merchant=merchant, actor=None, since=DAY, format="json")
    body = json.loads(export.body)
    assert body["merchant"] == merchant.slug and body["chain_intact"] is False  # moved above
    assert [e["id"] for e in body["entries"]] == [
        entries["first"].pk,
        entries["formula"].pk,
        entries["after"].pk,
    ]
    assert body["entries"][0]["detail"]["reason_code"] == "document_expired"
    assert body["entries"][1]["object_id"] == "=1+2"  # JSON keeps the value as it is
    assert "their.thing" not in export.body


def test_it_says_the_chain_is_intact_when_it_is(merchant: Merchant) -> None:
    audit_write(actor=None, merchant=merchant, action="a")
    body = json.loads(audit_export(merchant=merchant, actor=None, format="json").body)
    assert body["chain_intact"] is True and [e["action"] for e in body["entries"]] == ["a"]
    # The export's own entry joins the chain, which stays intact.
    assert chain_verify(merchant).ok and chain_verify(merchant).checked == 2


def test_it_exports_from_the_command_line(merchant: Merchant, tmp_path: Any) -> None:
    _scene(merchant)
    out = StringIO()
    call_command(
        "audit_export",
        "--merchant",
        merchant.slug,
        "--since",
        DAY.isoformat(),
        "--until",
        DAY.isoformat(),
        "--format",
        "json",
        stdout=out,
    )
    assert [e["action"] for e in json.loads(out.getvalue())["entries"]] == [
        "record.review_decided",
        "note",
    ]
    target = tmp_path / "audit.csv"
    call_command(
        "audit_export", "--merchant", merchant.slug, "--output", str(target), stderr=StringIO()
    )
    assert target.read_text().startswith("id,at,actor_id,actor,merchant,action")
    vias = AuditEntry.objects.filter(action="audit.exported").values_list("detail", flat=True)
    assert [d["via"] for d in vias] == ["manage.py audit_export"] * 2


def test_it_refuses_an_unknown_format(merchant: Merchant) -> None:
    with pytest.raises(ValueError, match="csv or json"):
        audit_export(merchant=merchant, actor=None, format="xlsx")
    assert not AuditEntry.objects.filter(action="audit.exported").exists()
