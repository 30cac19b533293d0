"""Compliance review in the admin moves the record status, and /status reports it back."""

from __future__ import annotations

from typing import Any

import pytest

from kyc.models import Certificate, IdentityField, KYCRecord, ProviderAccount
from providers.blockpass import services
from providers.blockpass.forms import BlockpassSettingsForm
from tests.blockpass.conftest import upload

pytestmark = pytest.mark.django_db


@pytest.fixture
def reviewed(bp_record: KYCRecord, django_capture_on_commit_callbacks: Any) -> KYCRecord:
    upload(bp_record, django_capture_on_commit_callbacks)
    bp_record.refresh_from_db()
    assert bp_record.review_status == KYCRecord.Review.IN_REVIEW
    return bp_record


def _post_review(client: Any, record: KYCRecord, verdicts: dict[str, tuple[str, str, bool]]) -> Any:
    """Submit the record's admin change form with one verdict per field / certificate."""
    fields = list(IdentityField.objects.filter(record=record).order_by("pk"))
    certs = list(Certificate.objects.filter(record=record).order_by("pk"))
    data: dict[str, Any] = {
        "review_status": record.review_status,
        "review_comment": "",
        "fields-TOTAL_FORMS": len(fields),
        "fields-INITIAL_FORMS": len(fields),
        "fields-MIN_NUM_FORMS": 0,
        "fields-MAX_NUM_FORMS": 1000,
        "certificates-TOTAL_FORMS": len(certs),
        "certificates-INITIAL_FORMS": len(certs),
        "certificates-MIN_NUM_FORMS": 0,
        "certificates-MAX_NUM_FORMS": 1000,
    }
    for prefix, items, key in (("fields", fields, "key"), ("certificates", certs, "slug")):
        for i, item in enumerate(items):
            status, comment, resubmit = verdicts.get(getattr(item, key), (item.status, "", False))
            data.update(
                {
                    f"{prefix}-{i}-id": item.pk,
                    f"{prefix}-{i}-record": record.pk,
                    f"{prefix}-{i}-status": status,
                    f"{prefix}-{i}-comment": comment,
                }
            )
            if resubmit:
                data[f"{prefix}-{i}-allow_resubmit"] = "on"
    return client.post(f"/admin/kyc/kycrecord/{record.pk}/change/", data)


def _status(account: ProviderAccount, record: KYCRecord) -> dict[str, Any]:
    record.refresh_from_db()
    return services.status_payload(account=account, record=record)


def test_it_approves_a_record_when_staff_approve_everything(
    staff_client: Any,
    reviewed: KYCRecord,
    account: ProviderAccount,
    django_capture_on_commit_callbacks: Any,
) -> None:
    ok = ("approved", "", False)
    with django_capture_on_commit_callbacks(execute=True):
        resp = _post_review(
            staff_client,
            reviewed,
            {"email": ok, "given_name": ok, "onfido-service-cert": ok},
        )
    assert resp.status_code == 302, resp.content[:2000]
    body = _status(account, reviewed)
    assert body["status"] == "approved"
    assert {i["status"] for i in body["identities"]} == {"approved"}
    assert body["certificates"] == [{"slug": "onfido-service-cert", "status": "approved"}]


def test_it_asks_for_a_resubmission_with_the_reviewers_comment(
    staff_client: Any,
    reviewed: KYCRecord,
    account: ProviderAccount,
    django_capture_on_commit_callbacks: Any,
) -> None:
    with django_capture_on_commit_callbacks(execute=True):
        resp = _post_review(
            staff_client,
            reviewed,
            {
                "email": ("rejected", "Typo in the address", True),
                "given_name": ("approved", "", False),
            },
        )
    assert resp.status_code == 302
    body = _status(account, reviewed)
    assert reviewed.review_status == KYCRecord.Review.RESUBMIT and body["status"] == "waiting"
    assert {"slug": "email", "status": "rejected", "comment": "Typo in the address"} in body[
        "identities"
    ]
    assert body["allowResubmit"] is True


def test_a_final_rejection_rejects_the_record(
    reviewed: KYCRecord, django_capture_on_commit_callbacks: Any
) -> None:
    with django_capture_on_commit_callbacks(execute=True):
        field = IdentityField.objects.get(key="email")
        field.status, field.comment = "rejected", "Forged"
        field.save()
    reviewed.refresh_from_db()
    assert reviewed.review_status == KYCRecord.Review.REJECTED


def test_it_keeps_the_previous_webhook_secret_when_the_merchant_changes_it() -> None:
    stored = {
        "api_url": "https://kyc.blockpass.org",
        "client_id": "c",
        "client_secret": "cs",
        "webhook_secret": "old-secret",
    }
    form = BlockpassSettingsForm(
        {"api_url": "https://kyc.blockpass.org", "client_id": "c", "webhook_secret": "new-secret"},
        stored=stored,
    )
    assert form.is_valid(), form.errors
    merged = form.merged_settings()
    assert merged["webhook_secret"] == "new-secret" and merged["client_secret"] == "cs"
    assert merged["webhook_secret_previous"] == "old-secret"
    assert merged["webhook_secret_previous_until"]
    # Saving again without a new secret keeps everything as it is.
    again = BlockpassSettingsForm(
        {"api_url": "https://kyc.blockpass.org", "client_id": "c"}, stored=merged
    )
    assert again.is_valid() and again.merged_settings() == merged
