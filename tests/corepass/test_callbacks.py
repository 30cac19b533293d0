"""Per-request status/data/error callbacks: verify, apply, keep every delivery."""

from __future__ import annotations

import datetime as dt
import json
import time
from typing import Any
from unittest import mock

import pytest
from django.db import connection

from kyc.models import IdentityField, InboundEvent, TransferRequest
from providers.corepass import callbacks, client, sandbox, services
from providers.corepass.schemas import StatusEntry
from tests.corepass.conftest import (
    deliver,
    make_account,
    make_transfer,
    mark_delivered,
    sample_transfer,
    sandbox_req,
    status_callback,
    stored,
)

pytestmark = pytest.mark.django_db
DATA_USER = "ab432e666932c53128d9f73712b058a7a8f7df52f5cb"
DATA_ITEMS = ["SH_DriverLicense_DOB", "SH_DriverLicense_IssueDate"]


def _last_event(transfer: TransferRequest) -> InboundEvent:
    return InboundEvent.objects.filter(transfer=transfer).latest("pk")


def test_it_applies_the_documented_status_samples_with_tx_hash_on_the_timeline(
    client: Any, merchant: Any
) -> None:
    transfer, accepted = sample_transfer(merchant, "status_accepted")
    r = deliver(client, transfer, "status", accepted, now=accepted["deadline"] - 10)
    assert r.status_code == 200, r.json()
    transfer.refresh_from_db()
    assert (transfer.status, transfer.provider_status) == ("accepted", "ACCEPTED")
    assert _last_event(transfer).state == "processed" and _last_event(transfer).verified

    submitted = stored("status_initiate_submitted")["payload"]
    assert (
        deliver(client, transfer, "status", submitted, now=submitted["deadline"]).status_code == 200
    )
    transfer.refresh_from_db()
    assert (transfer.status, transfer.provider_status) == ("processing", "INITIATE_SUBMITTED")
    assert transfer.events.filter(tx_hash=submitted["tx_hash"]).exists()

    # The older ACCEPTED again (a retry): answered 200, nothing moves backwards.
    assert (
        deliver(client, transfer, "status", accepted, now=accepted["deadline"]).status_code == 200
    )
    transfer.refresh_from_db()
    assert transfer.provider_status == "INITIATE_SUBMITTED"


def test_it_stores_the_documented_data_sample_encrypted_and_completes(
    client: Any, merchant: Any
) -> None:
    transfer, data = sample_transfer(merchant, "data", items=DATA_ITEMS)
    mark_delivered(transfer)
    r = deliver(client, transfer, "data", data, now=data["deadline"] - 1)
    assert r.status_code == 200, r.json()
    transfer.refresh_from_db()
    assert transfer.status == "completed"
    values = {f.key: (f.value, f.pepper) for f in IdentityField.objects.filter(transfer=transfer)}
    assert values["SH_DriverLicense_DOB"] == ("1986-09-06", data["infos"][0]["pepper"])
    with connection.cursor() as cur:
        cur.execute(
            "SELECT value, pepper FROM kyc_identityfield WHERE transfer_id = %s", [transfer.pk]
        )
        for raw_value, raw_pepper in cur.fetchall():
            assert "1986" not in str(raw_value) and "2020-11-12" not in str(raw_value)
            assert DATA_USER not in str(raw_pepper)


def test_it_accepts_the_data_callback_as_multipart_form_data(client: Any, merchant: Any) -> None:
    transfer, data = sample_transfer(merchant, "data", items=DATA_ITEMS)
    mark_delivered(transfer)
    form = {
        **{k: str(v) for k, v in data.items() if k != "infos"},
        "infos": json.dumps(data["infos"]),
    }
    r = deliver(client, transfer, "data", form, now=data["deadline"], multipart=True)
    assert r.status_code == 200, r.json()
    assert IdentityField.objects.filter(transfer=transfer).count() == 2


@pytest.mark.parametrize("shape", ["one_part_per_info", "indexed", "whole_document"])
def test_it_reads_other_plausible_multipart_shapes(shape: str) -> None:
    from django.test.client import BOUNDARY, MULTIPART_CONTENT, encode_multipart

    data = stored("data")["payload"]
    scalars = {k: str(v) for k, v in data.items() if k != "infos"}
    if shape == "one_part_per_info":
        form: dict[str, Any] = {**scalars, "infos": [json.dumps(i) for i in data["infos"]]}
    elif shape == "indexed":
        form = dict(scalars)
        for n, info in enumerate(data["infos"]):
            for k, v in info.items():
                form[f"infos[{n}][{k}]"] = v
    else:
        form = {"data": json.dumps(data)}
    doc = callbacks.parse_body(MULTIPART_CONTENT, encode_multipart(BOUNDARY, form))
    cb = callbacks.data_callback(doc)
    assert [i.field_id for i in cb.infos] == DATA_ITEMS and cb.deadline == data["deadline"]


def test_it_stores_a_repeated_data_callback_once_and_answers_200_both_times(
    client: Any, merchant: Any
) -> None:
    transfer, data = sample_transfer(merchant, "data", items=DATA_ITEMS)
    mark_delivered(transfer)
    first = deliver(client, transfer, "data", data, now=data["deadline"])
    second = deliver(client, transfer, "data", data, now=data["deadline"])
    assert (first.status_code, second.status_code) == (200, 200)
    assert IdentityField.objects.filter(transfer=transfer).count() == 2
    assert transfer.events.filter(kind="data").count() == 1
    assert _last_event(transfer).state == "duplicate"


@pytest.mark.parametrize(
    ("mutate", "status", "reason"),
    [
        (lambda p, now: (p, p["deadline"] + 1), 403, "deadline passed 1 s ago"),
        (lambda p, now: ({**p, "signature": ""}, now), 403, "signature missing"),
        (lambda p, now: ({**p, "signature": "!!"}, now), 403, "not base64"),
        (lambda p, now: ({**p, "deadline": p["deadline"] - 5}, now - 5), 403, "does not verify"),
        (
            lambda p, now: ({**p, "user": "ab06b37c90098790e90bbcd56a701e50ec8b51b6bd5e"}, now),
            400,
            "does not match",
        ),
        (
            lambda p, now: (
                {**p, "infos": [{**p["infos"][0], "pepper": p["infos"][1]["pepper"]}]},
                now,
            ),
            400,
            "pepper of SH_DriverLicense_DOB",
        ),
        (
            lambda p, now: ({**p, "infos": [{**p["infos"][0], "fieldID": "SH_EMAIL"}]}, now),
            400,
            "not requested",
        ),
        (lambda p, now: ({**p, "infos": []}, now), 400, "infos missing"),
    ],
)
def test_it_refuses_bad_data_callbacks_and_keeps_them_with_the_reason(
    client: Any, merchant: Any, mutate: Any, status: int, reason: str
) -> None:
    transfer, data = sample_transfer(merchant, "data", items=DATA_ITEMS)
    payload, now = mutate(data, data["deadline"] - 10)
    r = deliver(client, transfer, "data", payload, now=now)
    assert r.status_code == status
    assert reason in r.json()["message"]
    event = _last_event(transfer)
    assert event.state == "refused" and reason in event.error and event.body
    assert not IdentityField.objects.filter(transfer=transfer).exists()


def test_it_refuses_a_callback_signed_by_a_foreign_connector(client: Any, merchant: Any) -> None:
    transfer, _ = sample_transfer(merchant, "data", items=DATA_ITEMS)
    accepted = stored("status_accepted")["payload"]  # signed by the other connector key
    r = deliver(
        client, transfer, "status", {**accepted, "user": transfer.subject}, now=accepted["deadline"]
    )
    assert r.status_code == 403 and "different key" in r.json()["message"]


def test_it_refuses_unknown_field_hashes_and_statuses(client: Any, account: Any) -> None:
    transfer = make_transfer(account, items=["SH_Passport_DOB"])
    req = sandbox_req(transfer)
    now = int(time.time())
    r = deliver(
        client,
        transfer,
        "status",
        {**sandbox.status_body({**req, "items": ["SH_EMAIL"]}, "ACCEPTED", "", now=now)},
        now=now,
    )
    assert r.status_code == 400 and "unknown field hash" in r.json()["message"]
    r = deliver(
        client, transfer, "status", sandbox.status_body(req, "DANCING", "", now=now), now=now
    )
    assert r.status_code == 400 and "unknown status" in r.json()["message"]
    r = deliver(
        client, transfer, "status", sandbox.status_body(req, "ACCEPTED", "", now=now), now=now
    )
    assert r.status_code == 200


def test_it_keeps_deliveries_to_unknown_urls_and_garbage(client: Any, account: Any) -> None:
    r = client.post("/hooks/corepass/t/nope/status", data="{}", content_type="application/json")
    assert r.status_code == 404
    assert InboundEvent.objects.filter(
        path="/hooks/corepass/t/nope/status", state="refused"
    ).exists()
    transfer = make_transfer(account)
    r = client.post(
        f"/hooks/corepass/t/{transfer.callback_token}/status",
        data="not json",
        content_type="application/json",
    )
    assert r.status_code == 400 and _last_event(transfer).state == "refused"


def test_it_waits_for_the_data_before_calling_finish_success_complete(
    client: Any, account: Any
) -> None:
    transfer = make_transfer(account)
    now = int(time.time())
    body = sandbox.status_body(sandbox_req(transfer), "FINISH_SUCCESS", "0xabc", now=now)
    assert deliver(client, transfer, "status", body, now=now).status_code == 200
    transfer.refresh_from_db()
    assert (transfer.status, transfer.provider_status) == ("processing", "FINISH_SUCCESS")
    form = sandbox.data_form(sandbox_req(transfer), now=now)
    assert deliver(client, transfer, "data", form, now=now, multipart=True).status_code == 200
    transfer.refresh_from_db()
    assert transfer.status == "completed"


@pytest.mark.parametrize(
    ("connector_says", "expected"), [("INITIATED_FAILED", "failed"), ("ACCEPTED", "accepted")]
)
def test_it_fails_on_an_error_callback_only_when_the_connector_confirms(
    client: Any, merchant: Any, connector_says: str, expected: str
) -> None:
    transfer, payload = sample_transfer(merchant, "error")
    r = deliver(client, transfer, "data", payload, now=payload["deadline"])
    assert r.status_code == 200 and "confirming" in r.json()["message"]
    event = _last_event(transfer)
    assert (event.kind, event.state) == ("error", "received")
    transfer.refresh_from_db()
    assert transfer.status == "pending"  # a hint alone changes nothing
    with mock.patch.object(
        client_module(), "status", return_value=StatusEntry(status=connector_says)
    ):
        services.inbound_process(event_id=event.pk)
    transfer.refresh_from_db()
    event.refresh_from_db()
    assert transfer.status == expected
    if expected == "failed":
        assert transfer.failure_code == "initiated_failed"
        assert "INITIATED_FAILED" in transfer.status_detail and event.state == "processed"
    else:
        assert event.state == "ignored" and "not confirmed" in event.error


def client_module() -> Any:
    return client


def test_it_refuses_an_error_callback_embedding_a_foreign_key(client: Any, merchant: Any) -> None:
    payload = stored("error")["payload"]
    account = make_account(merchant)  # sandbox key, not the sample's
    transfer = make_transfer(account, subject=payload["user"])
    r = deliver(client, transfer, "data", payload, now=payload["deadline"])
    assert r.status_code == 403 and _last_event(transfer).state == "refused"


def test_it_also_accepts_plain_item_ids_in_status_fields(client: Any, account: Any) -> None:
    from providers.corepass import signature as sig

    transfer = make_transfer(account, items=["SH_EMAIL"])
    now = int(time.time())
    body = {
        "user": transfer.subject,
        "fields": ["SH_EMAIL"],
        "status": "ACCEPTED",
        "expiration": now + 600,
        "deadline": now + 180,
    }
    body = sig.sign_status(sandbox.private_key(), body)
    assert deliver(client, transfer, "status", body, now=now).status_code == 200
    transfer.refresh_from_db()
    assert transfer.status == "accepted"


def test_it_reprocesses_a_stored_delivery_judging_the_deadline_at_arrival(account: Any) -> None:
    from kyc import services as core
    from kyc.tasks import process_inbound

    transfer = make_transfer(account)
    arrived = int(time.time()) - 3600  # the sweeper finds it an hour later
    body = sandbox.status_body(sandbox_req(transfer), "ACCEPTED", "", now=arrived)
    event, _ = core.inbound_store(
        provider="corepass",
        path=f"/hooks/corepass/t/{transfer.callback_token}/status",
        headers={"content-type": "application/json"},
        body=json.dumps(body).encode(),
        remote_addr="127.0.0.1",
        kind="status",
        transfer=transfer,
    )
    InboundEvent.objects.filter(pk=event.pk).update(
        received_at=dt.datetime.fromtimestamp(arrived + 5, tz=dt.UTC)
    )
    assert process_inbound(event.pk) == "processed"
    transfer.refresh_from_db()
    assert transfer.status == "accepted"
    assert process_inbound(event.pk) == "processed"  # idempotent
    assert transfer.events.filter(provider_status="ACCEPTED").count() == 1


def test_it_keeps_paid_for_data_that_arrives_after_the_request_expired(
    client: Any, account: Any
) -> None:
    transfer = make_transfer(account)
    TransferRequest.objects.filter(pk=transfer.pk).update(status="expired")
    now = int(time.time())
    form = sandbox.data_form(sandbox_req(transfer), now=now)
    assert deliver(client, transfer, "data", form, now=now, multipart=True).status_code == 200
    status_callback(client, transfer, "CALLBACK_SUCCEED", now=now)
    transfer.refresh_from_db()
    assert transfer.status == "expired"  # terminal stays terminal
    assert IdentityField.objects.filter(transfer=transfer).count() == 1
