"""The onboarding-status webhook: stored first, a hint, verified against Incode's score."""

from __future__ import annotations

from typing import Any

import requests
from django.db import connection

from kyc.models import IdentityField, InboundEvent
from kyc.status import Status
from tests.conftest import wait_for
from tests.incode.conftest import (
    API_KEY,
    account_for,
    decided,
    finish_on_phone,
    payload,
    sandbox_interview,
    start_request,
)


def _post(public_url: str, account: Any, body: bytes) -> requests.Response:
    return requests.post(
        f"{public_url}/hooks/incode/{account.webhook_token}/",
        data=body,
        headers={"Content-Type": "application/json"},
        timeout=10,
    )


def test_it_completes_a_passing_onboarding_with_auto_approve_and_encrypts_ocr(
    api: Any, account: Any, sandbox: str, eager: None
) -> None:
    t = start_request(api)
    finish_on_phone(t.deep_link, "pass")  # the sandbox sends the webhook to the portal
    assert wait_for(lambda: decided(t)) == Status.COMPLETED
    assert t.provider_status == "ONBOARDING_FINISHED"
    assert t.provider_data["score"]["overall_status"] == "OK"
    values = dict(IdentityField.objects.filter(transfer=t).values_list("key", "value"))
    assert values["document_number"] == "SBXDOC4711"
    assert values["birth_date"] == "1990-01-01"
    with connection.cursor() as cur:
        cur.execute("SELECT value FROM kyc_identityfield WHERE transfer_id = %s", [t.pk])
        raw = " ".join(r[0] for r in cur.fetchall())
    assert "SBXDOC4711" not in raw and "JANE" not in raw and raw.startswith("fernet:")
    assert sandbox_interview(sandbox, t.provider_ref)["approved"] is True
    event = InboundEvent.objects.get(transfer=t)
    assert event.state == InboundEvent.State.PROCESSED and event.verified


def test_it_sends_a_failing_score_to_review(
    api: Any, account: Any, sandbox: str, eager: None
) -> None:
    t = start_request(api)
    finish_on_phone(t.deep_link, "fail")
    assert wait_for(lambda: decided(t)) == Status.REVIEW
    assert "FAIL" in t.status_detail
    assert sandbox_interview(sandbox, t.provider_ref)["approved"] is False
    assert IdentityField.objects.filter(transfer=t).exists()  # reviewers see the document data


def test_it_sends_a_passing_score_to_review_when_auto_approve_is_off(
    api: Any, merchant: Any, sandbox: str, public_url: str, eager: None
) -> None:
    account = account_for(merchant, sandbox, auto_approve=False)
    t = start_request(api)
    finish_on_phone(t.deep_link, "pass")  # no webhook configured for this key in this test
    r = _post(public_url, account, payload("onboarding_finished", interviewId=t.provider_ref))
    assert r.status_code == 200
    assert wait_for(lambda: decided(t)) == Status.REVIEW
    assert "Auto-approve is off" in t.status_detail


def test_it_keeps_a_webhook_for_an_unknown_interview_and_changes_nothing(
    api: Any, account: Any, public_url: str, eager: None
) -> None:
    t = start_request(api)
    before = (t.status, t.updated_at)
    r = _post(public_url, account, payload("onboarding_finished", interviewId="nope-123"))
    assert r.status_code == 200
    event = InboundEvent.objects.get(provider="incode", transfer__isnull=True)
    assert event.state == InboundEvent.State.IGNORED and b"nope-123" in bytes(event.body)
    t.refresh_from_db()
    assert (t.status, t.updated_at) == before


def test_it_does_not_trust_a_finished_webhook_incode_does_not_confirm(
    api: Any, account: Any, public_url: str, eager: None
) -> None:
    t = start_request(api)  # the customer never finished: a forged "finished" must change nothing
    r = _post(public_url, account, payload("onboarding_finished", interviewId=t.provider_ref))
    assert r.status_code == 200
    event = InboundEvent.objects.get(transfer=t)
    assert event.state == InboundEvent.State.IGNORED and "not confirmed" in event.error
    t.refresh_from_db()
    assert t.status == Status.PENDING and not IdentityField.objects.filter(transfer=t).exists()
    # Incode scores the unfinished interview FAIL, yet nothing was read from it: no review,
    # no score kept, and the provider status the customer sees did not move.
    assert "score" not in t.provider_data and t.provider_status != "ONBOARDING_FINISHED"
    assert not t.events.filter(status=Status.REVIEW).exists()
    # The forgery does not block the real webhook as a "duplicate".
    finish_on_phone(t.deep_link, "pass")
    assert wait_for(lambda: decided(t)) == Status.COMPLETED


def test_it_answers_duplicates_without_effect(
    api: Any, account: Any, public_url: str, sandbox: str, eager: None
) -> None:
    t = start_request(api)
    body = payload("onboarding_finished", interviewId=t.provider_ref)
    requests.post(f"{t.deep_link}", data={"outcome": "pass"}, timeout=5)
    _post(public_url, account, body)
    assert wait_for(lambda: decided(t)) == Status.COMPLETED
    events_before = t.events.count()
    r = _post(public_url, account, body)
    assert r.status_code == 200 and "duplicate" in r.json()["message"]
    assert t.events.count() == events_before
    states = sorted(InboundEvent.objects.filter(transfer=t).values_list("state", flat=True))
    assert InboundEvent.State.DUPLICATE in states


def test_it_refuses_bad_bodies_and_unknown_urls_but_keeps_them(
    account: Any, public_url: str
) -> None:
    r = _post(public_url, account, b"not json")
    assert r.status_code == 400
    r = _post(public_url, account, b'{"onboardingStatus": "ONBOARDING_FINISHED"}')
    assert r.status_code == 400 and "interviewId" in r.json()["message"]
    r = requests.post(f"{public_url}/hooks/incode/not-a-token/", data=b"{}", timeout=5)
    assert r.status_code == 404
    refused = InboundEvent.objects.filter(provider="incode", state=InboundEvent.State.REFUSED)
    assert refused.count() == 3  # each refusal kept exactly once


def test_it_does_not_move_the_provider_status_on_an_unconfirmed_intermediate_webhook(
    api: Any, account: Any, public_url: str, eager: None
) -> None:
    t = start_request(api)
    before = (t.status, t.provider_status, t.provider_rank)
    body = payload("onboarding_finished", interviewId=t.provider_ref).replace(
        b"ONBOARDING_FINISHED", b"ID_VALIDATION_FINISHED"
    )
    assert _post(public_url, account, body).status_code == 200
    t.refresh_from_db()
    assert (t.status, t.provider_status, t.provider_rank) == before
    event = InboundEvent.objects.get(transfer=t)
    assert event.state == InboundEvent.State.IGNORED and "not confirmed" in event.error


def _expire_at_incode(sandbox: str, interview_id: str) -> None:
    r = requests.post(
        f"{sandbox}/console/interviews/{interview_id}/expire",
        headers={"x-api-key": API_KEY},
        timeout=5,
    )
    assert r.status_code == 200, r.text


def test_it_expires_the_request_when_incode_confirms_an_expired_webhook(
    api: Any, account: Any, sandbox: str, eager: None
) -> None:
    t = start_request(api)
    _expire_at_incode(sandbox, t.provider_ref)  # the sandbox sends the EXPIRED webhook
    assert wait_for(lambda: decided(t)) == Status.EXPIRED
    assert t.provider_status == "EXPIRED"
    event = InboundEvent.objects.get(transfer=t)
    assert event.state == InboundEvent.State.PROCESSED and event.verified
    assert not IdentityField.objects.filter(transfer=t).exists()


def test_it_ignores_an_expired_webhook_incode_does_not_confirm(
    api: Any, account: Any, public_url: str, eager: None
) -> None:
    t = start_request(api)
    body = payload("onboarding_finished", interviewId=t.provider_ref).replace(
        b"ONBOARDING_FINISHED", b"EXPIRED"
    )
    assert _post(public_url, account, body).status_code == 200
    t.refresh_from_db()
    assert t.status == Status.PENDING and t.provider_status != "EXPIRED"
    event = InboundEvent.objects.get(transfer=t)
    assert event.state == InboundEvent.State.IGNORED and "not confirmed" in event.error
    # The customer can still finish, and the real finish is not taken for a duplicate.
    finish_on_phone(t.deep_link, "pass")
    assert wait_for(lambda: decided(t)) == Status.COMPLETED


def test_it_expires_the_request_when_the_poll_finds_it_expired(
    api: Any, merchant: Any, sandbox: str, eager: None
) -> None:
    from providers.incode import services as incode_services

    account_for(merchant, sandbox)  # no webhook configured: only the poll learns of it
    t = start_request(api)
    _expire_at_incode(sandbox, t.provider_ref)
    assert incode_services.transfer_check(transfer_id=t.pk) == Status.EXPIRED
    t.refresh_from_db()
    assert t.status == Status.EXPIRED and t.provider_status == "EXPIRED"
