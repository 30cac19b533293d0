"""The merchant's Blockpass webhook: stored first, HMAC-verified, deduplicated for good."""

from __future__ import annotations

import datetime as dt
from typing import Any
from unittest import mock

import pytest
from django.utils import timezone

from kyc.models import CertPromise, InboundEvent, ProviderAccount
from providers.blockpass import services, signature
from tests.blockpass.conftest import SECRET, deliver, payload

# Deliveries are processed inline (the enqueue itself is tested in
# test_it_answers_after_one_insert_and_leaves_processing_to_a_worker).
pytestmark = [pytest.mark.django_db, pytest.mark.usefixtures("inline_processing")]

REAL_ENQUEUE = services._enqueue_process  # before inline_processing replaces it


def test_it_accepts_a_resolved_promise_and_enqueues_one_pull_after_commit(
    client: Any,
    account: ProviderAccount,
    bp_record: Any,
    enqueued: Any,
    django_capture_on_commit_callbacks: Any,
) -> None:
    with django_capture_on_commit_callbacks(execute=True):
        resp = deliver(client, account, payload("certPormise.resolved"))
    assert resp.status_code == 200
    promise = CertPromise.objects.get(promise_id="5df316xxxxxxxece66")
    assert promise.record == bp_record and promise.state == CertPromise.State.PENDING
    enqueued.assert_called_once_with(promise.pk)
    event = InboundEvent.objects.get()
    assert event.state == InboundEvent.State.PROCESSED and event.verified
    assert event.kind == "certPormise.resolved"


def test_it_refreshes_service_info(client: Any, account: ProviderAccount) -> None:
    resp = deliver(client, account, payload("serviceInfo.updated"))
    assert resp.status_code == 200
    account.refresh_from_db()
    assert account.state["service_info"]["client_id"] == "developer_sdk"
    assert account.state["service_info"]["env"] == "QA"
    assert InboundEvent.objects.get().state == InboundEvent.State.PROCESSED


def test_it_answers_a_ping_and_does_nothing_else(client: Any, account: ProviderAccount) -> None:
    resp = deliver(client, account, payload("ping"))
    assert resp.status_code == 200
    account.refresh_from_db()
    assert "service_info" not in account.state
    assert InboundEvent.objects.get().state == InboundEvent.State.IGNORED


def test_it_keeps_unknown_actions_and_answers_200(client: Any, account: ProviderAccount) -> None:
    resp = deliver(client, account, b'{"action":"kyc.somethingNew","isPing":false,"data":{}}')
    assert resp.status_code == 200
    event = InboundEvent.objects.get()
    assert event.state == InboundEvent.State.IGNORED and "unknown action" in event.error
    assert event.body == b'{"action":"kyc.somethingNew","isPing":false,"data":{}}'


def _flip(data: bytes, at: int) -> bytes:
    return data[:at] + bytes([data[at] ^ 0x01]) + data[at + 1 :]


@pytest.mark.parametrize(
    "case",
    ["flipped body byte", "flipped signature byte", "missing signature", "wrong secret"],
)
def test_it_refuses_and_keeps_a_delivery_with_a_bad_signature(
    client: Any,
    account: ProviderAccount,
    bp_record: Any,
    enqueued: Any,
    case: str,
    django_capture_on_commit_callbacks: Any,
) -> None:
    body = payload("certPormise.resolved")
    good = signature.sign(body, SECRET)
    kwargs: dict[str, Any] = {}
    if case == "flipped body byte":
        kwargs["sig"], body = good, _flip(body, 20)
    elif case == "flipped signature byte":
        kwargs["sig"] = good[:10] + ("0" if good[10] != "0" else "1") + good[11:]
    elif case == "missing signature":
        kwargs["secret"] = None
    else:
        kwargs["secret"] = "not-the-secret"
    with django_capture_on_commit_callbacks(execute=True):
        resp = deliver(client, account, body, delivery="d-1", **kwargs)
    assert resp.status_code == 401
    event = InboundEvent.objects.get()
    assert event.state == InboundEvent.State.REFUSED and not event.verified
    assert event.body == body  # kept, encrypted, for staff
    assert not CertPromise.objects.exists()
    enqueued.assert_not_called()
    # A forged delivery does not burn the delivery id: the genuine one still counts.
    with django_capture_on_commit_callbacks(execute=True):
        assert (
            deliver(client, account, payload("certPormise.resolved"), delivery="d-1").status_code
            == 200
        )
    assert CertPromise.objects.count() == 1


def test_it_ignores_a_replay_even_a_day_later(
    client: Any,
    account: ProviderAccount,
    bp_record: Any,
    enqueued: Any,
    django_capture_on_commit_callbacks: Any,
) -> None:
    body = payload("certPormise.resolved")
    with django_capture_on_commit_callbacks(execute=True):
        assert deliver(client, account, body, delivery="same").status_code == 200
    CertPromise.objects.update(state=CertPromise.State.PULLED)
    later = timezone.now() + dt.timedelta(days=1)
    with mock.patch("django.utils.timezone.now", return_value=later):
        with django_capture_on_commit_callbacks(execute=True):
            resp = deliver(client, account, body, delivery="same")
    assert resp.status_code == 200
    assert enqueued.call_count == 1
    assert CertPromise.objects.get().state == CertPromise.State.PULLED
    states = sorted(InboundEvent.objects.values_list("state", flat=True))
    assert states == [InboundEvent.State.DUPLICATE, InboundEvent.State.PROCESSED]


def test_it_accepts_the_previous_secret_only_during_the_grace_period(
    client: Any, account: ProviderAccount
) -> None:
    now = timezone.now()
    account.settings = signature.rotate(account.settings, "whsec-new", now=now)
    account.save()
    body = payload("serviceInfo.updated")
    assert deliver(client, account, body, secret=SECRET).status_code == 200
    assert deliver(client, account, body, secret="whsec-new").status_code == 200
    with mock.patch("django.utils.timezone.now", return_value=now + dt.timedelta(hours=25)):
        assert deliver(client, account, body, secret=SECRET).status_code == 401
        assert deliver(client, account, body, secret="whsec-new").status_code == 200


def test_it_marks_a_promise_for_an_unknown_customer_failed_for_staff(
    client: Any, account: ProviderAccount, enqueued: Any
) -> None:
    resp = deliver(client, account, payload("certPormise.resolved"))
    assert resp.status_code == 200
    event = InboundEvent.objects.get()
    assert event.state == InboundEvent.State.FAILED and "blockpassID" in event.error
    enqueued.assert_not_called()


def test_it_answers_404_for_an_unknown_webhook_url(client: Any, db: Any) -> None:
    resp = client.post("/hooks/blockpass/nope/", data=b"{}", content_type="application/json")
    assert resp.status_code == 404


def test_it_refuses_a_signed_body_that_is_not_json(client: Any, account: ProviderAccount) -> None:
    resp = deliver(client, account, b"not json")
    assert resp.status_code == 400
    assert InboundEvent.objects.get().state == InboundEvent.State.REFUSED


def test_the_sweeper_verifies_and_processes_a_delivery_stored_before_a_crash(
    account: ProviderAccount,
) -> None:
    from kyc import services as kyc_services
    from kyc.tasks import process_inbound

    body = payload("serviceInfo.updated")
    good, _ = kyc_services.inbound_store(
        provider="blockpass",
        path="/x",
        headers={"x-blockpass-signature": signature.sign(body, SECRET)},
        body=body,
        remote_addr=None,
        account=account,
    )
    forged, _ = kyc_services.inbound_store(
        provider="blockpass",
        path="/x",
        headers={"x-blockpass-signature": "00"},
        body=body,
        remote_addr=None,
        account=account,
    )
    assert process_inbound(good.pk) == InboundEvent.State.PROCESSED
    assert process_inbound(forged.pk) == InboundEvent.State.REFUSED
    assert process_inbound(good.pk) == InboundEvent.State.PROCESSED  # idempotent


def test_it_answers_after_one_insert_and_leaves_processing_to_a_worker(
    client: Any,
    account: ProviderAccount,
    bp_record: Any,
    enqueued: Any,
    django_capture_on_commit_callbacks: Any,
    django_assert_max_num_queries: Any,
) -> None:
    from kyc.tasks import process_inbound

    with (
        mock.patch.object(services, "_enqueue_process", REAL_ENQUEUE),
        mock.patch.object(process_inbound, "delay") as delay,
        django_capture_on_commit_callbacks(execute=True) as callbacks,
        CaptureInserts() as inserts,
        django_assert_max_num_queries(5),
    ):
        resp = deliver(client, account, payload("certPormise.resolved"), delivery="d-async")
    assert resp.status_code == 200
    assert inserts.count == 1  # the one durable write: the delivery itself
    event = InboundEvent.objects.get()
    assert event.state == InboundEvent.State.RECEIVED and event.verified
    assert len(callbacks) == 1
    delay.assert_called_once_with(event.pk)
    assert not CertPromise.objects.exists()
    assert process_inbound(event.pk) == InboundEvent.State.PROCESSED  # what the worker runs
    assert CertPromise.objects.get().promise_id == "5df316xxxxxxxece66"


class CaptureInserts:
    """Counts INSERT statements sent to the database inside the block."""

    def __enter__(self) -> CaptureInserts:
        from django.db import connection

        self.count = 0
        self._cm = connection.execute_wrapper(self._wrap)
        self._cm.__enter__()
        return self

    def _wrap(self, execute: Any, sql: str, params: Any, many: bool, context: Any) -> Any:
        if sql.lstrip().upper().startswith("INSERT"):
            self.count += 1
        return execute(sql, params, many, context)

    def __exit__(self, *exc: Any) -> None:
        self._cm.__exit__(*exc)
