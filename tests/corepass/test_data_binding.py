"""Data callbacks cannot be forged or pre-empted.

The data signature covers only `{"Deadline":N}`, so a signature lifted from one
customer's data callback verifies on any body with that deadline. Data deliveries are
therefore kept and applied only once the connector has shown (signed status callback
bound to user, field hashes and expiration, or its own /kyc/status) that it delivered
this request's data; then its own delivery is among those kept, so two different ones
are a conflict for staff, never first-wins.
"""

from __future__ import annotations

import json
import logging
import secrets
import time
from typing import Any
from unittest import mock

import pytest

from kyc.errors import RetryableError
from kyc.models import IdentityField, InboundEvent, TransferEvent, TransferRequest
from providers.corepass import callbacks, client, sandbox, services
from providers.corepass.schemas import StatusEntry
from tests.corepass.conftest import (
    SEED_COREIDS,
    USER,
    approved_silently,
    deliver,
    make_transfer,
    mark_delivered,
    sample_transfer,
    sandbox_req,
    status_callback,
    stored,
)

OTHER = SEED_COREIDS[0]  # another customer of the same merchant


def _values(transfer: TransferRequest) -> dict[str, str | None]:
    return {f.key: f.value for f in IdentityField.objects.filter(transfer=transfer)}


def _data_events(transfer: TransferRequest) -> list[InboundEvent]:
    return list(
        InboundEvent.objects.filter(transfer=transfer, path__endswith="/data").order_by("pk")
    )


def _random_pepper(user: str, field_id: str) -> str:
    """A pepper of the right shape, made by an attacker (49 printable characters)."""
    return secrets.token_urlsafe(48)[:49].encode().hex() + user + field_id.encode().hex()


def _lifted(victim: TransferRequest, genuine_form: dict[str, str], value: str, pepper: str) -> Any:
    """Another customer's genuine data signature and deadline, on the attacker's body."""
    return {
        "user": victim.subject,
        "infos": [{"fieldID": "SH_EMAIL", "fieldValue": value, "pepper": pepper}],
        "deadline": int(genuine_form["deadline"]),
        "expiration": int(genuine_form["expiration"]),
        "signature": genuine_form["signature"],
    }


@pytest.mark.django_db
def test_it_does_not_complete_another_customers_request_with_a_lifted_signature(
    client: Any, account: Any
) -> None:
    alice = make_transfer(account, subject=USER)
    bob = make_transfer(account, subject=OTHER)
    now = int(time.time())
    genuine_alice = sandbox.data_form(sandbox_req(alice), now=now - 60)

    # A home-made pepper "00" + CoreID + hex(fieldID) (no random part) must not pass.
    home_made = "00" + bob.subject + b"SH_EMAIL".hex()
    r = deliver(client, bob, "data", _lifted(bob, genuine_alice, "evil@x.test", home_made), now=now)
    assert r.status_code == 400 and "random part" in r.json()["message"]
    # A well-shaped pepper passes the shape check, but the delivery is only kept.
    forged = _lifted(bob, genuine_alice, "evil@x.test", _random_pepper(bob.subject, "SH_EMAIL"))
    r = deliver(client, bob, "data", forged, now=now)
    assert r.status_code == 200 and "waiting" in r.json()["message"]
    bob.refresh_from_db()
    assert bob.status == "pending" and _values(bob) == {}

    # Bob's own transfer goes through: the connector delivers, then reports CALLBACK_SUCCEED.
    status_callback(client, bob, "CONFIRMED", now=now)
    bob.refresh_from_db()
    assert bob.status == "processing" and _values(bob) == {}  # CONFIRMED alone decides nothing
    genuine_bob = sandbox.data_form(sandbox_req(bob), now=now)
    assert deliver(client, bob, "data", genuine_bob, now=now, multipart=True).status_code == 200
    status_callback(client, bob, "CALLBACK_SUCCEED", now=now)

    bob.refresh_from_db()
    assert bob.status == "review" and _values(bob) == {}
    assert "different data deliveries" in bob.status_detail
    kept = _data_events(bob)
    assert [e.state for e in kept] == ["refused", "ignored", "ignored"]
    assert all(e.body for e in kept) and kept[1].kind == kept[2].kind == services.CONFLICT

    # Staff pick the genuine delivery: the request completes with Bob's own data.
    assert services.data_delivery_accept(event_id=kept[2].pk, actor=None)
    bob.refresh_from_db()
    assert bob.status == "completed"
    assert _values(bob) == {"SH_EMAIL": "alex.sandbox@example.com"}


@pytest.mark.django_db
def test_it_keeps_forged_data_that_arrives_first_and_the_genuine_data_for_review(
    client: Any, account: Any, staff_client: Any
) -> None:
    transfer = make_transfer(account)
    now = int(time.time())
    genuine = sandbox.data_form(sandbox_req(transfer), now=now)
    # Forged with a fresh signature (the worst case: lifted seconds ago) arriving first.
    forged = {**genuine}
    forged["infos"] = json.dumps(
        [
            {
                "fieldID": "SH_EMAIL",
                "fieldValue": "evil@x.test",
                "pepper": _random_pepper(transfer.subject, "SH_EMAIL"),
            }
        ]
    )
    assert deliver(client, transfer, "data", forged, now=now, multipart=True).status_code == 200
    assert deliver(client, transfer, "data", genuine, now=now, multipart=True).status_code == 200
    transfer.refresh_from_db()
    assert transfer.status == "pending" and _values(transfer) == {}

    status_callback(client, transfer, "CONFIRMED", now=now)
    status_callback(client, transfer, "CALLBACK_SUCCEED", now=now)
    transfer.refresh_from_db()
    assert transfer.status == "review" and _values(transfer) == {}
    forged_event, genuine_event = _data_events(transfer)
    assert forged_event.kind == genuine_event.kind == services.CONFLICT
    assert f"#{forged_event.pk}, #{genuine_event.pk}" in transfer.status_detail
    # The genuine values are still there, encrypted, to be chosen in review.
    doc = callbacks.parse_body(genuine_event.headers["content-type"], bytes(genuine_event.body))
    assert callbacks.data_callback(doc).infos[0].value == "alex.sandbox@example.com"

    # A retry of either delivery changes nothing; FINISH_SUCCESS does not complete it.
    assert deliver(client, transfer, "data", genuine, now=now, multipart=True).status_code == 200
    assert _data_events(transfer)[-1].state == "duplicate"
    status_callback(client, transfer, "FINISH_SUCCESS", now=now)
    transfer.refresh_from_db()
    assert transfer.status == "review" and _values(transfer) == {}

    # Staff see the conflict on the request and its deliveries in the admin.
    page = staff_client.get(f"/admin/kyc/transferrequest/{transfer.pk}/change/")
    assert page.status_code == 200 and "CorePass data conflict" in page.content.decode()
    listing = staff_client.get("/admin/kyc/inboundevent/", {"q": services.CONFLICT})
    assert listing.status_code == 200
    assert "kept for staff review: 2 different data deliveries" in listing.content.decode()

    # A viewer cannot settle it; a reviewer picks the genuine delivery in the admin.
    from kyc.models import AuditEntry, Membership

    action = {"action": "choose_delivery", "_selected_action": [genuine_event.pk]}
    membership = Membership.objects.get(user=staff_client.user, merchant=transfer.merchant)
    membership.role = Membership.Role.VIEWER
    membership.save()
    staff_client.post("/admin/kyc/inboundevent/", action, follow=True)
    transfer.refresh_from_db()
    assert transfer.status == "review" and _values(transfer) == {}
    membership.role = Membership.Role.COMPLIANCE
    membership.save()
    page = staff_client.post("/admin/kyc/inboundevent/", action, follow=True)
    assert f"Delivery #{genuine_event.pk} applied" in page.content.decode()
    transfer.refresh_from_db()
    assert transfer.status == "completed"
    assert _values(transfer) == {"SH_EMAIL": "alex.sandbox@example.com"}
    assert AuditEntry.objects.filter(action="corepass.data_chosen").count() == 1
    forged_event.refresh_from_db()
    assert forged_event.state == "ignored"


@pytest.mark.django_db
def test_it_keeps_data_that_arrives_early_and_applies_it_once_the_connector_delivered(
    client: Any, account: Any
) -> None:
    transfer = make_transfer(account, items=["SH_EMAIL", "SH_Passport_DOB"])
    TransferRequest.objects.filter(pk=transfer.pk).update(
        provider_data={"expiration": 2_000_000_000}
    )
    transfer.refresh_from_db()
    now = int(time.time())
    form = sandbox.data_form(sandbox_req(transfer), now=now)
    r = deliver(client, transfer, "data", form, now=now, multipart=True)
    assert r.status_code == 200 and "waiting for the connector" in r.json()["message"]
    event = _data_events(transfer)[0]
    assert (event.state, event.verified) == ("received", True) and event.body

    # Signed, but for another request's expiration / not exactly these items: no proof.
    other_req = {**sandbox_req(transfer), "expiration": 2_000_000_001}
    body = sandbox.status_body(other_req, "CALLBACK_SUCCEED", "0xab", now=now)
    r = deliver(client, transfer, "status", body, now=now)
    assert r.status_code == 400 and "expiration" in r.json()["message"]
    partial = {**sandbox_req(transfer), "items": ["SH_EMAIL"]}
    body = sandbox.status_body(partial, "CALLBACK_SUCCEED", "0xab", now=now)
    assert deliver(client, transfer, "status", body, now=now).status_code == 200
    assert _values(transfer) == {}

    status_callback(client, transfer, "CALLBACK_SUCCEED", now=now, tx_hash="0xab")
    transfer.refresh_from_db()
    assert transfer.status == "completed"
    assert _values(transfer) == {
        "SH_EMAIL": "alex.sandbox@example.com",
        "SH_Passport_DOB": "1986-09-06",
    }
    event.refresh_from_db()
    assert event.state == "processed"


@pytest.mark.django_db
def test_it_asks_the_connector_after_a_delay_and_not_at_all_once_its_status_came(
    client: Any, account: Any, django_capture_on_commit_callbacks: Any
) -> None:
    transfer = make_transfer(account)
    TransferRequest.objects.filter(pk=transfer.pk).update(
        provider_data={"expiration": 2_000_000_000}
    )
    transfer.refresh_from_db()
    now = int(time.time())
    form = sandbox.data_form(sandbox_req(transfer), now=now)
    with (
        mock.patch("providers.corepass.tasks.confirm_data.apply_async") as ask,
        django_capture_on_commit_callbacks(execute=True),
    ):
        assert deliver(client, transfer, "data", form, now=now, multipart=True).status_code == 200
    # Held; the question waits: asked now, the connector would still say CONFIRMED.
    ask.assert_called_once_with((str(transfer.pk),), countdown=services.CONFIRM_DELAY)
    assert services.CONFIRM_DELAY > 0
    # Meanwhile the connector's own status callback shows it delivered: the data is
    # applied, and the question, when its time comes, asks the connector nothing.
    status_callback(client, transfer, "CALLBACK_SUCCEED", now=now, tx_hash="0xab")
    assert _values(transfer) == {"SH_EMAIL": "alex.sandbox@example.com"}
    with mock.patch.object(client_module(), "status") as connector:
        assert services.data_confirm(transfer_id=transfer.pk) == "nothing held"
    connector.assert_not_called()


@pytest.mark.django_db
def test_it_flags_a_different_delivery_after_the_data_was_applied(
    client: Any, account: Any
) -> None:
    transfer = make_transfer(account)
    now = int(time.time())
    req = {**sandbox_req(transfer), "peppers": sandbox.peppers(sandbox_req(transfer))}
    genuine = sandbox.data_form(req, now=now)
    assert deliver(client, transfer, "data", genuine, now=now, multipart=True).status_code == 200
    status_callback(client, transfer, "CALLBACK_SUCCEED", now=now)
    # The connector's retry (same peppers, new deadline) is a harmless duplicate.
    retry = sandbox.data_form(req, now=now + 5)
    assert retry["signature"] != genuine["signature"]
    r = deliver(client, transfer, "data", retry, now=now + 5, multipart=True)
    assert (r.status_code, r.json()["message"]) == (200, "already stored")
    late = {**genuine, "infos": genuine["infos"].replace("alex.sandbox", "evil")}
    r = deliver(client, transfer, "data", late, now=now, multipart=True)
    assert r.status_code == 200 and "staff review" in r.json()["message"]
    transfer.refresh_from_db()
    assert transfer.status == "completed"
    assert _values(transfer) == {"SH_EMAIL": "alex.sandbox@example.com"}
    flagged = TransferEvent.objects.get(transfer=transfer, kind="error")
    assert "CorePass data conflict" in flagged.detail
    assert [e.state for e in _data_events(transfer)] == ["processed", "duplicate", "ignored"]


@pytest.mark.django_db
def test_it_keeps_a_reprocessed_applied_delivery_a_duplicate(client: Any, account: Any) -> None:
    from kyc.tasks import process_inbound

    transfer = make_transfer(account)
    now = int(time.time())
    form = sandbox.data_form(sandbox_req(transfer), now=now)
    deliver(client, transfer, "data", form, now=now, multipart=True)
    status_callback(client, transfer, "FINISH_SUCCESS", now=now)
    applied = _data_events(transfer)[0]
    assert applied.state == "processed"
    # Staff "Reprocess" puts it back to RECEIVED: it must not be applied a second time.
    InboundEvent.objects.filter(pk=applied.pk).update(state="received")
    assert process_inbound(applied.pk) == "duplicate"
    assert transfer.events.filter(kind="data").count() == 1
    transfer.refresh_from_db()
    assert transfer.status == "completed"


@pytest.mark.django_db
@pytest.mark.parametrize(
    ("answer", "held", "outcome"),
    [
        (StatusEntry(status="ACCEPTED", created_at=0), True, "connector reports ACCEPTED"),
        # Dated a day before the request: the connector speaks of an earlier request.
        (StatusEntry(status="FINISH_SUCCESS", created_at=1), True, "FINISH_SUCCESS"),
        (StatusEntry(status="CALLBACK_SUCCEED", created_at=2_000_000_000), False, "settled"),
    ],
)
def test_it_applies_kept_data_only_when_the_connectors_status_says_it_delivered(
    client: Any, account: Any, answer: StatusEntry, held: bool, outcome: str
) -> None:
    transfer = make_transfer(account)
    now = int(time.time())
    form = sandbox.data_form(sandbox_req(transfer), now=now)
    assert deliver(client, transfer, "data", form, now=now, multipart=True).status_code == 200
    with mock.patch.object(client_module(), "status", return_value=answer) as asked:
        assert outcome in services.data_confirm(transfer_id=transfer.pk)
    assert asked.call_args.kwargs == {"user": transfer.subject, "items": ["SH_EMAIL"]}
    assert (_values(transfer) == {}) is held


@pytest.mark.django_db
def test_it_asks_again_soon_while_the_connectors_delivery_is_in_flight(
    client: Any, account: Any
) -> None:
    transfer = make_transfer(account)
    now = int(time.time())
    form = sandbox.data_form(sandbox_req(transfer), now=now)
    deliver(client, transfer, "data", form, now=now, multipart=True)
    confirmed = StatusEntry(status="CONFIRMED", created_at=now)
    with mock.patch.object(client_module(), "status", return_value=confirmed):
        with pytest.raises(RetryableError):
            services.data_confirm(transfer_id=transfer.pk)
    assert _values(transfer) == {}


def client_module() -> Any:
    return client


def test_it_confirms_data_with_no_status_callback_through_the_sandbox_kyc_status(
    live_account: Any, api: Any, settings: Any, client: Any, monkeypatch: Any
) -> None:
    from providers.corepass import tasks

    asked: list[str] = []

    def confirm_now(args: tuple[str], countdown: int) -> None:  # the worker runs the same
        asked.append(services.data_confirm(transfer_id=args[0]))

    monkeypatch.setattr(tasks.confirm_data, "apply_async", confirm_now)
    settings.COREPASS_SANDBOX_STEP_SECONDS = 0.02
    # Every status callback is lost; the connector's data delivery is the only one we get.
    created, rid = approved_silently(api)
    transfer = TransferRequest.objects.get(pk=created["id"])
    now = int(time.time())
    form = sandbox.data_form(sandbox.get_request(rid), now=now)
    r = deliver(client, transfer, "data", form, now=now, multipart=True)
    assert r.status_code == 200
    assert asked == ["settled"]
    transfer.refresh_from_db()
    assert (transfer.status, transfer.provider_status) == ("completed", "FINISH_SUCCESS")
    assert _values(transfer) == {"SH_EMAIL": "alex.sandbox@example.com"}
    assert "kyc/status" in transfer.provider_data["data_ready"]["by"]


@pytest.mark.django_db
@pytest.mark.parametrize(
    ("pepper", "reason"),
    [
        ("00{user}{field}", "random part of 1 characters, not 49"),
        ("{user}{field}", "random part of 0 characters"),
        ("41" * 48 + "{user}{field}", "random part of 48 characters"),
        ("41" * 50 + "{user}{field}", "random part of 50 characters"),
        ("4" + "41" * 49 + "{user}{field}", "not hex"),
        ("zz" * 49 + "{user}{field}", "not hex"),
        ("20" * 49 + "{user}{field}", "not printable"),  # spaces
        ("01" * 49 + "{user}{field}", "not printable"),
        ("41" * 49 + "{field}", "does not belong"),
    ],
)
def test_it_refuses_a_malformed_pepper_and_keeps_the_delivery(
    client: Any, merchant: Any, pepper: str, reason: str
) -> None:
    transfer, data = sample_transfer(
        merchant, "data", items=["SH_DriverLicense_DOB", "SH_DriverLicense_IssueDate"]
    )
    mark_delivered(transfer)
    infos = [
        {
            **data["infos"][0],
            "pepper": pepper.format(user=data["user"], field=b"SH_DriverLicense_DOB".hex()),
        },
        data["infos"][1],
    ]
    r = deliver(client, transfer, "data", {**data, "infos": infos}, now=data["deadline"])
    assert r.status_code == 400 and reason in r.json()["message"], r.json()
    event = _data_events(transfer)[-1]
    assert event.state == "refused" and reason in event.error and event.body
    assert _values(transfer) == {}


def test_it_accepts_the_documented_peppers_shape() -> None:
    data = stored("data")["payload"]
    for info in data["infos"]:
        assert (
            callbacks.pepper_problem(info["pepper"], user=data["user"], field_id=info["fieldID"])
            is None
        )


@pytest.mark.django_db
def test_it_never_logs_a_callback_token(client: Any, account: Any, caplog: Any) -> None:
    for name in ("", "django", "django.request", "django.server", "kyc", "providers", "urllib3"):
        caplog.set_level(logging.DEBUG, logger=name)
    transfer = make_transfer(account)
    token = transfer.callback_token
    base = f"/hooks/corepass/t/{token}"
    now = int(time.time())
    form = sandbox.data_form(sandbox_req(transfer), now=now)
    answers = [
        client.post(f"{base}/data", data="not json", content_type="application/json"),  # 400
        deliver(client, transfer, "data", {**form, "signature": "!!"}, now=now, multipart=True),
        client.get(f"{base}/status"),  # 405
        deliver(client, transfer, "data", form, now=now, multipart=True),  # 200
    ]
    with mock.patch.object(services, "callback_process", side_effect=RuntimeError(base)):
        answers.append(client.post(f"{base}/status", data="{}", content_type="application/json"))
    assert [a.status_code for a in answers] == [400, 403, 405, 200, 503]
    # Something was logged about the refusals (the test would be empty otherwise)...
    assert any(r.levelno >= logging.WARNING for r in caplog.records)
    # ...and nowhere the token, Django's request logger included.
    for record in caplog.records:
        text = record.getMessage() + (record.exc_text or "")
        if record.exc_info:
            text += logging.Formatter().formatException(record.exc_info)
        assert token not in text, (record.name, text)
    assert not [r for r in caplog.records if r.name == "django.request"]


def test_it_hides_callback_tokens_from_the_sandboxs_http_log() -> None:
    # urllib3 logs each request line at DEBUG; the sandbox posts to callback URLs.
    logger = logging.getLogger("urllib3.connectionpool")
    args = ("http", "127.0.0.1", 8000, "POST", "/hooks/corepass/t/s3cr3tTOKEN/data", "HTTP/1.1")
    record = logger.makeRecord(
        logger.name, logging.DEBUG, "x", 1, '%s://%s:%s "%s %s %s"', args, None
    )
    assert logger.filter(record)  # the logger's own filters, before any handler
    assert "s3cr3tTOKEN" not in record.getMessage()
    assert "/hooks/corepass/t/[token]/data" in record.getMessage()
