"""Staff decisions, from any provider's screen, through kyc.review: each one sticks (the
status computed afterwards is the decision), is audited (who, what, the reason code;
never a value), and tells the merchant's backend (record.review_decided)."""

from __future__ import annotations

import datetime as dt
import json
from typing import Any

import pytest
from django.utils import timezone

from kyc import review, services
from kyc.contract import FieldValue
from kyc.models import AuditEntry, Certificate, IdentityField, KYCRecord, TransferRequest
from kyc.status import Status
from providers.blockpass import services as blockpass
from tests import factories
from tests.corepass.conftest import deliver, make_account, make_transfer, mark_delivered, stored
from tests.review.conftest import decided_messages, incode_request, status_changes, status_of

Review = KYCRecord.Review
VALUES = ("ada@example.test", "Ada Lovelace")


def decisions(record: KYCRecord) -> list[AuditEntry]:
    return list(
        AuditEntry.objects.filter(action="record.review_decided", object_id=str(record.pk))
        .select_related("actor")
        .order_by("id")
    )


def assert_no_values_in_the_audit_trail() -> None:
    text = json.dumps(list(AuditEntry.objects.values_list("detail", flat=True)))
    assert not any(v in text for v in VALUES)


def _upload(record: KYCRecord, capture: Any) -> None:
    with capture(execute=True):
        services.identity_fields_store(
            record=record,
            provider="blockpass",
            fields=[FieldValue("email", VALUES[0]), FieldValue("given_name", VALUES[1])],
        )
        Certificate.objects.update_or_create(  # as the app's upload does
            merchant=record.merchant,
            provider="blockpass",
            external_id=f"upload:{record.pk}:onfido-service-cert",
            defaults={
                "record": record,
                "slug": "onfido-service-cert",
                "raw": b"x",
                "status": "received",
                "comment": "",
                "allow_resubmit": False,
            },
        )


@pytest.fixture
def reviewer(merchant: Any) -> Any:
    return factories.staff_user(merchant, username="rita")


@pytest.fixture
def uploaded(bp_record: KYCRecord, django_capture_on_commit_callbacks: Any) -> KYCRecord:
    _upload(bp_record, django_capture_on_commit_callbacks)
    assert status_of(bp_record) == Review.IN_REVIEW
    return bp_record


# --- Incode: decided at the provider too ----------------------------------------------


def test_it_approves_an_incode_record_in_review_and_tells_incode(
    api: Any, incode_account: Any, eager: None, reviewer: Any
) -> None:
    t = incode_request(api, "inc-approve", "fail")
    record = t.record
    assert review.record_review_decisions(record) == ["approve", "reject"]  # no resubmit
    new = review.record_review_decide(
        record=record, actor=reviewer, decision="approve", reason_code="", note="score borderline"
    )
    assert new == Review.APPROVED == status_of(record)
    t.refresh_from_db()
    assert t.status == Status.COMPLETED
    assert "incode_approved" in t.provider_data  # Incode was asked to approve too
    [entry] = decisions(record)
    assert entry.actor == reviewer and entry.detail["decision"] == "approve"
    assert entry.detail["reason_code"] == "approved" and entry.detail["note"] == "score borderline"
    assert entry.detail["requests"] == [str(t.pk)]
    assert status_changes(record)[-1] == (Review.IN_REVIEW, Review.APPROVED)
    changed = AuditEntry.objects.filter(action="record.review_status_changed").order_by("id").last()
    assert changed is not None and changed.actor == reviewer
    [message] = decided_messages(record)
    assert message["review_status"] == "approved" and message["decided_by"] == "staff"
    assert record.review_since is None and record not in review.review_queue()


def test_it_rejects_an_incode_record_with_the_reason_the_customer_sees(
    api: Any, incode_account: Any, eager: None, reviewer: Any
) -> None:
    t = incode_request(api, "inc-reject", "fail")
    record = t.record
    review.record_review_decide(
        record=record, actor=reviewer, decision="reject", reason_code="selfie_mismatch"
    )
    assert status_of(record) == Review.REJECTED and record.review_reason == "selfie_mismatch"
    t.refresh_from_db()
    assert t.status == Status.REJECTED
    assert t.status_detail == review.REVIEW_REASONS["selfie_mismatch"]  # shown on the page
    assert AuditEntry.objects.filter(action="transfer.rejected", actor=reviewer).exists()
    assert decisions(record)[0].detail["reason_code"] == "selfie_mismatch"
    assert decided_messages(record)[-1]["review_reason"] == "selfie_mismatch"
    # It sticks: recomputing gives the same answer.
    assert review.record_review_refresh(record=record) == Review.REJECTED


def test_it_refuses_to_ask_an_incode_customer_to_resubmit(
    api: Any, incode_account: Any, eager: None, reviewer: Any
) -> None:
    t = incode_request(api, "inc-resubmit", "fail")
    with pytest.raises(review.ReviewRefused, match="cannot ask the customer"):
        review.record_review_decide(
            record=t.record, actor=reviewer, decision="resubmit", reason_code="document_expired"
        )
    t.refresh_from_db()
    assert t.status == Status.REVIEW and status_of(t.record) == Review.IN_REVIEW
    assert decisions(t.record) == []


# --- Blockpass: verdicts on every item --------------------------------------------------


@pytest.mark.django_db
def test_it_asks_a_blockpass_customer_to_resubmit_and_reviews_the_new_upload(
    uploaded: KYCRecord,
    reviewer: Any,
    account: Any,
    django_capture_on_commit_callbacks: Any,
) -> None:
    assert review.record_review_decisions(uploaded) == ["approve", "reject", "resubmit"]
    review.record_review_decide(
        record=uploaded, actor=reviewer, decision="resubmit", reason_code="document_unreadable"
    )
    assert status_of(uploaded) == Review.RESUBMIT
    label = review.REVIEW_REASONS["document_unreadable"]
    app = blockpass.status_payload(account=account, record=uploaded)
    assert app["status"] == "waiting" and app["allowResubmit"] is True
    assert app["message"] == label
    assert {i["status"] for i in app["identities"]} == {"rejected"}
    assert {i["comment"] for i in app["identities"]} == {label}
    assert decided_messages(uploaded)[-1]["review_status"] == "resubmit"
    # The customer sends the data again: back in review, the old reason gone.
    _upload(uploaded, django_capture_on_commit_callbacks)
    assert status_of(uploaded) == Review.IN_REVIEW
    assert (uploaded.review_reason, uploaded.review_comment) == ("", "")
    assert status_changes(uploaded)[-1] == (Review.RESUBMIT, Review.IN_REVIEW)
    assert_no_values_in_the_audit_trail()


@pytest.mark.django_db
def test_it_approves_a_blockpass_record_for_the_app(
    uploaded: KYCRecord, reviewer: Any, account: Any
) -> None:
    review.record_review_decide(record=uploaded, actor=reviewer, decision="approve", reason_code="")
    assert status_of(uploaded) == Review.APPROVED
    app = blockpass.status_payload(account=account, record=uploaded)
    assert app["status"] == "approved"
    assert {i["status"] for i in [*app["identities"], *app["certificates"]]} == {"approved"}
    assert decisions(uploaded)[0].detail == {
        "decision": "approve",
        "reason_code": "approved",
        "provider": "blockpass",
        "requests": [],
        "fields": 2,
        "certificates": 1,
    }
    assert_no_values_in_the_audit_trail()


@pytest.mark.django_db
def test_it_audits_a_verdict_on_one_blockpass_item(uploaded: KYCRecord, reviewer: Any) -> None:
    email = IdentityField.objects.get(record=uploaded, key="email")
    new = review.review_item_decide(
        item=email, actor=reviewer, status="rejected", comment="Typo", allow_resubmit=True
    )
    assert new == Review.RESUBMIT == status_of(uploaded)
    entry = AuditEntry.objects.get(action="record.review_item_decided")
    assert entry.actor == reviewer and entry.object_id == str(email.pk)
    assert entry.detail == {
        "record": uploaded.pk,
        "item": "email",
        "from": "received",
        "to": "rejected",
        "allow_resubmit": True,
    }
    assert_no_values_in_the_audit_trail()


# --- any provider: decisions on what the provider already approved ---------------------


@pytest.mark.django_db
def test_it_rejects_a_record_the_provider_had_approved(
    client: Any, merchant: Any, reviewer: Any
) -> None:
    s = stored("data")
    data = s["payload"]
    account = make_account(merchant, key_hex=s["signer_public_key_hex"])
    transfer = make_transfer(
        account, subject=data["user"], items=["SH_DriverLicense_DOB", "SH_DriverLicense_IssueDate"]
    )
    mark_delivered(transfer)
    assert deliver(client, transfer, "data", data, now=data["deadline"] - 1).status_code == 200
    record = transfer.record
    assert status_of(record) == Review.APPROVED
    assert review.record_review_decisions(record) == ["approve", "reject"]
    review.record_review_decide(
        record=record, actor=reviewer, decision="reject", reason_code="not_eligible"
    )
    assert status_of(record) == Review.REJECTED
    transfer.refresh_from_db()
    assert transfer.status == Status.COMPLETED  # an ended request never moves again
    assert set(IdentityField.objects.filter(record=record).values_list("status", flat=True)) == {
        "rejected"
    }
    # Approving it again is a decision too: audited, and the backend hears of it.
    review.record_review_decide(record=record, actor=reviewer, decision="approve", reason_code="")
    review.record_review_decide(record=record, actor=reviewer, decision="approve", reason_code="")
    assert status_of(record) == Review.APPROVED
    assert [e.detail["decision"] for e in decisions(record)] == ["reject", "approve", "approve"]
    assert [m["review_status"] for m in decided_messages(record)][-3:] == [
        "rejected",
        "approved",
        "approved",
    ]


@pytest.mark.django_db
def test_it_follows_a_decision_made_on_the_request_alone(merchant: Any, reviewer: Any) -> None:
    """The admin's bulk "approve/reject selected requests" decides requests, not records:
    the record follows, and the change names the reviewer."""
    account = make_account(merchant)
    approve, reject = make_transfer(account), make_transfer(account)
    TransferRequest.objects.filter(pk__in=[approve.pk, reject.pk]).update(status=Status.REVIEW)
    for t in (approve, reject):
        review.record_review_refresh(record=t.record)
        assert status_of(t.record) == Review.IN_REVIEW
    services.transfer_review(transfer=approve, approve=True, reason="", actor=reviewer)
    services.transfer_review(transfer=reject, approve=False, reason="Expired ID", actor=reviewer)
    assert status_of(approve.record) == Review.APPROVED
    assert status_of(reject.record) == Review.REJECTED
    for t in (approve, reject):
        entry = (
            AuditEntry.objects.filter(
                action="record.review_status_changed", object_id=str(t.record_id)
            )
            .order_by("id")
            .last()
        )
        assert entry is not None and entry.actor == reviewer


# --- refusals -------------------------------------------------------------------------


@pytest.mark.django_db
@pytest.mark.parametrize(
    ("decision", "reason", "message"),
    [
        ("reject", "", "needs a reason"),
        ("resubmit", "made-up", "needs a reason"),
        ("approve", "made-up", "Unknown reason"),
        ("delete", "other", "Choose approve"),
    ],
)
def test_it_refuses_a_decision_without_a_listed_reason(
    uploaded: KYCRecord, reviewer: Any, decision: str, reason: str, message: str
) -> None:
    with pytest.raises(review.ReviewRefused, match=message):
        review.record_review_decide(
            record=uploaded, actor=reviewer, decision=decision, reason_code=reason
        )
    assert status_of(uploaded) == Review.IN_REVIEW and decisions(uploaded) == []


@pytest.mark.django_db
def test_it_refuses_to_decide_before_any_data_arrived(bp_record: KYCRecord, reviewer: Any) -> None:
    assert review.record_review_decisions(bp_record) == []
    with pytest.raises(review.ReviewRefused, match="Nothing to decide"):
        review.record_review_decide(
            record=bp_record, actor=reviewer, decision="reject", reason_code="other"
        )


# --- the queue: assignment and SLA ------------------------------------------------------


@pytest.mark.django_db
def test_it_audits_taking_and_handing_over_a_review(uploaded: KYCRecord, reviewer: Any) -> None:
    colleague = factories.staff_user(uploaded.merchant)
    review.record_review_assign(record=uploaded, actor=reviewer, assignee=reviewer)
    review.record_review_assign(record=uploaded, actor=reviewer, assignee=reviewer)  # no change
    review.record_review_assign(record=uploaded, actor=reviewer, assignee=colleague)
    review.record_review_assign(record=uploaded, actor=colleague, assignee=None)
    uploaded.refresh_from_db()
    assert uploaded.review_assignee is None
    entries = AuditEntry.objects.filter(action="record.review_assigned").order_by("id")
    assert [(e.actor, e.detail["from"], e.detail["to"]) for e in entries] == [
        (reviewer, None, reviewer.pk),
        (reviewer, reviewer.pk, colleague.pk),
        (colleague, colleague.pk, None),
    ]


@pytest.mark.django_db
def test_it_lists_the_oldest_review_first_and_knows_when_it_is_late(
    uploaded: KYCRecord, merchant: Any, django_capture_on_commit_callbacks: Any
) -> None:
    newer = services.record_get_or_create(
        merchant=merchant, reference="cust-2", provider="blockpass"
    )
    _upload(newer, django_capture_on_commit_callbacks)
    assert list(review.review_queue()) == [uploaded, newer]
    merchant.review_sla_hours = 2
    merchant.save()
    uploaded.refresh_from_db()
    since = uploaded.review_since
    assert review.review_due_at(uploaded) == since + dt.timedelta(hours=2)
    assert not review.review_overdue(uploaded, now=since + dt.timedelta(hours=1))
    assert review.review_overdue(uploaded, now=since + dt.timedelta(hours=3))
    assert review.review_due_at(KYCRecord(review_status=Review.APPROVED)) is None
    assert timezone.now() >= since
