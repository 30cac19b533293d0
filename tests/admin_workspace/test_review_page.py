"""The review page: the record with all its evidence on one page, and the decision
(approve / reject with a customer-visible reason and an internal note / resubmit where the
provider supports it) through kyc.review, audited."""

from __future__ import annotations

import re

import pytest
from django.urls import reverse

from kyc.models import AuditEntry, KYCRecord, Membership
from kyc.status import Status
from tests import factories
from tests.admin_workspace.conftest import EMAIL, Desk, member

pytestmark = pytest.mark.django_db


def _page(desk: Desk) -> str:
    return reverse("admin:kyc_kycrecord_review", args=[desk.old.pk])


def test_it_shows_the_record_and_all_its_evidence_on_one_page(desk: Desk) -> None:
    client = member(desk.merchant, Membership.Role.COMPLIANCE)
    html = client.get(_page(desk)).content.decode()
    # fields, masked
    assert "email" in html and "fullName" in html and EMAIL not in html
    assert html.count("•••• hidden") == 2
    # the provider's checks as a key/value table, not raw JSON
    assert re.search(r"<th scope=\"row\">overall_status</th><td>FAIL</td>", html)
    assert '{"overall_status"' not in html
    # the timeline with seconds and the UTC offset, linked to its delivery
    assert re.search(r"\d{4}-\d\d-\d\d \d\d:\d\d:\d\d UTC\+00:00", html)
    delivery = reverse("admin:kyc_inboundevent_change", args=[desk.delivery.pk])
    assert delivery in html and "ONBOARDING_FINISHED" in html
    # links record -> request -> deliveries, status badges with words
    assert reverse("admin:kyc_transferrequest_change", args=[desk.transfer.pk]) in html
    assert "Waiting for compliance review</span>" in html and "In review</span>" in html
    assert "Overdue by" in html
    # the breadcrumbs lead back to the queue
    assert reverse("admin:kyc_kycrecord_queue") in html


def test_it_refuses_a_rejection_without_a_reason(desk: Desk) -> None:
    client = member(desk.merchant, Membership.Role.COMPLIANCE)
    response = client.post(_page(desk), {"decision": "reject", "reason_code": "", "note": "x"})
    assert response.status_code == 400 and 'id="decision-error"' in response.content.decode()
    desk.old.refresh_from_db()
    desk.transfer.refresh_from_db()
    assert desk.old.review_status == KYCRecord.Review.IN_REVIEW
    assert desk.transfer.status == Status.REVIEW
    assert not AuditEntry.objects.filter(action="record.review_decided").exists()


def test_it_rejects_with_the_customer_reason_and_audits_the_note(desk: Desk) -> None:
    client = member(desk.merchant, Membership.Role.COMPLIANCE)
    response = client.post(
        _page(desk),
        {"decision": "reject", "reason_code": "document_unreadable", "note": "blurry MRZ"},
    )
    assert response.status_code == 302
    desk.old.refresh_from_db()
    desk.transfer.refresh_from_db()
    assert desk.old.review_status == KYCRecord.Review.REJECTED
    assert desk.transfer.status == Status.REJECTED
    assert desk.transfer.status_detail == "The document photo could not be read."
    entry = AuditEntry.objects.get(action="record.review_decided", object_id=str(desk.old.pk))
    assert entry.actor == client.user
    assert entry.detail["decision"] == "reject"
    assert entry.detail["reason_code"] == "document_unreadable"
    assert entry.detail["note"] == "blurry MRZ"
    html = client.get(_page(desk)).content.decode()
    assert "Rejected</span>" in html and "Change the decision" in html
    # it left the queue
    queue = client.get(reverse("admin:kyc_kycrecord_queue")).content.decode()
    assert "cust-old" not in queue and "cust-new" in queue


def test_it_approves(desk: Desk) -> None:
    client = member(desk.merchant, Membership.Role.OWNER)
    assert client.post(_page(desk), {"decision": "approve", "reason_code": ""}).status_code == 302
    desk.old.refresh_from_db()
    assert desk.old.review_status == KYCRecord.Review.APPROVED
    assert AuditEntry.objects.filter(action="record.review_decided", actor=client.user).exists()


def test_it_offers_resubmit_only_where_the_provider_supports_it(desk: Desk) -> None:
    client = member(desk.merchant, Membership.Role.COMPLIANCE)
    html = client.get(_page(desk)).content.decode()
    assert 'value="resubmit"' not in html  # Incode cannot ask again
    refused = client.post(_page(desk), {"decision": "resubmit", "reason_code": "other"})
    assert refused.status_code == 400
    desk.old.refresh_from_db()
    assert desk.old.review_status == KYCRecord.Review.IN_REVIEW
    # Blockpass can: the option is there
    bp = factories.KYCRecordFactory(merchant=desk.merchant, reference="bp-1", provider="blockpass")
    factories.IdentityFieldFactory(record=bp, key="email", value="b@c.d")
    page = reverse("admin:kyc_kycrecord_review", args=[bp.pk])
    assert 'value="resubmit"' in client.get(page).content.decode()


@pytest.mark.parametrize("role", [Membership.Role.ADMIN, Membership.Role.VIEWER])
def test_it_shows_the_evidence_but_no_decision_to_other_roles(desk: Desk, role: str) -> None:
    client = member(desk.merchant, role)
    response = client.get(_page(desk))
    assert response.status_code == 200 and 'id="decision"' not in response.content.decode()
    refused = client.post(_page(desk), {"decision": "approve"})
    assert refused.status_code == 403
    desk.old.refresh_from_db()
    assert desk.old.review_status == KYCRecord.Review.IN_REVIEW


def test_it_hides_another_merchants_record(desk: Desk) -> None:
    outsider = member(factories.MerchantFactory(), Membership.Role.OWNER)
    assert outsider.get(_page(desk)).status_code == 404
    assert outsider.post(_page(desk), {"decision": "approve"}).status_code == 404


def test_it_keeps_the_incode_form_in_the_admin_look_with_a_link_to_the_record(
    desk: Desk,
) -> None:
    client = member(desk.merchant, Membership.Role.COMPLIANCE)
    html = client.get(f"/incode/review/{desk.transfer.pk}/").content.decode()
    assert 'id="site-name"' in html and 'class="breadcrumbs"' in html
    assert _page(desk) in html
    assert "admin_workspace.css" in html


def test_it_audits_a_verdict_on_one_field_in_the_record_form(desk: Desk) -> None:
    """Blockpass reviews item by item in the record's admin form: each verdict is audited
    (the item's key, never its value) and the record's status follows it."""
    record = factories.KYCRecordFactory(
        merchant=desk.merchant, reference="bp-2", provider="blockpass"
    )
    field = factories.IdentityFieldFactory(record=record, key="email", value="b2@example.com")
    client = member(desk.merchant, Membership.Role.COMPLIANCE)
    url = reverse("admin:kyc_kycrecord_change", args=[record.pk])
    data = {
        "fields-TOTAL_FORMS": 1,
        "fields-INITIAL_FORMS": 1,
        "fields-MIN_NUM_FORMS": 0,
        "fields-MAX_NUM_FORMS": 1000,
        "fields-0-id": field.pk,
        "fields-0-record": record.pk,
        "fields-0-status": "rejected",
        "fields-0-comment": "Blurred",
        "certificates-TOTAL_FORMS": 0,
        "certificates-INITIAL_FORMS": 0,
        "certificates-MIN_NUM_FORMS": 0,
        "certificates-MAX_NUM_FORMS": 1000,
    }
    response = client.post(url, data)
    assert response.status_code == 302, response.content.decode()[:2000]
    entry = AuditEntry.objects.get(action="record.review_item_decided", object_id=str(field.pk))
    assert entry.actor == client.user and entry.detail["to"] == "rejected"
    assert entry.detail["item"] == "email" and "b2@" not in str(entry.detail)
    record.refresh_from_db()
    assert record.review_status == KYCRecord.Review.REJECTED
    # positive control: saving the form unchanged writes nothing more
    client.post(url, {**data, "fields-0-status": "rejected"})
    assert AuditEntry.objects.filter(action="record.review_item_decided").count() == 1
