"""End to end against the sandbox connector: live server, real worker, real HTTP."""

from __future__ import annotations

import json
import threading
from typing import Any
from unittest import mock

import pytest
import requests
from django.db import connection

from kyc.models import IdentityField, InboundEvent, TransferRequest
from providers.corepass import sandbox
from tests.conftest import wait_for
from tests.corepass.conftest import (
    USER,
    make_account,
    mark_delivered,
    sample_transfer,
)

DATA_ITEMS = ["SH_DriverLicense_DOB", "SH_DriverLicense_IssueDate"]


@pytest.fixture
def fast_sandbox(settings: Any) -> None:
    settings.COREPASS_SANDBOX_STEP_SECONDS = 0.05
    settings.COREPASS_SANDBOX_RETRY_SECONDS = (0.2, 0.4)


def _stored(tid: str, timeout: float, **match: Any) -> None:
    """Wait until a delivery about request `tid` matching `match` is stored."""
    wait_for(lambda: InboundEvent.objects.filter(transfer_id=tid, **match).exists(), timeout)


def _create(api: Any, items: list[str]) -> dict[str, Any]:
    r = api.post(
        "/api/v1/transfers/",
        {"provider": "corepass", "reference": "cust-1", "coreid": USER, "items": items},
        format="json",
    )
    assert r.status_code == 201, r.json()
    return r.json()


@pytest.mark.worker
def test_it_runs_a_request_from_api_to_completed_through_the_sandbox(
    public_url: str, celery_worker_process: Any, live_account: Any, api: Any, fast_sandbox: None
) -> None:
    created = _create(api, ["SH_EMAIL", "SH_ANY_DOB"])
    assert created["items"] == ["SH_EMAIL", "SH_Passport_DOB"]  # sandbox customer has no ID card
    assert created["deep_link"].startswith(f"{public_url}/sandbox/corepass/phone/")
    assert created["page_url"] and created["expires_at"]

    assert requests.post(created["deep_link"] + "approve", timeout=10).status_code == 200
    transfer_id = created["id"]
    wait_for(
        lambda: TransferRequest.objects.get(pk=transfer_id).provider_status == "FINISH_SUCCESS", 20
    )

    t = TransferRequest.objects.get(pk=transfer_id)
    assert t.status == "completed"
    body = api.get(f"/api/v1/transfers/{transfer_id}/").json()
    assert {d["key"]: d["value"] for d in body["data"]} == {
        "SH_EMAIL": "alex.sandbox@example.com",
        "SH_Passport_DOB": "1986-09-06",
    }
    hashes = {e["tx_hash"] for e in body["events"] if e["tx_hash"]}
    assert len(hashes) == 2  # the initiating and the confirming transaction
    with connection.cursor() as cur:
        cur.execute("SELECT value FROM kyc_identityfield WHERE transfer_id = %s", [transfer_id])
        raw = " ".join(str(v) for (v,) in cur.fetchall())
    assert "1986-09-06" not in raw and "alex.sandbox" not in raw
    assert IdentityField.objects.filter(transfer_id=transfer_id).count() == 2
    refused = InboundEvent.objects.filter(transfer_id=transfer_id, state="refused")
    assert not refused.exists(), list(refused.values_list("error", flat=True))


@pytest.mark.worker
def test_it_fails_a_declined_request_and_the_worker_confirms_the_error_callback(
    public_url: str, celery_worker_process: Any, live_account: Any, api: Any, fast_sandbox: None
) -> None:
    created = _create(api, ["SH_EMAIL"])
    assert requests.post(created["deep_link"] + "decline", timeout=10).status_code == 200
    tid = created["id"]
    # The worker asks the connector's /kyc/status before trusting the error callback.
    _stored(tid, 20, kind="error", state="processed")
    t = TransferRequest.objects.get(pk=tid)
    assert (t.status, t.failure_code) == ("failed", "finish_failed")
    assert "failed in CorePass" in t.status_detail


def test_it_answers_the_documented_connector_400s(
    live_server: Any, account: Any, fast_sandbox: None
) -> None:
    base = f"{live_server.url}/sandbox/corepass/api/v1"
    import time

    good = {
        "user": USER,
        "items": ["SH_EMAIL"],
        "callback": f"{live_server.url}/nowhere/data",
        "statusCallback": f"{live_server.url}/nowhere/status",
        "expiration": int(time.time()) + 600,
    }
    r = requests.post(
        f"{base}/kyc/qrcode", json={**good, "expiration": int(time.time()) + 60}, timeout=5
    )
    assert (r.status_code, r.text) == (
        400,
        "expiration time is invalid, it should be unix time in seconds and between 5-15 minutes",
    )
    r = requests.post(f"{base}/kyc/qrcode", json={**good, "items": ["SH_IDCard_DOB"]}, timeout=5)
    assert (r.status_code, r.text) == (400, "user does not have the requested items verified")
    first = requests.post(f"{base}/kyc/qrcode", json=good, timeout=5).json()
    assert "qrcode" in first and "alreadySent" not in first
    again = requests.post(
        f"{base}/kyc/qrcode", json={**good, "withoutQRCode": True}, timeout=5
    ).json()
    assert again["alreadySent"] is True and again["link"] == first["link"] and "qrcode" not in again
    requests.post(first["link"] + "approve?mode=silent", timeout=5)
    wait_for(
        lambda: (
            requests.post(f"{base}/kyc/status", json=good, timeout=5).json()["status"] != "PENDING"
        ),
        5,
    )
    wait_for(
        lambda: (
            requests.post(f"{base}/kyc/status", json=good, timeout=5).json()["status"]
            not in ("PENDING", "ACCEPTED")
        ),
        5,
    )
    r = requests.post(f"{base}/kyc/qrcode", json=good, timeout=5)
    assert (r.status_code, r.text) == (400, "there is an ongoing request for this user and items")
    r = requests.post(
        f"{base}/blockchain/verified",
        json={"user": USER, "items": ["SH_EMAIL", "SH_IDCard_DOB"]},
        timeout=5,
    )
    assert r.json() == {"verifiedItems": ["SH_EMAIL"], "unVerifiedItems": ["SH_IDCard_DOB"]}


def test_it_stores_one_result_when_the_same_data_arrives_concurrently(
    live_server: Any, merchant: Any
) -> None:
    transfer, data = sample_transfer(merchant, "data", items=DATA_ITEMS)
    mark_delivered(transfer)
    url = f"{live_server.url}/hooks/corepass/t/{transfer.callback_token}/data"
    form = {
        **{k: str(v) for k, v in data.items() if k != "infos"},
        "infos": json.dumps(data["infos"]),
    }
    barrier = threading.Barrier(4)
    codes: list[int] = []

    def send(multipart: bool) -> None:
        barrier.wait()
        if multipart:
            r = requests.post(url, files={k: (None, v) for k, v in form.items()}, timeout=20)
        else:
            r = requests.post(url, json=data, timeout=20)
        codes.append(r.status_code)

    with mock.patch("providers.corepass.services.now_ts", return_value=data["deadline"]):
        threads = [threading.Thread(target=send, args=(i % 2 == 0,)) for i in range(4)]
        for t in threads:
            t.start()
        for t in threads:
            t.join(30)
    assert codes == [200, 200, 200, 200]
    assert IdentityField.objects.filter(transfer=transfer).count() == 2
    assert transfer.events.filter(kind="data").count() == 1
    states = sorted(InboundEvent.objects.filter(transfer=transfer).values_list("state", flat=True))
    assert states == ["duplicate", "duplicate", "duplicate", "processed"]


def test_it_derives_the_sandbox_key_the_demo_configures() -> None:
    from providers.corepass.provider import CorePassProvider

    assert (
        CorePassProvider().sandbox_settings(sandbox_url="http://x/sandbox/corepass/")[
            "connector_public_key"
        ]
        == sandbox.public_key_hex()
    )


def test_it_gets_the_data_again_after_answering_non_200(
    public_url: str, merchant: Any, api: Any, settings: Any
) -> None:
    settings.COREPASS_SANDBOX_STEP_SECONDS = 0.02
    settings.COREPASS_SANDBOX_RETRY_SECONDS = (0.3, 0.6, 1.2)
    account = make_account(merchant, url=f"{public_url}/sandbox/corepass")
    created = _create(api, ["SH_EMAIL"])
    good = dict(account.settings)
    account.settings = {**good, "connector_public_key": ""}  # misconfigured: answers 503
    account.save()
    requests.post(created["deep_link"] + "approve", timeout=10)
    tid = created["id"]
    _stored(tid, 10, error="connector key not configured", path__endswith="/data")
    account.settings = good
    account.save()
    wait_for(lambda: TransferRequest.objects.get(pk=tid).status == "completed", 10)
    # Let the sandbox finish its sequence before the test database is flushed.
    wait_for(lambda: TransferRequest.objects.get(pk=tid).provider_status == "FINISH_SUCCESS", 10)
    assert IdentityField.objects.filter(transfer_id=tid).count() == 1
    assert TransferRequest.objects.get(pk=tid).events.filter(kind="data").count() == 1
