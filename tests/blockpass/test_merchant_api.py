"""The endpoints the Blockpass app calls, against the sandbox Blockpass server over HTTP."""

from __future__ import annotations

from typing import Any

import pytest
from django.db import connection

from kyc.models import Certificate, CertPromise, IdentityField, KYCRecord, ProviderAccount
from providers.blockpass import sandbox, services

CID = "demo_service"


def _register(name: str = "Ada") -> tuple[str, dict[str, Any]]:
    result = sandbox.app_register(client_id=CID, name=name)
    assert result["status"] == 200, result
    return result["bpid"], result["answer"]


def test_it_registers_a_customer_and_keeps_the_token_encrypted(
    live_account: ProviderAccount,
) -> None:
    bpid, answer = _register()
    assert answer["nextAction"] == "upload"
    assert answer["requiredFields"] == ["email", "given_name"]
    assert answer["certs"] == ["onfido-service-cert"] and answer["accessToken"]
    record = services.record_for_blockpass_id(account=live_account, blockpass_id=bpid)
    assert record is not None and record.external_id == bpid
    assert record.review_status == KYCRecord.Review.WAITING
    token = services.record_token(record)
    assert token is not None and token.access_token.startswith("bpat_") and token.expires_at
    with connection.cursor() as cur:
        cur.execute("SELECT secrets, external_id FROM kyc_kycrecord WHERE id = %s", [record.pk])
        secrets_col, ext_col = cur.fetchone()
    assert token.access_token not in secrets_col and bpid not in ext_col
    # /status of a registered customer lists required slugs as missing.
    status, body = sandbox.app_call(client_id=CID, bpid=bpid, action="status")
    assert status == 200 and body["status"] == "waiting" and body["allowCertPromise"] is True
    assert {i["slug"]: i["status"] for i in body["identities"]} == {
        "email": "missing",
        "given_name": "missing",
    }


def test_it_stores_uploaded_fields_encrypted_and_reports_them(
    live_account: ProviderAccount,
) -> None:
    bpid, _ = _register()
    status, body = sandbox.app_upload(
        client_id=CID,
        bpid=bpid,
        fields={
            "email": "ada@example.com",
            "given_name": "Ada",
            "[cer]kyc-cert": "cert-body",
            "[cerPromise]onfido-service-cert": "cp-upload-1",
        },
    )
    assert status == 200 and body["nextAction"] == "none", body
    record = KYCRecord.objects.get(provider="blockpass")
    assert {f.key: f.value for f in IdentityField.objects.filter(record=record)} == {
        "email": "ada@example.com",
        "given_name": "Ada",
    }
    with connection.cursor() as cur:
        cur.execute("SELECT value FROM kyc_identityfield WHERE record_id = %s", [record.pk])
        assert all("ada@" not in row[0] for row in cur.fetchall())
    assert Certificate.objects.get(record=record).raw == b"cert-body"
    promise = CertPromise.objects.get(promise_id="cp-upload-1")
    assert promise.record == record and promise.next_attempt_at is None  # pulled once resolved
    status, body = sandbox.app_call(client_id=CID, bpid=bpid, action="status")
    assert body["status"] == "inreview"
    assert {i["slug"]: i["status"] for i in body["identities"]} == {
        "email": "received",
        "given_name": "received",
    }
    assert {"slug": "kyc-cert", "status": "received"} in body["certificates"]
    # The pending promise's slug is not reported "missing" (that would ask for a re-upload).
    assert {"slug": "onfido-service-cert", "status": ""} in body["certificates"]


def test_it_answers_not_found_for_an_unknown_customer(live_account: ProviderAccount) -> None:
    status, body = sandbox.app_call(client_id=CID, bpid="never-registered", action="status")
    assert status == 200
    assert body == {
        "status": "notFound",
        "allowCertPromise": True,
        "identities": [{"slug": "email", "status": ""}, {"slug": "given_name", "status": ""}],
        "certificates": [{"slug": "onfido-service-cert", "status": ""}],
    }


def test_it_refuses_bad_uploads(live_account: ProviderAccount) -> None:
    bpid, _ = _register()
    status, body = sandbox.app_upload(client_id=CID, bpid=bpid, fields={"email": "a@b.c"})
    assert status == 400 and body["msg"] == "Missing critical slug"
    status, body = sandbox.app_upload(
        client_id=CID, bpid=bpid, fields={"email": "a", "given_name": "b"}, access_token="forged"
    )
    assert status == 400 and body["msg"] == "Invalid Access Token"
    assert not IdentityField.objects.exists()


def test_it_hands_out_a_resubmit_session_for_the_listed_fields(
    live_account: ProviderAccount,
) -> None:
    bpid, _ = _register()
    sandbox.app_upload(client_id=CID, bpid=bpid, fields={"email": "old@x.y", "given_name": "A"})
    status, body = sandbox.app_call(
        client_id=CID,
        bpid=bpid,
        action="resubmit",
        extra={"fieldList": ["email"], "certList": []},
    )
    assert status == 200 and body["nextAction"] == "upload" and body["requiredFields"] == ["email"]
    status, _ = sandbox.app_upload(
        client_id=CID, bpid=bpid, fields={"email": "new@x.y"}, access_token=body["accessToken"]
    )
    assert status == 200
    assert IdentityField.objects.get(key="email").value == "new@x.y"


def test_it_refuses_a_code_blockpass_did_not_issue(live_account: ProviderAccount) -> None:
    import requests

    url = sandbox.service_get(CID)["merchant_url"] + "api/register"  # type: ignore[index]
    resp = requests.post(url, json={"code": "made-up"}, timeout=10)
    assert resp.status_code == 400 and "Handshake failed" in resp.json()["msg"]
    resp = requests.post(url.replace("register", "login"), json={"code": "x"}, timeout=10)
    assert resp.status_code == 400 and "sessionCode" in resp.json()["msg"]
    assert not KYCRecord.objects.exists()


def test_it_pulls_over_http_renewing_an_expired_token(live_account: ProviderAccount) -> None:
    bpid, _ = _register()
    record = KYCRecord.objects.get()
    old = services.record_token(record)
    sandbox.expire_tokens(bpid=bpid)  # Blockpass now answers 401 to the stored token
    pid = sandbox.promise_create(client_id=CID, bpid=bpid, slug="onfido-service-cert", raw="R1")
    promise = CertPromise.objects.create(
        merchant=record.merchant,
        record=record,
        promise_id=pid,
        next_attempt_at=record.created_at,
    )
    assert services.cert_promise_pull(promise_pk=promise.pk).state == "pulled"
    assert Certificate.objects.get(promise=promise).raw == b"R1"
    record.refresh_from_db()
    new = services.record_token(record)
    assert new is not None and old is not None and new.access_token != old.access_token
    assert sandbox.count("renewals") == 1 and sandbox.count(f"pulls:{pid}") == 1


def test_a_consumed_promise_ends_gone_with_a_message(live_account: ProviderAccount) -> None:
    bpid, _ = _register()
    record = KYCRecord.objects.get()
    pid = sandbox.promise_create(client_id=CID, bpid=bpid, slug="s", raw="R")
    sandbox.STATE.set(f"promise:{pid}", {"bpid": bpid, "pulled": True}, ttl=60)
    promise = CertPromise.objects.create(
        merchant=record.merchant,
        record=record,
        promise_id=pid,
        next_attempt_at=record.created_at,
    )
    outcome = services.cert_promise_pull(promise_pk=promise.pk)
    promise.refresh_from_db()
    assert outcome.state == promise.state == CertPromise.State.GONE
    assert "404" in promise.last_error and not Certificate.objects.exists()


@pytest.mark.parametrize(
    "secret,expected", [("demo-client-secret", "did not refuse"), ("bad", None)]
)
def test_it_tests_the_connection(live_account: ProviderAccount, secret: str, expected: Any) -> None:
    from kyc.errors import AuthenticationError
    from providers.blockpass.provider import BlockpassProvider

    settings = {**live_account.settings, "client_secret": secret}
    if expected:
        assert expected in BlockpassProvider().test_connection(settings=settings, state={})
    else:
        with pytest.raises(AuthenticationError):
            BlockpassProvider().test_connection(settings=settings, state={})


def test_it_stores_an_uploaded_file_as_an_encrypted_data_url(
    live_account: ProviderAccount,
) -> None:
    import requests

    bpid, answer = _register()
    url = sandbox.service_get(CID)["merchant_url"] + "api/upload"  # type: ignore[index]
    resp = requests.post(
        url,
        data={
            "accessToken": answer["accessToken"],
            "slugList": ["email", "given_name", "selfie"],
            "email": "a@b.c",
            "given_name": "A",
        },
        files={"selfie": ("me.png", b"\x89PNG-bytes", "image/png")},
        timeout=10,
    )
    assert resp.status_code == 200, resp.text
    assert IdentityField.objects.get(key="selfie").value == "data:image/png;base64,iVBORy1ieXRlcw=="
