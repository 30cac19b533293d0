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


def test_the_app_page_registers_uploads_and_resolves(client: Any, sandbox_account: Any) -> None:
    assert (
        client.post("/sandbox/blockpass/", {"action": "register", "name": "Ada"}).status_code == 302
    )
    record = wait_for(lambda: KYCRecord.objects.filter(provider="blockpass").first())
    bpid = record.external_id
    assert bpid.encode() in client.get("/sandbox/blockpass/").content
    client.post(
        "/sandbox/blockpass/",
        {"action": "upload", "bpid": bpid, "email": "ada@example.com", "given_name": "Ada"},
    )
    wait_for(lambda: IdentityField.objects.filter(record=record).count() == 2)
    client.post("/sandbox/blockpass/", {"action": "ping"})
    wait_for(lambda: InboundEvent.objects.filter(state=InboundEvent.State.IGNORED).exists())
    client.post("/sandbox/blockpass/", {"action": "resolve", "bpid": bpid, "raw": "RAW"})
    promise = wait_for(lambda: CertPromise.objects.filter(record=record).first())
    # No worker in this test: the pull task was enqueued; run it here.
    from kyc.flows.blockpass.services import cert_promise_pull

    assert cert_promise_pull(promise_pk=promise.pk).state == "pulled"
    assert Certificate.objects.get(promise=promise).raw == b"RAW"
