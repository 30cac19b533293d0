"""A worker SIGKILLed in the middle of a provider call: after restart the work is done
again (the database knows it is unfinished, beat's reconcile re-enqueues it) and its
effect happens once."""

from __future__ import annotations

import datetime as dt
import time

import pytest
from django.utils import timezone

from kyc.models import Certificate, CertPromise, KYCRecord, Merchant, ProviderAccount
from tests.conftest import wait_for
from tests.contract.deliveries import blockpass_account
from tests.faults.conftest import blockpass_customer, due_promise
from tests.faults.fake_provider import FakeProvider


def queue_empty() -> bool:
    import redis
    from django.conf import settings

    return redis.Redis.from_url(settings.CELERY_BROKER_URL).llen("celery") == 0


def test_it_configures_celery_to_redeliver_on_worker_loss() -> None:
    from portal.celery import app

    assert app.conf.task_acks_late and app.conf.task_reject_on_worker_lost
    assert app.conf.worker_prefetch_multiplier == 1


@pytest.mark.worker
def test_it_redoes_a_pull_killed_mid_call_and_stores_it_once(start_worker, promise) -> None:
    from providers.blockpass import services, tasks

    def reply(method: str, path: str, n: int):
        if n == 1:
            fake.hold()  # the first pull hangs: the worker is killed inside it
        return 200, {
            "status": "success",
            "data": {"slug": "onfido-service-cert", "raw": "RAW-CERT-1"},
        }

    fake = FakeProvider(reply)
    try:
        merchant = Merchant.objects.create(name="wk", slug="wk")
        blockpass_account(merchant, api_url=fake.url)
        expires = (timezone.now() + dt.timedelta(hours=1)).isoformat()
        record = KYCRecord.objects.create(
            merchant=merchant,
            reference="wk",
            provider="blockpass",
            secrets={
                services.SECRETS_KEY: {
                    "access_token": "tok",
                    "refresh_token": "r",
                    "expires_at": expires,
                }
            },
        )
        p = due_promise(record, "p-1")
        worker = start_worker()
        tasks.pull_cert_promise.delay(p.pk)
        assert fake.arrived.wait(30), "the worker never called the provider"
        worker.kill()  # SIGKILL in the middle of the HTTP call
        p.refresh_from_db()
        assert p.state == CertPromise.State.PENDING and not Certificate.objects.exists()

        start_worker()
        # the lease of the dead worker runs out (2 minutes, skipped here), then beat reconciles
        CertPromise.objects.filter(pk=p.pk).update(next_attempt_at=timezone.now())
        assert services.reconcile() == 1
        wait_for(
            lambda: CertPromise.objects.get(pk=p.pk).state == CertPromise.State.PULLED, timeout=30
        )
        # more reconciles and a duplicate message change nothing
        tasks.pull_cert_promise.delay(p.pk)
        assert services.reconcile() == 0
        cert = Certificate.objects.get()
        assert cert.raw == b"RAW-CERT-1" and cert.promise_id == p.pk
        wait_for(lambda: queue_empty(), timeout=10)
        time.sleep(0.5)  # the duplicate message has been taken; let it finish
        assert len(fake.calls) == 2  # the killed call and the one that stored it
        promise("worker_killed", 1, "tasks killed mid provider call")
    finally:
        fake.close()


@pytest.mark.worker
def test_it_redoes_a_reconciliation_killed_mid_call_and_applies_it_once(
    start_worker, promise
) -> None:
    from django.core.cache import cache

    from kyc.models import TransferEvent, TransferRequest
    from providers.corepass import services

    statuses = {
        "AllStatuses": [
            {"status": "ACCEPTED", "created_at": 2, "tx_hash": "0xacc"},
            {"status": "PENDING", "created_at": 1, "tx_hash": ""},
        ]
    }

    def reply(method: str, path: str, n: int):
        if n == 1:
            fake.hold()
        return 200, statuses

    fake = FakeProvider(reply)
    try:
        merchant = Merchant.objects.create(name="rc", slug="rc")
        account = ProviderAccount.objects.create(
            merchant=merchant,
            provider="corepass",
            enabled=True,
            settings={"connector_url": fake.url, "connector_public_key": "00" * 57},
        )
        old = timezone.now() - dt.timedelta(minutes=10)
        t = TransferRequest.objects.create(
            merchant=merchant,
            account=account,
            provider="corepass",
            reference="rc",
            subject="ab00" + "0" * 40,
            items=["SH_EMAIL"],
            status="pending",
            last_heard_at=old,
            expires_at=timezone.now() + dt.timedelta(minutes=10),
        )
        worker = start_worker()
        assert services.reconcile() == 1
        assert fake.arrived.wait(30)
        worker.kill()
        t.refresh_from_db()
        assert t.status == "pending"

        start_worker()
        # the stale period passes (skipped here): beat's reconcile asks again
        cache.delete(f"corepass-reconcile:{t.pk}")
        assert services.reconcile() == 1
        wait_for(lambda: TransferRequest.objects.get(pk=t.pk).status == "accepted", timeout=30)
        # and again later: the same answer adds nothing
        TransferRequest.objects.filter(pk=t.pk).update(last_heard_at=old)
        cache.delete(f"corepass-reconcile:{t.pk}")
        assert services.reconcile() == 1
        wait_for(lambda: len(fake.calls) >= 3, timeout=30)
        wait_for(queue_empty, timeout=10)
        time.sleep(0.5)
        accepted = TransferEvent.objects.filter(transfer=t, provider_status="ACCEPTED")
        assert accepted.count() == 1, list(accepted.values("detail", "source"))
        promise("worker_killed", 1, "tasks killed mid provider call")
    finally:
        fake.close()


@pytest.mark.worker
def test_it_resumes_an_issuance_killed_mid_step_and_issues_once(
    merchant, live_server, start_worker, promise
) -> None:
    from kyc.models import Certificate
    from providers.sunbird import services as sunbird
    from providers.sunbird.models import IssuanceRun
    from providers.sunbird.provider import SunbirdProvider
    from tests.sunbird.conftest import make_run

    ProviderAccount.objects.create(
        merchant=merchant,
        provider="sunbird",
        enabled=True,
        settings=SunbirdProvider().sandbox_settings(
            sandbox_url=f"{live_server.url}/sandbox/sunbird"
        ),
    )
    base = f"{live_server.url}/sandbox/sunbird"
    import requests

    learners = 60
    requests.post(
        f"{base}/console/batch/batch-k",
        json={"learners": learners, "delay": 0.2, "rate": 40},
        timeout=10,
    )
    fast = {"SUNBIRD_POLL_SECONDS": "0.3"}
    first = start_worker(extra_env=fast)
    run = make_run(merchant, batch_id="batch-k", enqueue=True, expected_count=learners)

    def collecting() -> bool:
        run.refresh_from_db()
        return run.current_step == "collect" and 0 < run.collected_count < learners

    wait_for(collecting, timeout=30, interval=0.05)
    first.kill()
    start_worker(extra_env=fast)
    assert sunbird.reconcile(stale_after=0) == 1  # beat: a run whose heartbeat went quiet
    wait_for(lambda: IssuanceRun.objects.get(pk=run.pk).status in ("done", "failed"), timeout=40)
    run.refresh_from_db()
    assert run.status == "done", run.last_error
    assert Certificate.objects.filter(merchant=merchant, batch_id="batch-k").count() == learners
    counts = requests.get(f"{base}/console/state", timeout=10).json()["counts"]
    assert counts["issue"] == 1 and counts["assign_key"] == 1  # the issuing call happened once
    promise("worker_killed", 1, "tasks killed mid provider call")


@pytest.mark.soak
@pytest.mark.worker
def test_it_survives_repeated_kills_during_many_pulls(start_worker, promise) -> None:
    """Soak: 24 pulls, a worker killed every time the provider holds a call (every 5th);
    every certificate stored exactly once in the end."""
    import threading

    from providers.blockpass import services

    n = 24
    held: list[int] = []

    def reply(method: str, path: str, call: int):
        if call % 5 == 1:
            held.append(call)
            threading.Event().wait(20)  # hangs until the worker holding it is killed
        promise_id = path.rsplit("/", 1)[-1]
        return 200, {"data": {"slug": "onfido-service-cert", "raw": f"RAW-{promise_id}"}}

    fake = FakeProvider(reply)
    try:
        merchant, record = blockpass_customer(
            slug="sk", api_url=fake.url, token_valid_for=dt.timedelta(hours=1)
        )
        for i in range(n):
            due_promise(record, f"p{i}")
        pending = CertPromise.objects.filter(state=CertPromise.State.PENDING)
        kills = 0
        worker = start_worker()
        for _ in range(40):
            seen = len(held)
            pending.update(next_attempt_at=timezone.now())  # leases of the dead run out
            services.reconcile()
            try:
                wait_for(lambda: not pending.exists() or len(held) > seen, timeout=30)
            except AssertionError:
                continue
            if not pending.exists():
                break
            worker.kill()
            kills += 1
            worker = start_worker()
        assert not pending.exists()
        certs = Certificate.objects.filter(merchant=merchant)
        assert certs.count() == n
        assert sorted(c.raw for c in certs) == sorted(f"RAW-p{i}".encode() for i in range(n))
        assert kills >= 3
        promise("worker_killed", kills, "tasks killed mid provider call")
    finally:
        fake.close()
