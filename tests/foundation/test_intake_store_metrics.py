"""kyc.services.inbound_store, as operators and the sweeper see it: /metrics counts each stored
delivery under its provider and state, and a delivery not yet processed has no attempt,
its processing time is stamped, and a repeated delivery is recognised with or without a
surrounding transaction (each test kills a mutant `make mutate` found)."""

from __future__ import annotations

from typing import Any

import pytest
from django.db import transaction
from django.utils import timezone
from prometheus_client.parser import text_string_to_metric_families

from kyc import services
from kyc.models import InboundEvent
from tests import factories

pytestmark = pytest.mark.django_db

RECEIVED = "portal_deliveries_received_total"
REFUSED = "portal_deliveries_refused_total"
PROCESSED = "portal_deliveries_processed_total"


def counts(client: Any, provider: str) -> dict[str, float]:
    """The three delivery counters of one provider, as Prometheus scrapes them."""
    resp = client.get("/metrics")
    assert resp.status_code == 200
    found = {RECEIVED: 0.0, REFUSED: 0.0, PROCESSED: 0.0}
    for family in text_string_to_metric_families(resp.content.decode()):
        for s in family.samples:
            if s.name in found and s.labels.get("provider") == provider:
                found[s.name] = s.value
    return found


def store(
    state: str, *, remote_addr: str | None = "203.0.113.9", attempts: int = 0
) -> InboundEvent:
    """One Blockpass delivery of a new account, stored in `state`."""
    account = factories.ProviderAccountFactory(provider="blockpass")
    row, _ = services.inbound_store(
        provider="blockpass",
        path="/hooks/blockpass/",
        headers={},
        body=b"{}",
        remote_addr=remote_addr,
        account=account,
        state=state,
        attempts=attempts,
    )
    return row


def test_it_counts_a_stored_delivery_under_its_provider_and_state(client: Any) -> None:
    before = counts(client, "blockpass")
    store(InboundEvent.State.REFUSED)
    refused = counts(client, "blockpass")
    assert refused[RECEIVED] == before[RECEIVED] + 1
    assert refused[REFUSED] == before[REFUSED] + 1
    assert refused[PROCESSED] == before[PROCESSED]
    store(InboundEvent.State.PROCESSED)
    processed = counts(client, "blockpass")
    assert processed[RECEIVED] == before[RECEIVED] + 2
    assert processed[REFUSED] == before[REFUSED] + 1
    assert processed[PROCESSED] == before[PROCESSED] + 1
    store(InboundEvent.State.RECEIVED)  # control: received only, neither refused nor processed
    received = counts(client, "blockpass")
    assert received[RECEIVED] == before[RECEIVED] + 3
    assert (received[REFUSED], received[PROCESSED]) == (refused[REFUSED], processed[PROCESSED])


def test_it_keeps_a_delivery_not_yet_processed_without_an_attempt() -> None:
    row = InboundEvent.objects.get(pk=store(InboundEvent.State.RECEIVED).pk)
    assert row.attempts == 0
    # control: processed on arrival counts as its first attempt when the intake says so
    done = store(InboundEvent.State.PROCESSED, remote_addr=None, attempts=1)
    assert InboundEvent.objects.get(pk=done.pk).attempts == 1


def test_it_stamps_when_a_delivery_processed_on_arrival_was_processed() -> None:
    processed = InboundEvent.objects.get(pk=store(InboundEvent.State.PROCESSED).pk)
    assert processed.processed_at is not None
    assert processed.processed_at <= timezone.now()
    # control: a delivery only received (or refused) waits, unstamped
    for state in (InboundEvent.State.RECEIVED, InboundEvent.State.REFUSED):
        assert InboundEvent.objects.get(pk=store(state).pk).processed_at is None


@pytest.mark.django_db(transaction=True)
def test_it_recognises_a_repeated_delivery_outside_a_transaction_too() -> None:
    """The intake's autocommit path (no surrounding transaction) keeps the dedupe key."""
    account = factories.ProviderAccountFactory(provider="blockpass")

    def deliver(body: bytes) -> tuple[InboundEvent, InboundEvent | None]:
        assert not transaction.get_connection().in_atomic_block
        return services.inbound_store(
            provider="blockpass",
            path="/hooks/blockpass/",
            headers={},
            body=body,
            remote_addr=None,
            kind="webhook",
            account=account,
            dedupe_key="blockpass:1:d-7",
        )

    first, none = deliver(b"first")
    again, original = deliver(b"again")
    assert none is None and original is not None and original.pk == first.pk
    first = InboundEvent.objects.get(pk=first.pk)
    assert first.dedupe_key == "blockpass:1:d-7" and first.state == "received"
    assert (first.provider, first.account_id, first.kind) == ("blockpass", account.pk, "webhook")
    assert bytes(first.body) == b"first"
    again = InboundEvent.objects.get(pk=again.pk)
    assert (again.state, again.duplicate_of_id) == ("duplicate", first.pk)
    assert InboundEvent.objects.count() == 2
