"""Blockpass delivery ids are deduplicated per account, and what a replay of an old
signed body with a fresh delivery id can and cannot do (Blockpass signs no timestamp)."""

from __future__ import annotations

from typing import Any
from unittest import mock

import pytest

from kyc import services as kyc_services
from kyc.models import Certificate, CertPromise, InboundEvent, ProviderAccount
from providers.blockpass import services
from tests.blockpass.conftest import BPID, bp_settings, deliver, payload

pytestmark = [pytest.mark.django_db, pytest.mark.usefixtures("inline_processing")]


@pytest.fixture
def other_account(other_merchant: Any) -> ProviderAccount:
    return ProviderAccount.objects.create(
        merchant=other_merchant, provider="blockpass", enabled=True, settings=bp_settings()
    )


def _customer(account: ProviderAccount) -> Any:
    return kyc_services.record_get_or_create(
        merchant=account.merchant, reference="cust", provider="blockpass", external_id=BPID
    )


def test_it_processes_the_same_delivery_id_at_two_merchants(
    client: Any,
    account: ProviderAccount,
    other_account: ProviderAccount,
    enqueued: Any,
    django_capture_on_commit_callbacks: Any,
) -> None:
    mine, theirs = _customer(account), _customer(other_account)
    body = payload("certPormise.resolved")
    with django_capture_on_commit_callbacks(execute=True):
        # The other tenant (or anyone holding its secret) sends this id first ...
        assert deliver(client, other_account, body, delivery="shared-id").status_code == 200
        resp = deliver(client, account, body, delivery="shared-id")
    # ... and it does not burn this merchant's delivery.
    assert resp.status_code == 200 and resp.json()["message"] == "accepted"
    events = InboundEvent.objects.order_by("pk")
    assert [e.state for e in events] == [InboundEvent.State.PROCESSED] * 2
    assert {e.account_id for e in events} == {account.pk, other_account.pk}
    assert {p.record_id for p in CertPromise.objects.all()} == {mine.pk, theirs.pk}
    assert enqueued.call_count == 2


def test_it_still_ignores_the_same_delivery_id_twice_at_one_merchant(
    client: Any,
    account: ProviderAccount,
    other_account: ProviderAccount,
) -> None:
    body = payload("serviceInfo.updated")
    with mock.patch.object(
        services, "service_info_update", wraps=services.service_info_update
    ) as applied:
        assert deliver(client, account, body, delivery="d-7").status_code == 200
        resp = deliver(client, account, body, delivery="d-7")
        assert deliver(client, other_account, body, delivery="d-7").status_code == 200
    assert resp.status_code == 200 and resp.json()["message"] == "duplicate delivery, no effect"
    assert applied.call_count == 2  # once per merchant, never twice for one
    states = list(
        InboundEvent.objects.filter(account=account).order_by("pk").values_list("state", flat=True)
    )
    assert states == [InboundEvent.State.PROCESSED, InboundEvent.State.DUPLICATE]


def test_it_dedupes_deliveries_without_an_id_by_body_per_merchant(
    account: ProviderAccount, other_account: ProviderAccount
) -> None:
    body = payload("serviceInfo.updated")
    keys = {services._dedupe_key(a, {}, body) for a in (account, other_account)}
    assert len(keys) == 2
    assert services._dedupe_key(account, {}, body) == services._dedupe_key(account, {}, body)


def test_a_replayed_resolution_with_a_fresh_delivery_id_changes_nothing(
    client: Any,
    account: ProviderAccount,
    enqueued: Any,
    django_capture_on_commit_callbacks: Any,
) -> None:
    """Blockpass signs only the body, which carries no time (its guide: Appendix - Webhook Payload
    format), so an old body cannot be refused by age. What contains it: a promise is pulled at
    most once, and one already pulled (or gone) is final."""
    record = _customer(account)
    body = payload("certPormise.resolved")
    with django_capture_on_commit_callbacks(execute=True):
        assert deliver(client, account, body, delivery="first").status_code == 200
    promise = CertPromise.objects.get()
    promise.state = CertPromise.State.PULLED
    promise.save()
    Certificate.objects.create(
        merchant=account.merchant,
        record=record,
        provider="blockpass",
        promise=promise,
        external_id=promise.promise_id,
        slug="onfido-service-cert",
        raw=b"genuine",
    )
    enqueued.reset_mock()
    with django_capture_on_commit_callbacks(execute=True):
        resp = deliver(client, account, body, delivery="replayed-with-a-new-id")
    assert resp.status_code == 200
    enqueued.assert_not_called()
    promise.refresh_from_db()
    assert promise.state == CertPromise.State.PULLED
    assert list(Certificate.objects.values_list("raw", flat=True)) == [b"genuine"]
