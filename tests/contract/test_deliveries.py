"""The delivery contract every provider that receives deliveries keeps, run over the cases
in tests/contract/deliveries.py: a good delivery is stored encrypted and processed once, a
repeat is answered 200 without effect, a forgery is refused and kept, a delivery arriving
with the broker down is stored, answered and swept later, and erasing the customer blanks
what the provider's deliveries held."""

from __future__ import annotations

from dataclasses import dataclass
from typing import Any
from unittest import mock

import pytest
from django.db import connection
from kombu.exceptions import OperationalError

from kyc import registry, tasks
from kyc.models import InboundEvent, KYCRecord, Merchant, TransferRequest
from kyc.services import record_erase
from tests.abuse.hooks import hooks
from tests.contract.deliveries import CASES, Case, Delivery, post

pytestmark = pytest.mark.django_db

CASE_LIST = [CASES[name] for name in sorted(CASES)]


@pytest.fixture
def merchant() -> Merchant:
    return Merchant.objects.create(name="Contract shop", slug="contract-shop")


@pytest.fixture(params=CASE_LIST, ids=str)
def case(request) -> Case:  # type: ignore[no-untyped-def]
    return request.param


@dataclass(frozen=True)
class Delivered:
    delivery: Delivery
    response: Any
    delay: mock.MagicMock  # process_inbound.delay, run inline


@pytest.fixture
def delivered(case: Case, client, merchant, django_capture_on_commit_callbacks) -> Delivered:  # type: ignore[no-untyped-def]
    """The case's good delivery, posted and answered 2xx; what is queued on commit runs
    here, inline."""
    d = case.good(merchant)
    with (
        mock.patch.object(
            tasks.process_inbound, "delay", side_effect=lambda pk: tasks.process_inbound(pk)
        ) as delay,
        django_capture_on_commit_callbacks(execute=True),
    ):
        r = post(client, d)
    assert 200 <= r.status_code < 300, (r.status_code, r.content)
    return Delivered(d, r, delay)


def _rows(model) -> dict:  # type: ignore[no-untyped-def]
    return {row["id"]: row for row in model.objects.values()}


# When the provider was last heard from is bookkeeping, not an effect of the delivery.
_BOOKKEEPING = {"last_heard_at", "updated_at"}


def _changed(before: dict, after: dict) -> dict:
    """Which columns of which rows differ (rows added or removed count as changed)."""
    out = {}
    for pk in before.keys() | after.keys():
        a, b = before.get(pk, {}), after.get(pk, {})
        diff = sorted({k for k in a.keys() | b.keys() if a.get(k) != b.get(k)} - _BOOKKEEPING)
        if diff:
            out[pk] = diff
    return out


def test_it_has_a_delivery_case_for_every_provider_with_inbound_endpoints() -> None:
    inbound = {h.provider for h in hooks()}
    assert inbound, "no hooks/ routes found"  # positive control: the walk sees the URLs
    assert inbound <= set(registry.names())
    missing = inbound - set(CASES)
    assert not missing, f"providers receiving deliveries without a contract case: {missing}"
    assert set(CASES) <= inbound  # no case for a provider that receives nothing


def test_it_stores_a_good_delivery_encrypted_and_processes_it_once(
    case: Case, merchant, delivered: Delivered
) -> None:
    d, delay = delivered.delivery, delivered.delay
    event = InboundEvent.objects.get(provider=case.provider)
    assert event.body == d.body
    if case.signed:  # checked on arrival; an unsigned hint is verified with the provider
        assert event.verified
    assert event.merchant == merchant
    assert event.state != InboundEvent.State.REFUSED
    # the body is stored encrypted: the plain bytes are not in the column
    with connection.cursor() as cur:
        cur.execute("SELECT body FROM kyc_inboundevent WHERE id = %s", [event.pk])
        raw = cur.fetchone()[0]
    raw = raw.encode() if isinstance(raw, str) else bytes(raw)
    assert raw and d.body not in raw
    # processed once: on arrival in the same transaction, or by one queued task
    assert event.attempts == 1, (event.state, event.attempts, event.error)
    assert delay.call_count <= 1


def test_it_answers_a_repeated_delivery_200_without_effect(
    case: Case, client, delivered: Delivered, django_capture_on_commit_callbacks
) -> None:
    d, delay = delivered.delivery, delivered.delay
    first = InboundEvent.objects.get(provider=case.provider)
    transfers, records = _rows(TransferRequest), _rows(KYCRecord)
    calls = delay.call_count
    with (
        mock.patch.object(tasks.process_inbound, "delay") as again,
        django_capture_on_commit_callbacks(execute=True),
    ):
        r2 = post(client, d)
    assert r2.status_code == 200, r2.content
    events = InboundEvent.objects.filter(provider=case.provider).order_by("pk")
    assert events.count() == 2  # the repeat is kept too, as a duplicate
    repeat = events.last()
    assert repeat is not None
    # stored as a duplicate of the first, or (a status the provider may resend) applied
    # again by a status machine that does not move
    assert repeat.state in (InboundEvent.State.DUPLICATE, InboundEvent.State.PROCESSED)
    if repeat.state == InboundEvent.State.DUPLICATE:
        assert repeat.duplicate_of_id == first.pk
    # no effect: nothing queued, the original and the requests as they were
    assert again.call_count == 0 and calls <= 1
    original = InboundEvent.objects.get(pk=first.pk)
    assert (original.state, original.attempts) == (first.state, first.attempts)
    assert not _changed(transfers, _rows(TransferRequest))
    assert not _changed(records, _rows(KYCRecord))


def test_it_refuses_and_keeps_a_forged_delivery(
    case: Case, client, merchant, django_capture_on_commit_callbacks
) -> None:
    good = case.good(merchant)
    forged = case.forge(good)
    transfers = _rows(TransferRequest)
    with (
        mock.patch.object(tasks.process_inbound, "delay") as delay,
        django_capture_on_commit_callbacks(execute=True),
    ):
        r = post(client, forged)
    assert 400 <= r.status_code < 500, (r.status_code, r.content)
    events = InboundEvent.objects.filter(provider=case.provider)
    assert events.count() == 1  # kept, so staff can see it
    event = events.get()
    assert event.state == InboundEvent.State.REFUSED and not event.verified
    assert delay.call_count == 0
    assert not _changed(transfers, _rows(TransferRequest))
    # positive control: the real one is still taken afterwards
    with (
        mock.patch.object(tasks.process_inbound, "delay"),
        django_capture_on_commit_callbacks(execute=True),
    ):
        ok = post(client, good)
    assert 200 <= ok.status_code < 300, ok.content
    assert events.exclude(state=InboundEvent.State.REFUSED).count() == 1


def test_it_blanks_the_providers_rows_when_the_customer_is_erased(
    case: Case, merchant, delivered: Delivered, django_capture_on_commit_callbacks
) -> None:
    d = delivered.delivery
    event = InboundEvent.objects.get(provider=case.provider)
    if d.record is None:
        # about the merchant's account, not a customer: erasing a customer leaves it
        other = KYCRecord.objects.create(merchant=merchant, reference="someone-else")
        with django_capture_on_commit_callbacks(execute=True):
            record_erase(record=other, reason="contract")
        event.refresh_from_db()
        assert event.body == d.body and event.erased_at is None
        return
    assert event.body  # positive control: there was something to erase
    with django_capture_on_commit_callbacks(execute=True):
        record_erase(record=d.record, reason="contract")
    event.refresh_from_db()
    assert event.body is None and event.erased_at is not None
    for t in TransferRequest.objects.filter(record=d.record, provider=case.provider):
        assert t.subject == "" and t.provider_secrets == {}
        assert "pii_erased_at" in t.provider_data


def test_it_keeps_a_delivery_with_the_broker_down_and_sweeps_it_later(
    case: Case, client, merchant, settings, promise
) -> None:
    d = case.good(merchant)
    # Redis (broker and cache) unreachable
    settings.CACHES = {
        "default": {
            "BACKEND": "django.core.cache.backends.redis.RedisCache",
            "LOCATION": "redis://127.0.0.1:1/0",
        }
    }
    from portal.celery import app

    down = OperationalError("broker unreachable")
    with mock.patch.object(app, "send_task", side_effect=down):
        r = post(client, d)
    assert 200 <= r.status_code < 300, (case.provider, r.status_code, r.content)
    events = InboundEvent.objects.filter(provider=case.provider)
    assert events.count() == 1  # committed while Redis was away
    assert events.get().body == d.body
    waiting = events.get().state == InboundEvent.State.RECEIVED
    settings.INBOX_SWEEP_AFTER_SECONDS = -1
    # Redis is back: the sweeper sends what was left; processing runs (here inline) once
    with mock.patch.object(
        tasks.process_inbound, "delay", side_effect=lambda pk: tasks.process_inbound(pk)
    ):
        assert tasks.sweep_inbox() == int(waiting)  # handed over, if it was still waiting
        tasks.sweep_inbox()
    event = events.get()
    if event.state == InboundEvent.State.RECEIVED:
        # processing needs the provider itself (here unreachable): kept for the next
        # sweep, tried once per sweep, never in a loop
        assert "unreachable" in event.error and event.attempts == 2, (case.provider, event.error)
    else:
        assert event.attempts == 1, (case.provider, event.state, event.attempts, event.error)
    promise("redis_down", 1, "providers' deliveries kept with the broker down")
