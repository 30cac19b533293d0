"""Erasing a record's PII also asks Incode to delete the interview."""

from __future__ import annotations

from typing import Any

from kyc import services
from kyc.models import TransferRequest
from providers.incode import services as incode_services
from tests.incode.conftest import sandbox_interview


def _start(api: Any, reference: str) -> TransferRequest:
    r = api.post(
        "/api/v1/transfers/", {"provider": "incode", "reference": reference}, format="json"
    )
    return TransferRequest.objects.get(pk=r.json()["id"])


def test_it_deletes_the_interview_at_incode_when_the_record_is_erased(
    api: Any, account: Any, sandbox: str, eager: None
) -> None:
    t = _start(api, "erase-me")
    keep = _start(api, "keep-me")
    services.record_erase(record=t.record, reason="customer asked")
    assert sandbox_interview(sandbox, t.provider_ref)["deleted"] is True
    assert sandbox_interview(sandbox, keep.provider_ref)["deleted"] is False
    t.refresh_from_db()
    assert t.provider_data["incode_deleted_at"]
    assert t.events.filter(detail__startswith="Incode asked to delete").count() == 1
    # Idempotent: asking again changes nothing and calls nobody.
    assert incode_services.interview_delete(transfer_id=t.pk) is False
    assert incode_services.interviews_to_delete() == []


def test_it_retries_deletions_a_broker_outage_lost(
    api: Any, account: Any, sandbox: str, eager: None, monkeypatch: Any
) -> None:
    from providers.incode import tasks

    t = _start(api, "outage")
    monkeypatch.setattr(tasks.delete_interview, "delay", lambda *a, **k: None)  # lost
    services.record_erase(record=t.record)
    assert sandbox_interview(sandbox, t.provider_ref)["deleted"] is False
    assert incode_services.interviews_to_delete() == [t.pk]
    monkeypatch.undo()
    assert incode_services.reconcile() == 1  # beat's reconcile re-enqueues it
    assert sandbox_interview(sandbox, t.provider_ref)["deleted"] is True
    assert incode_services.reconcile() == 0


def test_it_stops_retrying_a_deletion_after_ten_failures(
    api: Any, account: Any, eager: None, monkeypatch: Any
) -> None:
    from providers.incode import tasks

    t = _start(api, "stuck")
    monkeypatch.setattr(tasks.delete_interview, "delay", lambda *a, **k: None)
    services.record_erase(record=t.record)
    TransferRequest.objects.filter(pk=t.pk).update(
        provider_data={**t.provider_data, "incode_delete_attempts": 9}
    )
    assert incode_services.interviews_to_delete() == [t.pk]
    TransferRequest.objects.filter(pk=t.pk).update(
        provider_data={**t.provider_data, "incode_delete_attempts": 10}
    )
    assert incode_services.interviews_to_delete() == []
