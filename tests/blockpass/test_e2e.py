"""End to end: the sandbox Blockpass app registers, resolves a promise through the webhook,
and a real Celery worker pulls the certificate once (through two 503s)."""

from __future__ import annotations

import time
from typing import Any

import pytest
from django.db import connection

from kyc.models import Certificate, CertPromise, InboundEvent, KYCRecord, ProviderAccount
from providers.blockpass import sandbox, tasks
from tests.conftest import wait_for

CID = "demo_service"
RAW = '{"cert":"onfido","marker":"e2e-plaintext-marker"}'


@pytest.mark.worker
def test_it_lands_a_resolved_certificate_once(
    public_url: str, live_account: ProviderAccount, celery_worker_process: Any
) -> None:
    reg = sandbox.app_register(client_id=CID, name="Ada")
    assert reg["status"] == 200
    bpid = reg["bpid"]
    status, _ = sandbox.app_upload(
        client_id=CID, bpid=bpid, fields={"email": "ada@example.com", "given_name": "Ada"}
    )
    assert status == 200

    # Blockpass resolves the promise; its first two pulls answer 503.
    pid, delivery = sandbox.app_resolve_promise(
        client_id=CID, bpid=bpid, slug="onfido-service-cert", raw=RAW, fail=2
    )
    cert = wait_for(lambda: Certificate.objects.filter(external_id=pid).first(), timeout=30)
    record = KYCRecord.objects.get()
    assert cert.record == record and cert.slug == "onfido-service-cert"
    assert cert.raw == RAW.encode()
    with connection.cursor() as cur:
        cur.execute("SELECT raw FROM kyc_certificate WHERE id = %s", [cert.pk])
        assert "e2e-plaintext-marker" not in cur.fetchone()[0]
    promise = CertPromise.objects.get(promise_id=pid)
    assert promise.state == CertPromise.State.PULLED and promise.attempts == 3
    assert sandbox.count(f"pull-calls:{pid}") == 3 and sandbox.count(f"pulls:{pid}") == 1

    # A replay of the same delivery, and a stray pull task, change nothing.
    sandbox.replay_last(client_id=CID)
    wait_for(lambda: InboundEvent.objects.filter(state=InboundEvent.State.DUPLICATE).exists())
    tasks.pull_cert_promise.delay(promise.pk)
    time.sleep(1.0)  # give the worker the chance to (wrongly) pull again
    assert sandbox.count(f"pull-calls:{pid}") == 3
    assert Certificate.objects.count() == 1
    assert (
        InboundEvent.objects.filter(headers__contains={"x-blockpass-delivery": delivery}).count()
        == 2
    )

    # The app asks for the status: the certificate is reported received.
    status, body = sandbox.app_call(client_id=CID, bpid=bpid, action="status")
    assert status == 200 and body["status"] == "inreview"
    assert {"slug": "onfido-service-cert", "status": "received"} in body["certificates"]
