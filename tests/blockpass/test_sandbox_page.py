"""The sandbox page plays the Blockpass console and app; clicks return at once."""

from __future__ import annotations

from typing import Any

from kyc.models import Certificate, CertPromise, IdentityField, InboundEvent, KYCRecord
from providers.blockpass import sandbox
from tests.conftest import wait_for


def test_it_configures_the_console(client: Any, db: Any) -> None:
    resp = client.post(
        "/sandbox/blockpass/",
        {
            "action": "configure",
            "client_id": "svc-x",
            "merchant_url": "http://m.example/hooks/x",
            "client_secret": "cs",
            "webhook_secret": "ws",
        },
    )
    assert resp.status_code == 302
    assert sandbox.service_get("svc-x") == {
        "client_id": "svc-x",
        "client_secret": "cs",
        "webhook_secret": "ws",
        "merchant_url": "http://m.example/hooks/x/",
    }
    page = client.get("/sandbox/blockpass/?client_id=svc-x")
    assert page.status_code == 200 and b"http://m.example/hooks/x/" in page.content


def test_the_app_page_registers_uploads_and_resolves(client: Any, live_account: Any) -> None:
    assert (
        client.post("/sandbox/blockpass/", {"action": "register", "name": "Ada"}).status_code == 302
    )
    record = wait_for(lambda: KYCRecord.objects.filter(provider="blockpass").first())
    bpid = record.external_id
    wait_for(lambda: sandbox.session_of(bpid))  # the app got its upload session
    assert bpid.encode() in client.get("/sandbox/blockpass/").content
    client.post(
        "/sandbox/blockpass/",
        {"action": "upload", "bpid": bpid, "email": "ada@example.com", "given_name": "Ada"},
    )
    wait_for(lambda: IdentityField.objects.filter(record=record).count() == 2)
    client.post("/sandbox/blockpass/", {"action": "ping"})
    wait_for(lambda: InboundEvent.objects.filter(state=InboundEvent.State.IGNORED).exists())
    client.post("/sandbox/blockpass/", {"action": "resolve", "bpid": bpid, "raw": "RAW"})
    # No worker in this test: run the processing the webhook enqueued.
    from kyc.tasks import process_inbound

    stored = wait_for(
        lambda: (
            InboundEvent.objects.filter(kind="certPormise.resolved")
            .values_list("pk", flat=True)
            .first()
        )
    )
    process_inbound(stored)
    promise = wait_for(lambda: CertPromise.objects.filter(record=record).first())
    # No worker in this test: the pull task was enqueued; run it here.
    from providers.blockpass.services import cert_promise_pull

    assert cert_promise_pull(promise_pk=promise.pk).state == "pulled"
    assert Certificate.objects.get(promise=promise).raw == b"RAW"


def test_the_sandbox_server_speaks_like_blockpass(client: Any, db: Any) -> None:
    code = sandbox.new_code(client_id="demo_service", bpid="bp-1")
    base = "/sandbox/blockpass/api/3rdService"
    creds = {"client_id": "demo_service", "client_secret": "demo-client-secret"}
    gen = client.post(
        f"{base}/token/generate",
        {**creds, "code": code, "grant_type": "authoriaztioncode", "session_code": None},
        content_type="application/json",
    )
    assert gen.status_code == 200
    tok = gen.json()["data"]
    assert set(tok) == {"access_token", "token_type", "expires_in", "refresh_token"}
    again = client.post(
        f"{base}/token/generate", {**creds, "code": code}, content_type="application/json"
    )
    assert again.status_code == 400  # codes are one-time
    access = tok["access_token"]
    assert client.get(f"{base}/user", HTTP_AUTHORIZATION=access).json()["data"]["id"] == "bp-1"
    assert client.get(f"{base}/user", HTTP_AUTHORIZATION=f"Bearer {access}").status_code == 401
    pid = sandbox.promise_create(client_id="demo_service", bpid="bp-1", slug="s", raw="R")
    first = client.get(f"{base}/merchant/promise/pull/{pid}", HTTP_AUTHORIZATION=access)
    assert first.json()["data"] == {"slug": "s", "raw": "R"}
    assert (
        client.get(f"{base}/merchant/promise/pull/{pid}", HTTP_AUTHORIZATION=access).status_code
        == 404
    )
    renewed = client.post(
        f"{base}/token/renew",
        {
            "stoc": access,
            "stoc_refresh": tok["refresh_token"],
            "client_secret": "demo-client-secret",
        },
        content_type="application/json",
    ).json()["data"]
    assert client.get(f"{base}/user", HTTP_AUTHORIZATION=access).status_code == 401
    assert client.get(f"{base}/user", HTTP_AUTHORIZATION=renewed["access_token"]).status_code == 200


def test_the_webhook_sender_retries_until_the_merchant_answers(db: Any) -> None:
    from unittest import mock

    sandbox.service_configure(
        client_id="s",
        client_secret="c",
        webhook_secret="w",
        merchant_url="http://merchant.invalid/hook/",
    )
    answers = [mock.Mock(status_code=503), mock.Mock(status_code=500), mock.Mock(status_code=200)]
    with (
        mock.patch("providers.blockpass.sandbox.requests.post", side_effect=answers) as post,
        mock.patch("providers.blockpass.sandbox.time.sleep"),
    ):
        d1 = sandbox.send_webhook(client_id="s", action="serviceInfo.updated", data={}, sync=True)
    assert post.call_count == 3
    sent = [c.kwargs["headers"] for c in post.call_args_list]
    assert {h["x-blockpass-delivery"] for h in sent} == {d1}  # retries keep the delivery id
    from providers.blockpass import signature

    body = post.call_args.kwargs["data"]
    assert sent[0]["x-blockpass-signature"] == signature.sign(body, "w")
    with (
        mock.patch(
            "providers.blockpass.sandbox.requests.post", return_value=mock.Mock(status_code=500)
        ) as post,
        mock.patch("providers.blockpass.sandbox.time.sleep"),
    ):
        d2 = sandbox.send_webhook(client_id="s", action="serviceInfo.updated", data={}, sync=True)
    assert post.call_count == sandbox.WEBHOOK_ATTEMPTS and d2 != d1  # bounded; fresh UUID
