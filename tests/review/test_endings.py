"""The record's review status after every provider's endings, computed by one rule
(kyc.review) and stored on the spot: no stale "In review"."""

from __future__ import annotations

import json
import secrets
import time
from types import SimpleNamespace
from typing import Any

import pytest
from django.utils import timezone

from kyc import registry, review, services
from kyc.contract import FieldValue
from kyc.models import (
    AuditEntry,
    Certificate,
    IdentityField,
    KYCRecord,
    TransferRequest,
)
from kyc.status import Status
from providers.blockpass import services as blockpass
from providers.blockpass.schemas import PulledCertificate
from providers.corepass import sandbox as cp_sandbox
from providers.portmone import services as portmone
from providers.sunbird import services as sunbird
from providers.sunbird.schemas import CertRecord
from tests import factories
from tests.blockpass.conftest import upload
from tests.corepass.conftest import (
    deliver,
    make_account,
    make_transfer,
    mark_delivered,
    sandbox_req,
    status_callback,
    stored,
)
from tests.incode.conftest import account_for
from tests.review.conftest import decided_messages, incode_request, status_changes, status_of

Review = KYCRecord.Review


# --- Incode -------------------------------------------------------------------------


def test_it_approves_the_record_when_incode_auto_approves(
    api: Any, incode_account: Any, eager: None
) -> None:
    t = incode_request(api, "auto-ok", "pass")
    assert t.status == Status.COMPLETED
    record = t.record
    assert status_of(record) == Review.APPROVED and record.review_since is None
    assert status_changes(record)[-1] == (Review.WAITING, Review.APPROVED)
    assert decided_messages(record)[-1]["decided_by"] == "provider"
    assert record not in review.review_queue()


def test_it_puts_a_failed_incode_check_in_review_with_its_start_time(
    api: Any, incode_account: Any, eager: None
) -> None:
    before = timezone.now()
    t = incode_request(api, "auto-fail", "fail")
    assert t.status == Status.REVIEW
    record = t.record
    assert status_of(record) == Review.IN_REVIEW
    assert record.review_since is not None and record.review_since >= before
    assert list(review.review_queue()) == [record]
    assert decided_messages(record) == []  # not decided yet


def test_it_puts_every_incode_result_in_review_when_auto_approve_is_off(
    api: Any, merchant: Any, incode_account: Any, sandbox: str, eager: None
) -> None:
    account_for(merchant, sandbox, auto_approve=False)  # the webhook stays as it was
    t = incode_request(api, "manual", "pass")
    assert t.status == Status.REVIEW and status_of(t.record) == Review.IN_REVIEW


# --- CorePass -----------------------------------------------------------------------

DATA_ITEMS = ["SH_DriverLicense_DOB", "SH_DriverLicense_IssueDate"]


@pytest.mark.django_db
def test_it_approves_a_corepass_record_when_the_data_completes_the_request(
    client: Any, merchant: Any
) -> None:
    s = stored("data")
    data = s["payload"]
    account = make_account(merchant, key_hex=s["signer_public_key_hex"])
    transfer = make_transfer(account, subject=data["user"], items=DATA_ITEMS)
    record = transfer.record
    mark_delivered(transfer)
    assert deliver(client, transfer, "data", data, now=data["deadline"] - 1).status_code == 200
    transfer.refresh_from_db()
    assert transfer.status == Status.COMPLETED
    assert status_of(record) == Review.APPROVED
    assert status_changes(record) == [(Review.NOT_FOUND, Review.APPROVED)]


@pytest.mark.django_db
def test_it_waits_while_a_corepass_request_is_open_and_has_no_data_after_a_failure(
    client: Any, merchant: Any
) -> None:
    account = make_account(merchant)
    transfer = make_transfer(account)  # made as kyc.services.transfer_create would...
    review.record_review_refresh(record=transfer.record)  # ... which stores the status
    assert status_of(transfer.record) == Review.WAITING
    status_callback(client, transfer, "ACCEPTED", now=int(time.time()))
    assert status_of(transfer.record) == Review.WAITING
    body = {"status": "INITIATED_FAILED"}
    services.transfer_fail(
        transfer_id=transfer.pk, code="initiated_failed", detail=str(body), source="callback"
    )
    assert status_of(transfer.record) == Review.NOT_FOUND


@pytest.mark.django_db
def test_it_puts_a_corepass_data_conflict_in_review_and_approves_once_settled(
    client: Any, merchant: Any
) -> None:
    account = make_account(merchant)
    transfer = make_transfer(account)
    record = transfer.record
    now = int(time.time())
    genuine = cp_sandbox.data_form(sandbox_req(transfer), now=now)
    pepper = secrets.token_urlsafe(48)[:49].encode().hex() + transfer.subject
    other = [
        {"fieldID": "SH_EMAIL", "fieldValue": "x@x.test", "pepper": pepper + b"SH_EMAIL".hex()}
    ]
    different = {**genuine, "infos": json.dumps(other)}
    for form in (different, genuine):
        assert deliver(client, transfer, "data", form, now=now, multipart=True).status_code == 200
    status_callback(client, transfer, "CONFIRMED", now=now)
    status_callback(client, transfer, "CALLBACK_SUCCEED", now=now)
    transfer.refresh_from_db()
    assert transfer.status == Status.REVIEW  # two different deliveries: staff choose
    assert status_of(record) == Review.IN_REVIEW
    chosen = transfer.inbound_events.filter(path__endswith="/data").order_by("pk").last()
    reviewer = factories.staff_user(merchant)
    assert registry.get("corepass").delivery_choose(event_id=chosen.pk, actor=reviewer)
    assert status_of(record) == Review.APPROVED
    change = AuditEntry.objects.filter(
        action="record.review_status_changed", object_id=str(record.pk)
    ).order_by("id")
    assert change.last() is not None and change.last().actor == reviewer
    assert decided_messages(record)[-1]["decided_by"] == "staff"


# --- Portmone -----------------------------------------------------------------------


def _portmone(api: Any, client: Any, reference: str, action: str, capture: Any) -> TransferRequest:
    r = api.post(
        "/api/v1/transfers/",
        {"provider": "portmone", "reference": reference, "items": ["age_over_18"]},
        format="json",
    )
    assert r.status_code == 201, r.content
    t = TransferRequest.objects.get(pk=r.json()["id"])
    assert status_of(t.record) == Review.WAITING
    resp = client.post(f"/sandbox/portmone/phone/{t.provider_ref}/", {"action": action})
    assert resp.status_code == 302
    with capture(execute=True):
        portmone.transfer_check(transfer_id=t.pk)
    t.refresh_from_db()
    return t


@pytest.mark.django_db
def test_it_approves_a_portmone_record_with_the_facts_pulled(
    api: Any, client: Any, portmone_account: Any, django_capture_on_commit_callbacks: Any
) -> None:
    t = _portmone(api, client, "pm-ok", "approve", django_capture_on_commit_callbacks)
    assert t.status == Status.COMPLETED and IdentityField.objects.filter(transfer=t).exists()
    assert status_of(t.record) == Review.APPROVED


@pytest.mark.django_db
def test_it_leaves_a_declined_portmone_record_without_data(
    api: Any, client: Any, portmone_account: Any, django_capture_on_commit_callbacks: Any
) -> None:
    t = _portmone(api, client, "pm-no", "decline", django_capture_on_commit_callbacks)
    assert t.status == Status.DECLINED
    assert status_of(t.record) == Review.NOT_FOUND


# --- Blockpass ----------------------------------------------------------------------


@pytest.mark.django_db
def test_it_waits_for_a_registered_blockpass_customer_then_reviews_the_upload(
    bp_record: KYCRecord, django_capture_on_commit_callbacks: Any
) -> None:
    assert blockpass.record_review_recompute(record=bp_record) == Review.WAITING
    upload(bp_record, django_capture_on_commit_callbacks)
    assert status_of(bp_record) == Review.IN_REVIEW and bp_record.review_since is not None
    assert status_changes(bp_record)[-1] == (Review.WAITING, Review.IN_REVIEW)


@pytest.mark.django_db
def test_it_keeps_a_blockpass_rejection_when_a_certificate_arrives_later(
    bp_record: KYCRecord, staff_client: Any, django_capture_on_commit_callbacks: Any
) -> None:
    """The issue's stale status: a rejected Blockpass record must not become "Waiting
    for data" when anything recomputes it later (a pulled certificate, an item saved)."""
    upload(bp_record, django_capture_on_commit_callbacks)
    review.record_review_decide(
        record=bp_record,
        actor=staff_client.user,
        decision="reject",
        reason_code="data_mismatch",
    )
    assert status_of(bp_record) == Review.REJECTED
    promise = factories.CertPromiseFactory(record=bp_record, promise_id="p-late")
    with django_capture_on_commit_callbacks(execute=True):
        blockpass.cert_promise_store(
            promise=promise, pulled=PulledCertificate(slug="late-cert", raw=b"{}")
        )
        blockpass.record_review_recompute(record=bp_record)
        field = IdentityField.objects.get(record=bp_record, key="email")
        field.save()  # the item signal recomputes after commit
    assert status_of(bp_record) == Review.REJECTED
    assert (
        blockpass.status_payload(
            account=bp_record.merchant.provider_accounts.get(provider="blockpass"), record=bp_record
        )["status"]
        == "inreview"
    )  # the app's word for it


# --- erasure ------------------------------------------------------------------------


@pytest.mark.django_db
def test_it_takes_an_erased_record_out_of_review(
    bp_record: KYCRecord, django_capture_on_commit_callbacks: Any
) -> None:
    upload(bp_record, django_capture_on_commit_callbacks)
    assert status_of(bp_record) == Review.IN_REVIEW
    services.record_erase(record=bp_record, reason="customer asked")
    assert status_of(bp_record) == Review.NOT_FOUND and bp_record.review_since is None
    assert bp_record not in review.review_queue()
    assert status_changes(bp_record)[-1] == (Review.IN_REVIEW, Review.NOT_FOUND)


@pytest.mark.django_db
def test_it_keeps_the_decision_of_an_erased_record(
    bp_record: KYCRecord, staff_client: Any, django_capture_on_commit_callbacks: Any
) -> None:
    upload(bp_record, django_capture_on_commit_callbacks)
    review.record_review_decide(
        record=bp_record, actor=staff_client.user, decision="approve", reason_code=""
    )
    services.record_erase(record=bp_record, reason="retention")
    assert status_of(bp_record) == Review.APPROVED
    with pytest.raises(review.ReviewRefused, match="erased"):
        review.record_review_decide(
            record=bp_record, actor=staff_client.user, decision="reject", reason_code="other"
        )


# --- Sunbird ------------------------------------------------------------------------


@pytest.mark.django_db
def test_it_puts_nothing_in_review_when_sunbird_issues_certificates(merchant: Any) -> None:
    run = SimpleNamespace(
        merchant_id=merchant.pk,
        certificate_name="Course completion",
        course_id="course-1",
        batch_id="batch-1",
    )
    sunbird.certificates_store(
        run=run,  # type: ignore[arg-type]
        records=[
            CertRecord(
                id=f"cert-{i}",
                recipient_id=f"learner-{i}",
                recipient_name="Learner",
                course_id="course-1",
                batch_id="batch-1",
                download_url="",
            )
            for i in range(3)
        ],
    )
    assert Certificate.objects.filter(provider="sunbird").count() == 3
    # Issued certificates belong to no customer record: nothing waits for a reviewer.
    assert not KYCRecord.objects.exists() and not review.review_queue().exists()


@pytest.mark.django_db
def test_it_recomputes_stale_statuses_stored_by_older_code(
    bp_record: KYCRecord, django_capture_on_commit_callbacks: Any
) -> None:
    from io import StringIO

    from django.core.management import call_command

    upload(bp_record, django_capture_on_commit_callbacks)
    KYCRecord.objects.filter(pk=bp_record.pk).update(review_status=Review.WAITING)  # stale
    out = StringIO()
    call_command("review_refresh", stdout=out)
    assert f"record #{bp_record.pk}: waiting -> inreview" in out.getvalue()
    assert status_of(bp_record) == Review.IN_REVIEW
    assert status_changes(bp_record)[-1] == (Review.WAITING, Review.IN_REVIEW)
    out = StringIO()
    call_command("review_refresh", "--merchant", bp_record.merchant.slug, stdout=out)
    assert "0 record(s) changed." in out.getvalue()


@pytest.mark.django_db
def test_it_does_not_count_data_of_a_request_that_failed(merchant: Any) -> None:
    from kyc.contract import StatusUpdate

    transfer = make_transfer(make_account(merchant))
    services.transfer_apply(  # data arrives while the provider is still working
        transfer_id=transfer.pk,
        update=StatusUpdate(status=Status.PROCESSING, fields=[FieldValue("SH_EMAIL", "a@b.c")]),
        source="callback",
    )
    assert status_of(transfer.record) == Review.WAITING
    services.transfer_fail(transfer_id=transfer.pk, code="x", detail="failed", source="poll")
    assert status_of(transfer.record) == Review.NOT_FOUND  # nothing verified, nothing to review
    # A new request that completes makes its own data the evidence.
    newer = make_transfer(transfer.account)
    TransferRequest.objects.filter(pk=newer.pk).update(record=transfer.record)
    services.transfer_apply(
        transfer_id=newer.pk,
        update=StatusUpdate(status=Status.COMPLETED, fields=[FieldValue("SH_EMAIL", "a@b.c")]),
        source="callback",
    )
    assert status_of(transfer.record) == Review.APPROVED
