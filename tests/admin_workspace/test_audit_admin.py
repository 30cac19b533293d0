"""The audit trail in the admin: the chain's state per merchant, readable details, and an
export of a date range by permission (itself audited)."""

from __future__ import annotations

import csv
import datetime as dt
import io
import json

import pytest
from django.urls import reverse
from django.utils import timezone

from kyc import services
from kyc.models import AuditEntry, Membership
from tests.admin_workspace.conftest import Desk, member

pytestmark = pytest.mark.django_db

CHANGELIST = "admin:kyc_auditentry_changelist"
EXPORT = "admin:kyc_auditentry_export"


def test_it_shows_the_chain_intact_then_broken(desk: Desk) -> None:
    for n in range(3):
        services.audit_log(actor=None, action=f"test.{n}", merchant=desk.merchant)
    client = member(desk.merchant, Membership.Role.VIEWER)
    html = client.get(reverse(CHANGELIST)).content.decode()
    assert "Intact</span>" in html and "3 chained entries verified" in html
    middle = AuditEntry.objects.get(action="test.1")
    AuditEntry.objects.filter(pk=middle.pk).update(detail={"edited": True})  # behind its back
    html = client.get(reverse(CHANGELIST)).content.decode()
    assert "Broken</span>" in html and f"Broken at entry #{middle.pk}" in html
    assert reverse("admin:kyc_auditentry_change", args=[middle.pk]) in html


def test_it_shows_details_as_a_table_and_times_with_seconds(desk: Desk) -> None:
    entry = services.audit_log(
        actor=None, action="test.detail", merchant=desk.merchant, detail={"reason": "why"}
    )
    client = member(desk.merchant, Membership.Role.VIEWER)
    html = client.get(reverse("admin:kyc_auditentry_change", args=[entry.pk])).content.decode()
    assert '<th scope="row">reason</th><td>why</td>' in html
    assert timezone.localtime(entry.at).strftime("%Y-%m-%d %H:%M:%S") in html


def test_it_exports_a_date_range_by_permission_and_audits_the_export(desk: Desk) -> None:
    services.audit_log(actor=None, action="test.inside", merchant=desk.merchant)
    old = services.audit_log(actor=None, action="test.outside", merchant=desk.merchant)
    AuditEntry.objects.filter(pk=old.pk).update(at=timezone.now() - dt.timedelta(days=400))
    today = timezone.localdate()
    form = {
        "merchant": desk.merchant.pk,
        "since": (today - dt.timedelta(days=7)).isoformat(),
        "until": today.isoformat(),
        "format": "csv",
    }
    viewer = member(desk.merchant, Membership.Role.VIEWER)
    assert viewer.get(reverse(EXPORT)).status_code == 403
    assert viewer.post(reverse(EXPORT), form).status_code == 403
    assert "Export a date range" not in viewer.get(reverse(CHANGELIST)).content.decode()
    assert not AuditEntry.objects.filter(action="audit.exported").exists()

    client = member(desk.merchant, Membership.Role.COMPLIANCE)
    assert "Export a date range" in client.get(reverse(CHANGELIST)).content.decode()
    response = client.post(reverse(EXPORT), form)
    assert response.status_code == 200 and response["Content-Type"].startswith("text/csv")
    assert "attachment" in response["Content-Disposition"]
    rows = list(csv.DictReader(io.StringIO(response.content.decode())))
    actions = [r["action"] for r in rows]
    assert "test.inside" in actions and "test.outside" not in actions
    exported = AuditEntry.objects.get(action="audit.exported")
    assert exported.actor == client.user and exported.merchant == desk.merchant

    as_json = client.post(reverse(EXPORT), {**form, "format": "json"})
    assert as_json.status_code == 200
    assert "test.inside" in [e["action"] for e in json.loads(as_json.content)["entries"]]
    bad = client.post(reverse(EXPORT), {**form, "since": "yesterday"})
    assert bad.status_code == 400 and 'id="export-error"' in bad.content.decode()


def test_it_keeps_the_chain_intact_when_a_superuser_deletes_an_entry(desk: Desk) -> None:
    from tests import factories
    from tests.admin_workspace.conftest import login

    for n in range(3):
        services.audit_log(actor=None, action=f"test.{n}", merchant=desk.merchant)
    middle = AuditEntry.objects.get(action="test.1")
    superuser = login(factories.UserFactory(is_staff=True, is_superuser=True))
    url = reverse("admin:kyc_auditentry_delete", args=[middle.pk])
    assert superuser.post(url, {"post": "yes"}).status_code == 302
    assert not AuditEntry.objects.filter(pk=middle.pk).exists()
    note = AuditEntry.objects.get(action="evidence.deleted")
    assert note.detail["id"] == str(middle.pk) and note.actor == superuser.user
    html = member(desk.merchant, Membership.Role.VIEWER).get(reverse(CHANGELIST)).content
    assert b"Intact</span>" in html  # a documented gap, not a break
    assert b"1 documented deletion by an operator" in html
