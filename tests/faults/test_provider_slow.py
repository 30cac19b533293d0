"""A provider answering slowly or with 5xx: every call has a timeout, idempotent calls
are retried a bounded number of times with backoff, POSTs never; task retries back off,
give up after a bound, and never schedule a countdown beyond the broker's visibility
timeout (longer waits go through the database and beat)."""

from __future__ import annotations

import datetime as dt
import time
from unittest import mock

import pytest
from celery.app.task import Task
from django.conf import settings
from django.utils import timezone

from kyc import http
from kyc.errors import RetryableError
from kyc.models import CertPromise, Merchant
from tests.contract.deliveries import pending_request, sandbox_account
from tests.faults.conftest import blockpass_customer, due_promise
from tests.faults.fake_provider import FakeProvider


def test_it_bounds_every_provider_call_by_a_timeout(promise) -> None:
    connect, read = http.DEFAULT_TIMEOUT
    assert 0 < connect <= 10 and 0 < read <= 30
    fake = FakeProvider(lambda m, p, n: (time.sleep(3), (200, {}))[1])
    try:
        started = time.monotonic()
        with pytest.raises(RetryableError) as err:
            http.call(
                "POST",
                fake.url + "/slow",
                provider="corepass",
                sess=http.session(timeout=(0.5, 0.5), retries=2),
                json={},
            )
        assert time.monotonic() - started < 2.5 and err.value.code == "provider_timeout"
        assert len(fake.calls) == 1  # a POST that timed out is not sent again
    finally:
        fake.close()
    promise("provider_slow", 1, "slow calls cut by a timeout")


def test_it_retries_idempotent_calls_with_backoff_and_posts_never() -> None:
    fake = FakeProvider(lambda m, p, n: (503, {"error": "busy"}))
    try:
        with pytest.raises(RetryableError):
            http.call("GET", fake.url + "/thing", provider="corepass", sess=http.session(retries=2))
        assert len(fake.calls) == 3  # first try + 2 retries, then the caller decides
        gaps = [b[0] - a[0] for a, b in zip(fake.calls, fake.calls[1:], strict=False)]
        assert gaps[-1] >= 0.3  # urllib3 backoff: 0, 0.4 s
        fake.calls.clear()
        with pytest.raises(RetryableError):
            http.call(
                "POST",
                fake.url + "/thing",
                provider="corepass",
                sess=http.session(retries=2),
                json={},
            )
        assert len(fake.calls) == 1
    finally:
        fake.close()


@pytest.mark.django_db
def test_it_backs_off_task_retries_within_the_visibility_timeout_and_gives_up(promise) -> None:
    from providers.blockpass import services, tasks

    visibility = settings.CELERY_BROKER_TRANSPORT_OPTIONS.get("visibility_timeout", 3600)
    assert settings.CELERY_MAX_COUNTDOWN < visibility

    fake = FakeProvider(lambda m, p, n: (503, {"error": "down"}))
    countdowns: list[float] = []
    real_apply_async = Task.apply_async

    def capture(self, args=None, kwargs=None, **options):
        if options.get("countdown") is not None:
            countdowns.append(options["countdown"])
            return None  # scheduled, not sent: the test plays the clock
        return real_apply_async(self, args, kwargs, **options)

    try:
        merchant, record = blockpass_customer(
            slug="sl", api_url=fake.url, token_valid_for=dt.timedelta(days=1)
        )
        p = due_promise(record, "p")
        delays: list[float] = []
        with mock.patch.object(Task, "apply_async", capture):
            for _ in range(services.PULL_MAX_ATTEMPTS + 3):
                p.refresh_from_db()
                if p.state != CertPromise.State.PENDING:
                    break
                # the clock jumps to the next attempt (as beat's reconcile would find it due)
                CertPromise.objects.filter(pk=p.pk).update(next_attempt_at=timezone.now())
                before = timezone.now()
                tasks.pull_cert_promise(p.pk)
                p.refresh_from_db()
                if p.next_attempt_at:
                    delays.append((p.next_attempt_at - before).total_seconds())
        p.refresh_from_db()
        assert p.state == CertPromise.State.FAILED and "Gave up" in p.last_error
        assert len(fake.calls) == services.PULL_MAX_ATTEMPTS  # one call per attempt: no hot loop
        assert delays == sorted(delays) and delays[0] >= 1  # backing off
        assert all(c <= settings.CELERY_MAX_COUNTDOWN <= visibility for c in countdowns)
        assert max(delays) > settings.CELERY_MAX_COUNTDOWN or len(countdowns) == len(delays)
    finally:
        fake.close()
    promise("provider_slow", len(fake.calls), "failed provider calls, all backed off")


@pytest.mark.django_db
def test_it_asks_a_down_connector_once_per_stale_period(promise) -> None:
    from providers.corepass import services

    merchant = Merchant.objects.create(name="cd", slug="cd")
    account = sandbox_account(merchant, "corepass")  # the connector is down (closed port)
    pending_request(account, "cd", last_heard_at=timezone.now() - dt.timedelta(hours=1))
    sent: list[str] = []
    with mock.patch.object(Task, "apply_async", lambda self, *a, **k: sent.append(self.name)):
        runs = [services.reconcile() for _ in range(5)]  # beat every minute, connector down
    assert runs == [1, 0, 0, 0, 0] and len(sent) == 1
    promise("provider_slow", 5, "reconcile rounds against a down connector")
