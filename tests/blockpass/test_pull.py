"""Pulling a resolved certificate promise: once, stored first, retried with a bound."""

from __future__ import annotations

import datetime as dt
import threading
import time
from typing import Any
from unittest import mock

import pytest
from django.db import connection
from django.utils import timezone

from kyc.errors import AuthenticationError, NotFoundError, RetryableError
from kyc.models import Certificate, CertPromise, KYCRecord
from providers.blockpass import services, tasks
from providers.blockpass.schemas import PulledCertificate, Token

RAW = b"-----CERT onfido secret-plaintext-marker-----"
PULL = "providers.blockpass.client.promise_pull"


def _promise(record: KYCRecord, *, now: dt.datetime | None = None) -> CertPromise:
    return CertPromise.objects.create(
        merchant=record.merchant,
        record=record,
        provider="blockpass",
        promise_id="cp-1",
        next_attempt_at=now or timezone.now(),
    )


def _ok(**_: Any) -> PulledCertificate:
    return PulledCertificate(slug="onfido-service-cert", raw=RAW)


@pytest.mark.django_db
def test_it_stores_the_certificate_encrypted_and_never_pulls_again(bp_record: KYCRecord) -> None:
    promise = _promise(bp_record)
    with mock.patch(PULL, side_effect=_ok) as pull:
        assert services.cert_promise_pull(promise_pk=promise.pk).state == "pulled"
        assert services.cert_promise_pull(promise_pk=promise.pk).state == "skipped"
    pull.assert_called_once()
    assert pull.call_args.kwargs["access_token"] == "acc-1"
    cert = Certificate.objects.get()
    assert (cert.record, cert.promise, cert.slug, cert.raw) == (
        bp_record,
        promise,
        "onfido-service-cert",
        RAW,
    )
    with connection.cursor() as cur:
        cur.execute("SELECT raw FROM kyc_certificate WHERE id = %s", [cert.pk])
        stored = cur.fetchone()[0]
    assert b"secret-plaintext-marker" not in stored.encode() and stored.startswith("fernet:")
    promise.refresh_from_db()
    assert promise.state == CertPromise.State.PULLED
    bp_record.refresh_from_db()
    assert bp_record.review_status == KYCRecord.Review.IN_REVIEW


@pytest.mark.django_db
def test_it_retries_503s_with_backoff_and_stores_one_certificate(bp_record: KYCRecord) -> None:
    t0 = timezone.now()
    promise = _promise(bp_record, now=t0)
    answers = [RetryableError("503", status=503), RetryableError("503", status=503), _ok()]
    with mock.patch(PULL, side_effect=answers) as pull:
        first = services.cert_promise_pull(promise_pk=promise.pk, now=t0)
        assert (first.state, first.retry_in) == ("pending", 2)
        # Not due yet: an early duplicate task does nothing.
        assert services.cert_promise_pull(promise_pk=promise.pk, now=t0).state == "skipped"
        second = services.cert_promise_pull(promise_pk=promise.pk, now=t0 + dt.timedelta(seconds=2))
        assert (second.state, second.retry_in) == ("pending", 4)
        third = services.cert_promise_pull(promise_pk=promise.pk, now=t0 + dt.timedelta(seconds=6))
        assert third.state == "pulled"
    assert pull.call_count == 3
    assert Certificate.objects.count() == 1
    promise.refresh_from_db()
    assert promise.attempts == 3 and promise.last_error == ""


@pytest.mark.django_db
def test_it_gives_up_after_the_bound(bp_record: KYCRecord) -> None:
    promise = _promise(bp_record)
    CertPromise.objects.filter(pk=promise.pk).update(attempts=services.PULL_MAX_ATTEMPTS - 1)
    with mock.patch(PULL, side_effect=RetryableError("timed out")):
        outcome = services.cert_promise_pull(promise_pk=promise.pk)
    assert outcome.state == CertPromise.State.FAILED and outcome.retry_in is None
    promise.refresh_from_db()
    assert "Gave up after" in promise.last_error


@pytest.mark.django_db
def test_it_marks_a_404_gone_with_a_message_and_stops(bp_record: KYCRecord) -> None:
    promise = _promise(bp_record)
    with mock.patch(PULL, side_effect=NotFoundError("404", status=404)) as pull:
        assert services.cert_promise_pull(promise_pk=promise.pk).state == CertPromise.State.GONE
        assert services.cert_promise_pull(promise_pk=promise.pk).state == "skipped"
        with mock.patch("providers.blockpass.services._enqueue_pull") as enqueue:
            assert services.reconcile(now=timezone.now() + dt.timedelta(days=1)) == 0
        enqueue.assert_not_called()
    pull.assert_called_once()
    promise.refresh_from_db()
    assert promise.state == CertPromise.State.GONE
    assert "already pulled or has expired" in promise.last_error
    assert not Certificate.objects.exists()


@pytest.mark.django_db
def test_it_renews_once_on_401_retries_once_and_persists_the_token(bp_record: KYCRecord) -> None:
    promise = _promise(bp_record)
    renewed = Token(
        access_token="acc-2",
        refresh_token="ref-2",
        expires_at=timezone.now() + dt.timedelta(hours=1),
    )
    with (
        mock.patch(PULL, side_effect=[AuthenticationError("401", status=401), _ok()]) as pull,
        mock.patch("providers.blockpass.client.token_renew", return_value=renewed) as renew,
    ):
        assert services.cert_promise_pull(promise_pk=promise.pk).state == "pulled"
    renew.assert_called_once()
    assert renew.call_args.kwargs["token"].refresh_token == "ref-1"
    assert [c.kwargs["access_token"] for c in pull.call_args_list] == ["acc-1", "acc-2"]
    bp_record.refresh_from_db()
    assert bp_record.secrets["blockpass_token"]["access_token"] == "acc-2"


@pytest.mark.django_db
def test_it_does_not_loop_when_the_renewed_token_is_refused_too(bp_record: KYCRecord) -> None:
    promise = _promise(bp_record)
    renewed = Token(access_token="acc-2", refresh_token="ref-2")
    refused = AuthenticationError("401", status=401)
    with (
        mock.patch(PULL, side_effect=[refused, refused, _ok()]) as pull,
        mock.patch("providers.blockpass.client.token_renew", return_value=renewed) as renew,
    ):
        assert services.cert_promise_pull(promise_pk=promise.pk).state == CertPromise.State.FAILED
    assert pull.call_count == 2 and renew.call_count == 1


@pytest.mark.django_db
def test_it_renews_an_expired_token_before_calling(bp_record: KYCRecord) -> None:
    secrets = bp_record.secrets
    secrets["blockpass_token"]["expires_at"] = (
        timezone.now() - dt.timedelta(minutes=1)
    ).isoformat()
    KYCRecord.objects.filter(pk=bp_record.pk).update(secrets=secrets)
    promise = _promise(bp_record)
    renewed = Token(access_token="acc-3", refresh_token="ref-3")
    with (
        mock.patch(PULL, side_effect=_ok) as pull,
        mock.patch("providers.blockpass.client.token_renew", return_value=renewed),
    ):
        services.cert_promise_pull(promise_pk=promise.pk)
    assert pull.call_args.kwargs["access_token"] == "acc-3"
    bp_record.refresh_from_db()
    assert bp_record.secrets["blockpass_token"]["access_token"] == "acc-3"


@pytest.mark.django_db
def test_the_task_reschedules_with_a_bounded_countdown(bp_record: KYCRecord, settings: Any) -> None:
    promise = _promise(bp_record)
    with (
        mock.patch(PULL, side_effect=RetryableError("503", status=503)),
        mock.patch.object(tasks.pull_cert_promise, "apply_async") as again,
    ):
        tasks.pull_cert_promise(promise.pk)
        again.assert_called_once_with((promise.pk,), countdown=2)
        # A wait longer than CELERY_MAX_COUNTDOWN is left to next_attempt_at + reconcile().
        again.reset_mock()
        settings.CELERY_MAX_COUNTDOWN = 3
        CertPromise.objects.filter(pk=promise.pk).update(next_attempt_at=timezone.now())
        tasks.pull_cert_promise(promise.pk)
        again.assert_not_called()
    promise.refresh_from_db()
    assert promise.next_attempt_at > timezone.now() + dt.timedelta(seconds=3)
    with mock.patch("providers.blockpass.services._enqueue_pull") as enqueue:
        assert services.reconcile(now=timezone.now()) == 0
        assert services.reconcile(now=promise.next_attempt_at) == 1
    enqueue.assert_called_once_with(promise.pk)


@pytest.mark.django_db(transaction=True)
def test_two_concurrent_pulls_make_one_call(bp_record: KYCRecord) -> None:
    promise = _promise(bp_record)
    calls: list[int] = []

    def slow_pull(**_: Any) -> PulledCertificate:
        calls.append(1)
        time.sleep(0.5)
        return _ok()

    results: list[str] = []

    def run() -> None:
        try:
            results.append(services.cert_promise_pull(promise_pk=promise.pk).state)
        finally:
            connection.close()

    with mock.patch(PULL, side_effect=slow_pull):
        threads = [threading.Thread(target=run) for _ in range(2)]
        for t in threads:
            t.start()
        for t in threads:
            t.join(10)
    assert len(calls) == 1
    assert sorted(results) == ["pulled", "skipped"]
    assert Certificate.objects.count() == 1
