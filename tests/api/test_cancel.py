"""POST /api/v1/transfers/{id}/cancel/: cancelled, audited, webhook sent, idempotent,
409 on a request that ended another way, the provider told where it can be."""

from __future__ import annotations

from typing import Any
from unittest import mock

import pytest

from kyc.models import AuditEntry, TransferRequest, WebhookMessage
from kyc.status import Status
from tests import factories
from tests.api.conftest import key_client, pending_transfer, start_body
from tests.incode.conftest import sandbox_interview


def _cancel(api: Any, transfer: Any) -> Any:
    return api.post(f"/api/v1/transfers/{transfer.pk}/cancel/")


@pytest.mark.django_db
def test_it_cancels_a_waiting_request_audits_it_and_sends_the_webhook(merchant: Any) -> None:
    api = key_client(merchant)
    transfer = pending_transfer(merchant)
    other = pending_transfer(merchant, reference="r-2")  # control: left alone

    r = _cancel(api, transfer)

    assert r.status_code == 200, r.json()
    body = r.json()
    assert body["id"] == str(transfer.pk) and body["status"] == "cancelled"
    assert body["completed_at"] and body["status_detail"] == "Cancelled by the merchant"
    assert body["events"][-1]["status"] == "cancelled"
    transfer.refresh_from_db()
    other.refresh_from_db()
    assert transfer.status == Status.CANCELLED and other.status == Status.PENDING
    audit = AuditEntry.objects.get(action="transfer.cancelled")
    assert audit.object_id == str(transfer.pk) and audit.detail["from_status"] == "pending"
    assert audit.detail["key"] and audit.actor is None  # the API key's prefix, no user
    sent = WebhookMessage.objects.filter(object_id=str(transfer.pk))
    assert set(sent.values_list("event_type", flat=True)) == {
        "verification.updated",
        "verification.canceled",
    }
    assert api.get(f"/api/v1/transfers/{transfer.pk}/").json()["status"] == "cancelled"
    assert transfer.events.order_by("-id")[0].source == "api"


@pytest.mark.django_db
def test_it_answers_a_second_cancel_with_the_same_body_and_does_nothing_twice(
    merchant: Any,
) -> None:
    api = key_client(merchant)
    transfer = pending_transfer(merchant)
    first = _cancel(api, transfer)
    second = _cancel(api, transfer)
    assert first.status_code == second.status_code == 200
    assert second.json() == first.json()
    assert AuditEntry.objects.filter(action="transfer.cancelled").count() == 1
    assert WebhookMessage.objects.filter(event_type="verification.canceled").count() == 1


@pytest.mark.django_db
@pytest.mark.parametrize(
    "ended", [Status.COMPLETED, Status.FAILED, Status.DECLINED, Status.EXPIRED, Status.REJECTED]
)
def test_it_refuses_to_cancel_a_request_that_ended_another_way(merchant: Any, ended: str) -> None:
    api = key_client(merchant)
    transfer = pending_transfer(merchant, status=ended)
    r = _cancel(api, transfer)
    assert r.status_code == 409
    assert r.json() == {
        "detail": f"This request is already {ended} and can no longer be cancelled.",
        "code": "conflict",
    }
    transfer.refresh_from_db()
    assert transfer.status == ended
    assert not AuditEntry.objects.filter(action="transfer.cancelled").exists()
    assert not WebhookMessage.objects.filter(event_type="verification.canceled").exists()


@pytest.mark.django_db
def test_it_cancels_a_request_in_review(merchant: Any) -> None:
    transfer = pending_transfer(merchant, status=Status.REVIEW)
    assert _cancel(key_client(merchant), transfer).json()["status"] == "cancelled"


@pytest.mark.django_db
def test_it_needs_the_write_scope_and_the_merchants_own_request(
    merchant: Any, other_merchant: Any
) -> None:
    transfer = pending_transfer(merchant)
    reader = _cancel(key_client(merchant, "read"), transfer)
    assert reader.status_code == 403 and reader.json()["code"] == "permission_denied"
    stranger = _cancel(key_client(other_merchant), transfer)
    assert stranger.status_code == 404 and stranger.json()["code"] == "not_found"
    transfer.refresh_from_db()
    assert transfer.status == Status.PENDING
    assert _cancel(key_client(merchant), transfer).status_code == 200  # control


def test_it_tells_incode_by_deleting_the_interview(
    api: Any, incode_account: Any, sandbox: str, eager: None
) -> None:
    started = api.post(
        "/api/v1/transfers/", {"provider": "incode", "reference": "c-1"}, format="json"
    )
    assert started.status_code == 201, started.json()
    kept = api.post("/api/v1/transfers/", {"provider": "incode", "reference": "c-2"}, format="json")
    t = TransferRequest.objects.get(pk=started.json()["id"])
    assert sandbox_interview(sandbox, t.provider_ref)["deleted"] is False

    r = api.post(f"/api/v1/transfers/{t.pk}/cancel/")

    assert r.status_code == 200 and r.json()["status"] == "cancelled"
    assert sandbox_interview(sandbox, t.provider_ref)["deleted"] is True
    other = TransferRequest.objects.get(pk=kept.json()["id"])
    assert sandbox_interview(sandbox, other.provider_ref)["deleted"] is False
    # a late "finished" from Incode cannot revive it
    t.refresh_from_db()
    assert t.status == Status.CANCELLED


@pytest.mark.django_db
def test_it_cancels_a_corepass_request_in_the_portal_only(merchant: Any, connector: Any) -> None:
    api = key_client(merchant)
    created = api.post("/api/v1/transfers/", start_body(), format="json")
    assert created.status_code == 201, created.json()
    calls = connector.qr_calls
    r = api.post(f"/api/v1/transfers/{created.json()['id']}/cancel/")
    assert r.status_code == 200 and r.json()["status"] == "cancelled"
    assert connector.qr_calls == calls  # CorePass has no cancel call: nothing sent


@pytest.mark.django_db
def test_it_answers_true_once_and_refreshes_the_callers_object(merchant: Any) -> None:
    from kyc import services

    transfer = pending_transfer(merchant)
    user = factories.staff_user(merchant)
    assert services.transfer_cancel(transfer=transfer, actor=user) is True
    assert transfer.status == Status.CANCELLED  # the object the caller holds, refreshed
    assert services.transfer_cancel(transfer=transfer, actor=user) is False
    assert AuditEntry.objects.get(action="transfer.cancelled").actor == user


@pytest.mark.django_db(transaction=True)
def test_it_keeps_the_cancel_when_the_provider_cannot_be_told(merchant: Any) -> None:
    from providers.corepass.provider import CorePassProvider

    transfer = pending_transfer(merchant)
    with mock.patch.object(
        CorePassProvider, "transfer_cancel", side_effect=ConnectionError("down"), autospec=True
    ) as told:
        r = _cancel(key_client(merchant), transfer)
    assert told.call_count == 1 and told.call_args.kwargs == {"transfer_id": str(transfer.pk)}
    assert r.status_code == 200 and r.json()["status"] == "cancelled"
    transfer.refresh_from_db()
    assert transfer.status == Status.CANCELLED
