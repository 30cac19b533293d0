"""Signed delivery to a real receiver: every event, retries, rotation, disabling, replay.

The receiver verifies each request with the `standardwebhooks` package (the spec's own
implementation), so a wrong header, body or signature fails these tests.
"""

from __future__ import annotations

import datetime as dt
from typing import Any
from unittest import mock

import pytest
from django.db import transaction
from django.utils import timezone
from standardwebhooks.webhooks import Webhook, WebhookVerificationError

from kyc import outbox, services
from kyc.errors import InvalidInput
from kyc.models import (
    AuditEntry,
    ReviewState,
    TransferRequest,
    WebhookAttempt,
    WebhookDelivery,
    WebhookMessage,
)
from kyc.services import StatusUpdate
from kyc.status import Status
from tests import factories
from tests.outbox.conftest import Receiver, Shop, deliver_all, make_transfer

pytestmark = pytest.mark.django_db


def verified(receiver: Receiver, secret: str) -> list[dict[str, Any]]:
    """Every received payload, each checked against `secret` as a receiver would."""
    wh = Webhook(secret)
    return [wh.verify(r.body, r.headers) for r in receiver.requests]


def apply_status(transfer: TransferRequest, status: str, source: str = "callback") -> None:
    """The request moves to `status`, reported through `source` (a provider callback)."""
    services.transfer_apply(
        transfer_id=transfer.pk, update=StatusUpdate(status=status), source=source
    )


def test_it_delivers_a_status_change_signed_with_the_endpoint_secret(
    shop: Shop, receiver: Receiver
) -> None:
    transfer = make_transfer(shop)
    apply_status(transfer, Status.COMPLETED)
    deliver_all()
    payloads = verified(receiver, shop.secret)
    assert [p["type"] for p in payloads] == ["verification.updated", "verification.completed"]
    data = payloads[0]["data"]
    assert data["id"] == str(transfer.pk) and data["status"] == "completed"
    assert data["reference"] == "order-1" and isinstance(data["sequence"], int)
    assert payloads[0]["timestamp"].endswith("Z")
    headers = receiver.requests[0].headers
    assert headers["webhook-id"].startswith("msg_")
    assert headers["content-type"] == "application/json"
    # Another secret does not verify: the signature is really the endpoint's.
    with pytest.raises(WebhookVerificationError):
        Webhook(outbox.new_secret()).verify(receiver.requests[0].body, headers)
    assert set(WebhookDelivery.objects.values_list("state", flat=True)) == {"succeeded"}


def test_it_numbers_changes_of_one_object_in_order(shop: Shop, receiver: Receiver) -> None:
    transfer = make_transfer(shop)
    for status in (Status.PENDING, Status.ACCEPTED, Status.PROCESSING):
        apply_status(transfer, status)
    deliver_all()
    updates = [p for p in verified(receiver, shop.secret) if p["type"] == "verification.updated"]
    by_sequence = sorted(updates, key=lambda p: p["data"]["sequence"])
    assert [p["data"]["status"] for p in by_sequence] == ["pending", "accepted", "processing"]
    assert len({p["data"]["sequence"] for p in updates}) == 3


def test_it_sends_nothing_for_a_callback_that_changes_no_status(
    shop: Shop, receiver: Receiver
) -> None:
    transfer = make_transfer(shop)
    apply_status(transfer, Status.PENDING)
    apply_status(transfer, Status.PENDING)  # the same status again (a repeated callback)
    assert WebhookMessage.objects.filter(event_type="verification.updated").count() == 1


@pytest.mark.parametrize(
    ("status", "event"),
    [
        (Status.FAILED, "verification.failed"),
        (Status.DECLINED, "verification.failed"),
        (Status.EXPIRED, "verification.expired"),
        (Status.CANCELLED, "verification.canceled"),
        (Status.COMPLETED, "verification.completed"),
    ],
)
def test_it_sends_the_end_event_of_each_terminal_status(
    status: str, event: str, shop: Shop, receiver: Receiver
) -> None:
    transfer = make_transfer(shop)
    apply_status(transfer, status)
    deliver_all()
    assert [p["type"] for p in verified(receiver, shop.secret)] == ["verification.updated", event]


def test_it_delivers_every_event_type(shop: Shop, receiver: Receiver) -> None:
    from providers.blockpass import services as blockpass
    from providers.blockpass.schemas import PulledCertificate
    from providers.sunbird import services as sunbird
    from providers.sunbird.models import IssuanceStep
    from tests.corepass.conftest import USER
    from tests.sunbird.conftest import make_run

    # verification.created (+ updated and failed: the provider is stubbed to refuse)
    adapter = type(services.registry.get("corepass"))
    with (
        mock.patch.object(adapter, "validate_start", return_value=(USER, ["SH_EMAIL"])),
        mock.patch.object(adapter, "start_transfer", side_effect=InvalidInput("stubbed")),
        pytest.raises(InvalidInput),
    ):
        services.transfer_create(merchant=shop.merchant, provider="corepass", reference="r-1")
    transfer = make_transfer(shop, "r-2")
    apply_status(transfer, Status.COMPLETED)
    expired = make_transfer(shop, "r-3")
    TransferRequest.objects.filter(pk=expired.pk).update(
        expires_at=timezone.now() - dt.timedelta(minutes=1)
    )
    services.transfer_expire_overdue()
    apply_status(make_transfer(shop, "r-4"), Status.FAILED)
    apply_status(make_transfer(shop, "r-5"), Status.CANCELLED, source="staff")
    # record.review_decided: every item of a Blockpass record approved
    record = factories.KYCRecordFactory(
        merchant=shop.merchant, reference="bp-1", provider="blockpass"
    )
    factories.IdentityFieldFactory(
        record=record, key="email", value="x", status=ReviewState.APPROVED
    )
    blockpass.record_review_recompute(record=record)
    # certificate.received: a pulled certificate promise
    promise = factories.CertPromiseFactory(record=record, promise_id="p-1")
    blockpass.cert_promise_store(promise=promise, pulled=PulledCertificate(slug="c", raw=b"{}"))
    # issuance.run.finished: the last step of a Sunbird run finishes
    factories.ProviderAccountFactory(
        merchant=shop.merchant,
        provider="sunbird",
        settings={"base_url": "https://sunbird.example.org"},  # never called here
    )
    run = make_run(shop.merchant)
    last = run.steps.order_by("-order").first()
    run.steps.exclude(pk=last.pk).update(status=IssuanceStep.Status.DONE)
    sunbird._finish(run_id=run.pk, name=last.name, result=sunbird.StepResult({}, {}))
    # ping
    outbox.webhook_endpoint_test(endpoint=shop.endpoint)

    deliver_all()
    types = [p["type"] for p in verified(receiver, shop.secret)]
    assert set(types) == set(outbox.EVENT_TYPES), sorted(set(outbox.EVENT_TYPES) - set(types))
    assert len(receiver.ids()) == len(set(receiver.ids()))  # one id per message


def test_it_creates_a_created_event_in_the_transaction_of_the_request(
    shop: Shop, receiver: Receiver
) -> None:
    """transfer_create commits the request before calling the provider: the created
    message is in that commit, so a crash during the provider call still reports it."""
    adapter = type(services.registry.get("corepass"))
    boom = RuntimeError("worker killed during the provider call")
    from tests.corepass.conftest import USER

    with (
        mock.patch.object(adapter, "validate_start", return_value=(USER, ["SH_EMAIL"])),
        mock.patch.object(adapter, "start_transfer", side_effect=boom),
        pytest.raises(RuntimeError),
    ):
        services.transfer_create(merchant=shop.merchant, provider="corepass", reference="r-1")
    assert list(WebhookMessage.objects.values_list("event_type", flat=True)) == [
        "verification.created"
    ]


def test_it_writes_no_message_when_the_change_rolls_back(shop: Shop) -> None:
    transfer = make_transfer(shop)
    with pytest.raises(RuntimeError), transaction.atomic():
        apply_status(transfer, Status.COMPLETED, source="poll")
        assert WebhookMessage.objects.count() == 2  # written inside the change's transaction
        raise RuntimeError("the request failed after the status change")
    assert WebhookMessage.objects.count() == 0
    transfer.refresh_from_db()
    assert transfer.status == Status.CREATED


def test_it_enqueues_sending_only_after_commit(shop: Shop) -> None:
    transfer = make_transfer(shop)
    with mock.patch("kyc.outbox._enqueue_dispatch") as enqueue:
        with transaction.atomic():
            apply_status(transfer, Status.PENDING, source="poll")
            assert not enqueue.called
    # pytest-django keeps the test in a transaction: run what a real commit would run
    # (the equivalent with django_capture_on_commit_callbacks).
    message = WebhookMessage.objects.get()
    with mock.patch("kyc.tasks.dispatch_webhook_message.delay") as delay:
        outbox._enqueue_dispatch(message.pk)
    delay.assert_called_once_with(message.pk)


def test_it_runs_the_dispatch_on_commit(
    shop: Shop, django_capture_on_commit_callbacks: Any
) -> None:
    transfer = make_transfer(shop)
    with (
        mock.patch("kyc.tasks.dispatch_webhook_message.delay") as delay,
        django_capture_on_commit_callbacks(execute=True),
    ):
        apply_status(transfer, Status.PENDING, source="poll")
    message = WebhookMessage.objects.get()
    delay.assert_called_once_with(message.pk)


def test_it_retries_with_the_same_id_until_a_2xx(shop: Shop, receiver: Receiver) -> None:
    receiver.script = [500, 500]
    outbox.webhook_endpoint_test(endpoint=shop.endpoint)
    deliver_all()
    assert len(receiver.requests) == 3
    assert len(set(receiver.ids())) == 1
    verified(receiver, shop.secret)  # every attempt is signed
    delivery = WebhookDelivery.objects.get()
    assert delivery.state == "succeeded" and delivery.attempts == 3
    attempts = list(delivery.attempts_log.order_by("at", "id"))
    assert [a.status_code for a in attempts] == [500, 500, 200]
    assert attempts[-1].response_body == '{"ok": true}'
    assert all(a.latency_ms >= 0 for a in attempts)
    shop.endpoint.refresh_from_db()
    assert shop.endpoint.failing_since is None and shop.endpoint.last_success_at is not None


def test_it_schedules_retries_from_the_setting_with_jitter(
    shop: Shop, receiver: Receiver, settings: Any
) -> None:
    settings.WEBHOOK_RETRY_SCHEDULE = [0, 300, 1800]
    receiver.default = 503
    outbox.webhook_endpoint_test(endpoint=shop.endpoint)
    deliver_all()
    delivery = WebhookDelivery.objects.get()
    assert delivery.attempts == 1 and delivery.state == "pending"
    wait = (delivery.next_attempt_at - delivery.attempts_log.get().at).total_seconds()
    assert 270 <= wait <= 330  # 300 s ± 10 %
    # Not due yet: the sweeper's send does nothing now, and sends once it is due.
    assert outbox.webhook_delivery_send(delivery_id=delivery.pk) == "not due"
    later = timezone.now() + dt.timedelta(seconds=331)
    outbox.webhook_delivery_send(delivery_id=delivery.pk, now=later)
    assert len(receiver.requests) == 2


def send_now(delivery_id: int, trigger: str = "auto", countdown: float = 0) -> None:
    """What the enqueued task does, inline."""
    outbox.webhook_delivery_send(delivery_id=delivery_id, trigger=trigger)


def test_it_gives_up_after_the_last_attempt_and_a_replay_resends_the_original_id(
    shop: Shop, receiver: Receiver, django_capture_on_commit_callbacks: Any
) -> None:
    receiver.default = 500
    outbox.webhook_endpoint_test(endpoint=shop.endpoint)
    deliver_all()
    delivery = WebhookDelivery.objects.get()
    assert delivery.state == "failed" and len(receiver.requests) == 4  # the schedule's length
    receiver.default = 200
    with mock.patch("kyc.outbox._enqueue_send", side_effect=send_now) as enqueue:
        with django_capture_on_commit_callbacks(execute=True):
            outbox.webhook_delivery_replay(delivery=delivery)
    enqueue.assert_called_once_with(delivery.pk, "replay")
    assert len(receiver.requests) == 5 and len(set(receiver.ids())) == 1
    delivery.refresh_from_db()
    assert delivery.state == "succeeded"
    assert delivery.attempts_log.order_by("-at", "-id").first().trigger == "replay"


def test_it_recovers_failures_since_a_time_with_their_original_ids(
    shop: Shop, receiver: Receiver
) -> None:
    receiver.default = 500
    old = outbox.webhook_endpoint_test(endpoint=shop.endpoint)
    deliver_all()
    since = timezone.now()
    WebhookDelivery.objects.filter(message=old).update(created_at=since - dt.timedelta(hours=1))
    first = outbox.webhook_endpoint_test(endpoint=shop.endpoint)
    second = outbox.webhook_endpoint_test(endpoint=shop.endpoint)
    deliver_all()
    receiver.requests.clear()
    receiver.default = 200
    assert outbox.webhook_endpoint_recover(endpoint=shop.endpoint, since=since) == 2
    deliver_all()
    assert sorted(receiver.ids()) == sorted([first.msg_id, second.msg_id])
    assert WebhookDelivery.objects.get(message=old).state == "failed"  # before `since`


def test_it_signs_with_both_secrets_for_24_hours_after_a_rotation(
    shop: Shop, receiver: Receiver
) -> None:
    old = shop.secret
    new = outbox.webhook_endpoint_rotate_secret(endpoint=shop.endpoint)
    assert new != old and new.startswith("whsec_")
    outbox.webhook_endpoint_test(endpoint=shop.endpoint)
    deliver_all()
    request = receiver.requests[-1]
    assert len(request.signatures) == 2
    Webhook(old).verify(request.body, request.headers)  # receivers not yet updated
    Webhook(new).verify(request.body, request.headers)
    # 24 h later only the new secret signs.
    shop.endpoint.refresh_from_db()
    shop.endpoint.previous_secret_expires_at = timezone.now() - dt.timedelta(seconds=1)
    shop.endpoint.save()
    outbox.webhook_endpoint_test(endpoint=shop.endpoint)
    deliver_all()
    request = receiver.requests[-1]
    assert len(request.signatures) == 1
    Webhook(new).verify(request.body, request.headers)
    with pytest.raises(WebhookVerificationError):
        Webhook(old).verify(request.body, request.headers)


def test_it_keeps_the_previous_secret_exactly_24_hours(shop: Shop) -> None:
    now = timezone.now()
    outbox.webhook_endpoint_rotate_secret(endpoint=shop.endpoint, now=now)
    ep = shop.endpoint
    assert len(outbox.signing_secrets(ep, now + dt.timedelta(hours=23, minutes=59))) == 2
    assert outbox.signing_secrets(ep, now + dt.timedelta(hours=24)) == [ep.secret]


def test_it_disables_an_endpoint_answering_410_at_once(shop: Shop, receiver: Receiver) -> None:
    receiver.default = 410
    outbox.webhook_endpoint_test(endpoint=shop.endpoint)
    deliver_all()
    assert len(receiver.requests) == 1  # no retry after 410
    shop.endpoint.refresh_from_db()
    assert not shop.endpoint.enabled and "410" in shop.endpoint.disabled_reason
    assert AuditEntry.objects.filter(action="webhook_endpoint.disabled").count() == 1
    assert WebhookDelivery.objects.get().state == "failed"
    # Nothing more goes to it.
    make_transfer(shop)
    apply_status(TransferRequest.objects.get(), Status.PENDING, source="poll")
    deliver_all()
    assert len(receiver.requests) == 1


@pytest.mark.parametrize(("failing_days", "disabled"), [(4.9, False), (5.0, True)])
def test_it_disables_an_endpoint_failing_everything_for_five_days(
    failing_days: float, disabled: bool, shop: Shop, receiver: Receiver
) -> None:
    shop.endpoint.failing_since = timezone.now() - dt.timedelta(days=failing_days)
    shop.endpoint.save()
    receiver.default = 500
    outbox.webhook_endpoint_test(endpoint=shop.endpoint)
    outbox.webhook_message_dispatch(message_id=WebhookMessage.objects.get().pk)
    outbox.webhook_delivery_send(delivery_id=WebhookDelivery.objects.get().pk)
    shop.endpoint.refresh_from_db()
    assert shop.endpoint.enabled is not disabled
    assert AuditEntry.objects.filter(action="webhook_endpoint.disabled").exists() is disabled
    if disabled:
        assert "5 days" in shop.endpoint.disabled_reason


def test_it_starts_the_failure_window_at_the_first_failure_and_ends_it_on_success(
    shop: Shop, receiver: Receiver
) -> None:
    receiver.script = [500]
    outbox.webhook_endpoint_test(endpoint=shop.endpoint)
    outbox.webhook_message_dispatch(message_id=WebhookMessage.objects.get().pk)
    delivery = WebhookDelivery.objects.get()
    outbox.webhook_delivery_send(delivery_id=delivery.pk)
    shop.endpoint.refresh_from_db()
    assert shop.endpoint.failing_since is not None
    assert shop.endpoint.last_error == "the endpoint answered 500"
    outbox.webhook_delivery_send(delivery_id=delivery.pk)
    shop.endpoint.refresh_from_db()
    assert shop.endpoint.failing_since is None


def test_it_never_puts_decrypted_pii_in_a_payload(shop: Shop, receiver: Receiver) -> None:
    from kyc.services import FieldValue

    record = factories.KYCRecordFactory(merchant=shop.merchant, reference="order-9")
    transfer = factories.TransferRequestFactory(
        account=shop.account,
        record=record,
        subject="cb69e1ee3d9bcc0b3e2c0b8d7c2a6f1e0d3b4a5c6d7e",
        deep_link="corepass:sign/secret-deep-link",
    )
    services.transfer_apply(
        transfer_id=transfer.pk,
        update=StatusUpdate(
            status=Status.COMPLETED,
            fields=(FieldValue(key="SH_NAME", value="Jane Q. Secretperson", pepper="pep123"),),
        ),
        source="callback",
    )
    deliver_all()
    bodies = b"".join(r.body for r in receiver.requests)
    assert receiver.requests
    for secret_value in (b"Secretperson", b"pep123", b"cb69e1ee3d9b", b"secret-deep-link"):
        assert secret_value not in bodies
    # ...nor at rest in the outbox
    assert "Secretperson" not in str(list(WebhookMessage.objects.values_list("data", flat=True)))


def test_it_keeps_only_the_first_kilobyte_of_an_answer(shop: Shop, receiver: Receiver) -> None:
    receiver.answer = b"x" * 50_000
    outbox.webhook_endpoint_test(endpoint=shop.endpoint)
    deliver_all()
    attempt = WebhookAttempt.objects.get()
    assert attempt.status_code == 200 and attempt.response_body == "x" * 1024


def test_it_does_not_follow_a_redirect(shop: Shop, receiver: Receiver) -> None:
    receiver.default = 307
    outbox.webhook_endpoint_test(endpoint=shop.endpoint)
    deliver_all(rounds=1)
    assert len(receiver.requests) == 1
    attempt = WebhookAttempt.objects.get()
    assert attempt.status_code == 307 and attempt.error == "the endpoint answered 307"


def test_it_records_a_receiver_that_is_down(shop: Shop, receiver: Receiver) -> None:
    shop.endpoint.url = "http://127.0.0.1:9/nothing-listens"
    shop.endpoint.save()
    outbox.webhook_endpoint_test(endpoint=shop.endpoint)
    deliver_all(rounds=1)
    attempt = WebhookAttempt.objects.get()
    assert attempt.status_code is None and attempt.error == "could not connect"


@pytest.mark.parametrize(
    "url",
    [
        "http://10.0.0.5/hook",  # private
        "https://169.254.169.254/latest/meta-data",  # cloud metadata
        "https://127.0.0.1/hook",  # loopback without the operator's opt-in
        "https://localhost/hook",
        "ftp://example.com/hook",
        "https://user:pw@example.com/hook",
        "http://example.com/hook",  # public but not https
        "not a url",
    ],
)
def test_it_refuses_urls_outside_the_outbound_policy(url: str, db: Any, settings: Any) -> None:
    settings.OUTBOUND_ALLOW_NETWORKS = []
    merchant = factories.MerchantFactory()
    with pytest.raises(InvalidInput) as err:
        outbox.webhook_endpoint_create(merchant=merchant, url=url, events=["*"])
    assert err.value.field == "url"
    assert outbox.WebhookEndpoint.objects.count() == 0


def test_it_refuses_at_send_time_a_host_that_now_resolves_privately(
    shop: Shop, receiver: Receiver, settings: Any
) -> None:
    """DNS can change after the URL was accepted: the policy runs again on every send."""
    shop.endpoint.url = "https://hooks.example.com/kyc"
    shop.endpoint.save()
    outbox.webhook_endpoint_test(endpoint=shop.endpoint)
    with mock.patch("socket.getaddrinfo", return_value=[(2, 1, 6, "", ("10.1.2.3", 443))]):
        deliver_all(rounds=1)
    attempt = WebhookAttempt.objects.get()
    assert attempt.status_code is None
    assert attempt.error.startswith("refused by the outbound policy")


def test_it_refuses_unknown_event_types(db: Any, receiver: Receiver) -> None:
    merchant = factories.MerchantFactory()
    with pytest.raises(InvalidInput) as err:
        outbox.webhook_endpoint_create(merchant=merchant, url=receiver.url, events=["nope"])
    assert err.value.field == "events"


def test_it_sends_only_subscribed_events(shop: Shop, receiver: Receiver) -> None:
    outbox.webhook_endpoint_update(endpoint=shop.endpoint, events=["verification.completed"])
    transfer = make_transfer(shop)
    apply_status(transfer, Status.COMPLETED)
    deliver_all()
    assert receiver.types() == ["verification.completed"]


def test_it_stores_the_secret_encrypted(shop: Shop) -> None:
    from django.db import connection

    with connection.cursor() as cursor:
        cursor.execute("SELECT secret FROM kyc_webhookendpoint WHERE id = %s", [shop.endpoint.pk])
        stored = cursor.fetchone()[0]
    assert stored.startswith("fernet:") and shop.secret not in stored


def test_it_sends_other_merchants_nothing(shop: Shop, receiver: Receiver) -> None:
    other = factories.MerchantFactory()
    account = factories.ProviderAccountFactory(merchant=other)
    t = factories.TransferRequestFactory(account=account, reference="theirs")
    apply_status(t, Status.PENDING, source="poll")
    deliver_all()
    assert receiver.requests == []


def test_the_sweeper_dispatches_and_sends_what_the_broker_lost(
    shop: Shop, receiver: Receiver
) -> None:
    outbox.webhook_endpoint_test(endpoint=shop.endpoint)  # its enqueue never ran
    later = timezone.now() + dt.timedelta(seconds=30)
    with mock.patch("kyc.outbox._enqueue_send") as send:
        assert outbox.webhook_sweep(now=later) == 2  # one dispatched, one delivery due
    delivery = WebhookDelivery.objects.get()
    send.assert_called_once_with(delivery.pk)
    outbox.webhook_delivery_send(delivery_id=delivery.pk, now=later)
    assert len(receiver.requests) == 1


def backlog(shop: Shop, n: int) -> list[WebhookMessage]:
    """`n` test pings to the shop's endpoint, each with its delivery (due now)."""
    messages = [outbox.webhook_endpoint_test(endpoint=shop.endpoint) for _ in range(n)]
    for m in messages:
        outbox.webhook_message_dispatch(message_id=m.pk)
    return messages


def test_it_sends_an_endpoints_backlog_in_one_batch_oldest_first(
    shop: Shop, receiver: Receiver
) -> None:
    messages = backlog(shop, 4)
    first = WebhookDelivery.objects.order_by("id").first()
    assert outbox.webhook_delivery_send(delivery_id=first.pk) == "succeeded"
    assert receiver.ids() == [m.msg_id for m in messages]  # one task sent all four
    assert set(WebhookDelivery.objects.values_list("state", flat=True)) == {"succeeded"}


def test_it_stops_a_batch_at_the_first_failure(shop: Shop, receiver: Receiver) -> None:
    backlog(shop, 4)
    receiver.script = [200, 500]
    first = WebhookDelivery.objects.order_by("id").first()
    outbox.webhook_delivery_send(delivery_id=first.pk)
    assert len(receiver.requests) == 2  # the third and fourth wait for their own tasks


def test_it_forgets_finished_messages_after_the_retention_period(
    shop: Shop, receiver: Receiver, settings: Any
) -> None:
    settings.WEBHOOK_RETENTION_DAYS = 30
    done = outbox.webhook_endpoint_test(endpoint=shop.endpoint)
    deliver_all()
    receiver.default = 500
    settings.WEBHOOK_RETRY_SCHEDULE = [0, 3600]
    waiting = outbox.webhook_endpoint_test(endpoint=shop.endpoint)
    deliver_all()
    assert WebhookDelivery.objects.get(message=waiting).state == "pending"
    later = timezone.now() + dt.timedelta(days=31)
    with mock.patch("kyc.outbox._enqueue_send"):
        outbox.webhook_sweep(now=later)
    assert not WebhookMessage.objects.filter(pk=done.pk).exists()
    assert not WebhookAttempt.objects.filter(delivery__message_id=done.pk).exists()
    assert WebhookMessage.objects.filter(pk=waiting.pk).exists()  # still being delivered
    # ...and within the period nothing goes.
    recent = outbox.webhook_endpoint_test(endpoint=shop.endpoint)
    outbox.webhook_message_dispatch(message_id=recent.pk)
    WebhookDelivery.objects.filter(message=recent).update(state="succeeded")
    outbox.webhook_retention_purge(now=timezone.now() + dt.timedelta(days=29))
    assert WebhookMessage.objects.filter(pk=recent.pk).exists()


def test_it_limits_how_many_workers_send_to_one_endpoint(
    shop: Shop, receiver: Receiver, settings: Any
) -> None:
    from django.core.cache import caches

    settings.WEBHOOK_ENDPOINT_CONCURRENCY = 1
    outbox.webhook_endpoint_test(endpoint=shop.endpoint)
    outbox.webhook_message_dispatch(message_id=WebhookMessage.objects.get().pk)
    delivery = WebhookDelivery.objects.get()
    slot = f"webhook-slot:{shop.endpoint.pk}:0"
    caches["ratelimit"].add(slot, 1, timeout=60)  # another worker is sending to it
    try:
        assert outbox.webhook_delivery_send(delivery_id=delivery.pk) == "busy"
        assert receiver.requests == []
        delivery.refresh_from_db()
        assert delivery.attempts == 0 and delivery.next_attempt_at <= timezone.now()  # not leased
        # Another endpoint is not held up: it has slots of its own.
        other = outbox.webhook_endpoint_create(merchant=shop.merchant, url=receiver.url)[0]
        ping = outbox.webhook_endpoint_test(endpoint=other)
        outbox.webhook_message_dispatch(message_id=ping.pk)
        theirs = WebhookDelivery.objects.get(endpoint=other)
        assert outbox.webhook_delivery_send(delivery_id=theirs.pk) == "succeeded"
        assert receiver.ids() == [ping.msg_id]
    finally:
        caches["ratelimit"].delete(slot)
    assert outbox.webhook_delivery_send(delivery_id=delivery.pk) == "succeeded"
    assert len(receiver.requests) == 2


def test_it_enqueues_one_dispatch_and_one_send_for_a_burst_of_messages(
    shop: Shop, receiver: Receiver, django_capture_on_commit_callbacks: Any
) -> None:
    with (
        mock.patch("kyc.tasks.dispatch_webhook_message.delay") as dispatch,
        mock.patch("kyc.tasks.send_webhook_delivery.apply_async") as send,
    ):
        for _ in range(5):
            with django_capture_on_commit_callbacks(execute=True):
                outbox.webhook_endpoint_test(endpoint=shop.endpoint)
        first, *rest = WebhookMessage.objects.order_by("pk")
        dispatch.assert_called_once_with(first.pk)  # the other four wait for it
        # The queued dispatch takes the merchant's backlog: five deliveries, one send task.
        with django_capture_on_commit_callbacks(execute=True):
            outbox.webhook_message_dispatch(message_id=first.pk, backlog=True)
        deliveries = list(WebhookDelivery.objects.order_by("pk"))
        assert [d.message_id for d in deliveries] == [first.pk] + [m.pk for m in rest]
        send.assert_called_once_with((deliveries[0].pk, "auto"), countdown=0)
        # Positive control: once the dispatch has started, a new message enqueues its own.
        with django_capture_on_commit_callbacks(execute=True):
            late = outbox.webhook_endpoint_test(endpoint=shop.endpoint)
        assert dispatch.call_args_list[-1] == mock.call(late.pk)
        # The one send task sends the whole backlog with the original ids.
        outbox.webhook_delivery_send(delivery_id=deliveries[0].pk)
    assert receiver.ids() == [first.msg_id] + [m.msg_id for m in rest]
    assert set(WebhookDelivery.objects.values_list("state", flat=True)) == {"succeeded"}


def test_it_leaves_a_full_batch_s_remainder_to_one_follow_up_task(
    shop: Shop, receiver: Receiver, settings: Any, django_capture_on_commit_callbacks: Any
) -> None:
    settings.WEBHOOK_BATCH_MAX = 2
    for _ in range(5):
        m = outbox.webhook_endpoint_test(endpoint=shop.endpoint)
        outbox.webhook_message_dispatch(message_id=m.pk)
    first, *others = WebhookDelivery.objects.order_by("pk")
    with (
        mock.patch("kyc.tasks.send_webhook_delivery.apply_async") as send,
        django_capture_on_commit_callbacks(execute=True),
    ):
        assert outbox.webhook_delivery_send(delivery_id=first.pk) == "succeeded"
    assert len(receiver.requests) == 3  # its own, then a batch of two
    send.assert_called_once_with((others[2].pk, "auto"), countdown=0)


def test_the_sweeper_enqueues_one_send_per_endpoint_with_due_deliveries(
    shop: Shop, receiver: Receiver
) -> None:
    for _ in range(3):
        outbox.webhook_endpoint_test(endpoint=shop.endpoint)
    other = outbox.webhook_endpoint_create(merchant=shop.merchant, url=receiver.url)[0]
    outbox.webhook_endpoint_test(endpoint=other)
    later = timezone.now() + dt.timedelta(seconds=30)
    with mock.patch("kyc.outbox._enqueue_send") as send:
        assert outbox.webhook_sweep(now=later) == 4 + 2  # four dispatched, two endpoints
    oldest = [
        WebhookDelivery.objects.filter(endpoint=ep).order_by("pk").first().pk
        for ep in (shop.endpoint, other)
    ]
    assert sorted(c.args[0] for c in send.call_args_list) == sorted(oldest)


def test_it_sends_a_backlog_at_the_cost_of_two_transactions_per_batch(
    shop: Shop, receiver: Receiver
) -> None:
    from django.db import connection
    from django.test.utils import CaptureQueriesContext

    messages = backlog(shop, 10)
    first = WebhookDelivery.objects.order_by("pk").first()
    with CaptureQueriesContext(connection) as captured:
        assert outbox.webhook_delivery_send(delivery_id=first.pk) == "succeeded"
    assert receiver.ids() == [m.msg_id for m in messages]
    assert set(WebhookDelivery.objects.values_list("state", flat=True)) == {"succeeded"}
    assert WebhookAttempt.objects.filter(status_code=200).count() == 10
    shop.endpoint.refresh_from_db()
    assert shop.endpoint.last_success_at is not None
    # In the test's transaction each transaction is a savepoint: the first delivery's claim
    # and record, the batch of nine's claim and record of its successes, and the claim
    # that finds nothing left (one per delivery would be 20).
    savepoints = [q for q in captured.captured_queries if q["sql"].startswith("SAVEPOINT")]
    assert len(savepoints) == 5
