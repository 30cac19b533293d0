"""Destructive actions confirm: erase, bulk reject and revoke show a page naming what will
happen and how many rows (and change nothing); erase and reject refuse without a reason;
with it they act and audit. Evidence is deleted by superusers only, audited."""

from __future__ import annotations

from typing import Any

import pytest
from django.test import Client
from django.urls import reverse

from kyc import services
from kyc.models import (
    ApiKey,
    AuditEntry,
    Certificate,
    IdentityField,
    InboundEvent,
    KYCRecord,
    Membership,
    TransferEvent,
    TransferRequest,
)
from kyc.status import Status
from tests import factories
from tests.admin_workspace.conftest import Desk, login, member

pytestmark = pytest.mark.django_db


def _action(client: Client, changelist: str, action: str, pks: list[Any], **extra: Any) -> Any:
    data = {"action": action, "_selected_action": [str(pk) for pk in pks], **extra}
    return client.post(reverse(changelist), data)


# --- erase ----------------------------------------------------------------------------


def test_it_confirms_erase_with_counts_and_asks_why(desk: Desk) -> None:
    client = member(desk.merchant, Membership.Role.COMPLIANCE)
    changelist = "admin:kyc_kycrecord_changelist"
    page = _action(client, changelist, "erase_pii", [desk.old.pk, desk.new.pk])
    html = page.content.decode()
    assert page.status_code == 200 and "Erase these customers" in html
    assert "<strong>2</strong> records" in html and "<strong>2</strong> identity values" in html
    assert "<strong>1</strong> provider delivery" in html
    assert 'name="reason"' in html and "cannot be undone" in html
    desk.old.refresh_from_db()
    assert desk.old.erased_at is None  # the page changed nothing
    refused = _action(client, changelist, "erase_pii", [desk.old.pk], post="yes", reason=" ")
    assert refused.status_code == 400 and "Say why" in refused.content.decode()
    desk.old.refresh_from_db()
    assert desk.old.erased_at is None
    done = _action(
        client, changelist, "erase_pii", [desk.old.pk], post="yes", reason="GDPR art. 17 request"
    )
    assert done.status_code == 302
    desk.old.refresh_from_db()
    desk.email.refresh_from_db()
    assert desk.old.erased_at is not None and desk.email.value is None
    entry = AuditEntry.objects.get(action="record.erased", object_id=str(desk.old.pk))
    assert entry.actor == client.user and entry.detail["reason"] == "GDPR art. 17 request"


def test_it_confirms_erase_of_one_record_from_its_review_page(desk: Desk) -> None:
    client = member(desk.merchant, Membership.Role.OWNER)
    url = reverse("admin:kyc_kycrecord_erase", args=[desk.old.pk])
    page = client.get(url)
    assert page.status_code == 200 and "<strong>1</strong> record<" in page.content.decode()
    assert client.post(url, {"reason": ""}).status_code == 400
    desk.old.refresh_from_db()
    assert desk.old.erased_at is None
    assert client.post(url, {"reason": "customer closed the account"}).status_code == 302
    desk.old.refresh_from_db()
    assert desk.old.erased_at is not None
    entry = AuditEntry.objects.get(action="record.erased", object_id=str(desk.old.pk))
    assert entry.detail["reason"] == "customer closed the account"
    # viewers get no erase page
    viewer = member(desk.merchant, Membership.Role.VIEWER)
    erase_new = reverse("admin:kyc_kycrecord_erase", args=[desk.new.pk])
    assert viewer.get(erase_new).status_code == 403
    assert viewer.post(erase_new, {"reason": "x"}).status_code == 403


# --- bulk reject ------------------------------------------------------------------------


def test_it_confirms_bulk_reject_and_needs_the_customer_reason(desk: Desk) -> None:
    client = member(desk.merchant, Membership.Role.COMPLIANCE)
    changelist = "admin:kyc_transferrequest_changelist"
    pks = list(TransferRequest.objects.filter(merchant=desk.merchant).values_list("pk", flat=True))
    page = _action(client, changelist, "reject", pks)
    html = page.content.decode()
    assert page.status_code == 200 and "<strong>2</strong> requests in review" in html
    assert 'name="reason_code"' in html and "The document has expired." in html
    refused = _action(client, changelist, "reject", pks, post="yes", reason_code="")
    assert refused.status_code == 400
    assert set(TransferRequest.objects.values_list("status", flat=True)) == {Status.REVIEW}
    done = _action(
        client,
        changelist,
        "reject",
        pks,
        post="yes",
        reason_code="document_expired",
        note="both expired in 2019",
    )
    assert done.status_code == 302
    rejected = TransferRequest.objects.filter(pk__in=pks)
    assert {t.status for t in rejected} == {Status.REJECTED}
    assert {t.status_detail for t in rejected} == {"The document has expired."}
    notes = AuditEntry.objects.filter(action="review.reason", actor=client.user)
    assert notes.count() == 2 and notes.first().detail["note"] == "both expired in 2019"  # type: ignore[union-attr]
    assert AuditEntry.objects.filter(action="transfer.rejected").count() == 2


# --- revoke -------------------------------------------------------------------------------


def test_it_confirms_revoking_api_keys(desk: Desk) -> None:
    owner = member(desk.merchant, Membership.Role.OWNER)
    key, _ = services.api_key_create(merchant=desk.merchant, name="backend")
    changelist = "admin:kyc_apikey_changelist"
    page = _action(owner, changelist, "revoke", [key.pk])
    html = page.content.decode()
    assert page.status_code == 200 and "<strong>1</strong> active key to revoke" in html
    assert "backend" in html
    key.refresh_from_db()
    assert key.revoked_at is None
    assert _action(owner, changelist, "revoke", [key.pk], post="yes").status_code == 302
    key.refresh_from_db()
    assert key.revoked_at is not None
    assert ApiKey.objects.filter(revoked_at__isnull=True, merchant=desk.merchant).count() == 0


# --- deletes ---------------------------------------------------------------------------------


def _evidence(desk: Desk) -> list[Any]:
    cert = factories.CertificateFactory(record=desk.old, slug="s", external_id="c-1")
    return [desk.delivery, desk.transfer.events.first(), AuditEntry.objects.first(), cert]


def test_it_never_lets_merchant_staff_delete_evidence(desk: Desk) -> None:
    services.audit_log(actor=None, action="test.entry", merchant=desk.merchant)
    for role in Membership.Role.values:
        client = member(desk.merchant, role)
        for row in _evidence(desk):
            model = type(row)
            opts = model._meta
            url = reverse(f"admin:{opts.app_label}_{opts.model_name}_delete", args=[row.pk])
            assert client.get(url).status_code == 403, (role, model)
            assert client.post(url, {"post": "yes"}).status_code == 403
            _action(
                client,
                f"admin:{opts.app_label}_{opts.model_name}_changelist",
                "delete_selected",
                [row.pk],
                post="yes",
            )
            assert model._default_manager.filter(pk=row.pk).exists(), (role, model)
        Certificate.objects.all().delete()


@pytest.mark.parametrize("model", [InboundEvent, TransferEvent, AuditEntry, Certificate])
def test_it_lets_a_superuser_delete_evidence_after_confirming_and_audits_it(
    desk: Desk, model: Any
) -> None:
    services.audit_log(actor=None, action="test.entry", merchant=desk.merchant)
    row = next(r for r in _evidence(desk) if isinstance(r, model))
    superuser = login(factories.UserFactory(is_staff=True, is_superuser=True))
    opts = model._meta
    url = reverse(f"admin:{opts.app_label}_{opts.model_name}_delete", args=[row.pk])
    confirm = superuser.get(url)
    assert confirm.status_code == 200 and "Are you sure" in confirm.content.decode()
    assert model._default_manager.filter(pk=row.pk).exists()
    assert superuser.post(url, {"post": "yes"}).status_code == 302
    assert not model._default_manager.filter(pk=row.pk).exists()
    entry = AuditEntry.objects.get(action="evidence.deleted")
    assert entry.actor == superuser.user and entry.merchant == desk.merchant
    assert entry.detail["model"] == opts.label and entry.detail["id"] == str(row.pk)


def test_it_audits_each_row_a_superuser_deletes_in_bulk(desk: Desk) -> None:
    superuser = login(factories.UserFactory(is_staff=True, is_superuser=True))
    second = factories.InboundEventFactory(provider="incode", merchant=desk.merchant, kind="x")
    pks = [desk.delivery.pk, second.pk]
    changelist = "admin:kyc_inboundevent_changelist"
    page = _action(superuser, changelist, "delete_selected", pks)
    assert page.status_code == 200 and "Are you sure" in page.content.decode()
    assert InboundEvent.objects.filter(pk__in=pks).count() == 2
    _action(superuser, changelist, "delete_selected", pks, post="yes")
    assert not InboundEvent.objects.filter(pk__in=pks).exists()
    assert AuditEntry.objects.filter(action="evidence.deleted").count() == 2


def test_it_never_lets_staff_delete_records_or_requests_or_add_merchants(desk: Desk) -> None:
    owner = member(desk.merchant, Membership.Role.OWNER)
    for model, pk in ((KYCRecord, desk.old.pk), (TransferRequest, desk.transfer.pk)):
        opts = model._meta
        url = reverse(f"admin:{opts.app_label}_{opts.model_name}_delete", args=[pk])
        assert owner.post(url, {"post": "yes"}).status_code == 403
        assert model._default_manager.filter(pk=pk).exists()
    assert owner.get(reverse("admin:kyc_merchant_add")).status_code == 403
    assert IdentityField.objects.filter(record=desk.old).count() == 2
