"""Compliance review of Incode requests: approve or reject with a reason."""

from __future__ import annotations

from typing import Any

from django.test import Client

from kyc.models import AuditEntry, TransferRequest
from kyc.status import Status
from tests import factories
from tests.conftest import wait_for
from tests.incode.conftest import finish_on_phone, sandbox_interview


def _in_review(api: Any) -> TransferRequest:
    r = api.post("/api/v1/transfers/", {"provider": "incode", "reference": "r1"}, format="json")
    t = TransferRequest.objects.get(pk=r.json()["id"])
    finish_on_phone(t.deep_link, "fail")

    def status() -> Any:
        t.refresh_from_db()
        return t.status == Status.REVIEW

    wait_for(status)
    return t


def test_it_rejects_with_a_reason_shown_to_the_customer(
    api: Any, account: Any, staff_client: Any, other_merchant: Any, eager: None
) -> None:
    t = _in_review(api)
    url = f"/incode/review/{t.pk}/"
    outsider = Client()
    outsider.force_login(factories.staff_user(other_merchant))
    assert outsider.get(url).status_code == 404  # another merchant's reviewer sees nothing
    assert "FAIL" in staff_client.get(url).content.decode()
    listing = staff_client.get("/admin/kyc_incode/incodereview/").content.decode()
    assert url in listing and "FAIL" in listing  # the admin lists it with a link here
    r = staff_client.post(url, {"decision": "reject", "reason": ""})
    assert r.status_code == 400  # a rejection needs a reason
    r = staff_client.post(url, {"decision": "reject", "reason": "Document photo unreadable"})
    assert r.status_code == 302
    t.refresh_from_db()
    assert t.status == Status.REJECTED and t.status_detail == "Document photo unreadable"
    assert AuditEntry.objects.filter(action="transfer.rejected", object_id=str(t.pk)).exists()


def test_it_approves_in_review_and_tells_incode(
    api: Any, account: Any, staff_client: Any, sandbox: str, eager: None
) -> None:
    t = _in_review(api)
    r = staff_client.post(f"/incode/review/{t.pk}/", {"decision": "approve", "reason": "ok"})
    assert r.status_code == 302
    t.refresh_from_db()
    assert t.status == Status.COMPLETED
    # The sandbox refuses to approve a failed session; the attempt is recorded either way.
    assert t.provider_data.get("incode_approved") is False
    assert sandbox_interview(sandbox, t.provider_ref)["approved"] is False
