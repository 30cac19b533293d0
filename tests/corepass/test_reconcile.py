"""Lost callbacks: reconcile asks the connector; alreadySent requests share results."""

from __future__ import annotations

import datetime as dt
import time
from typing import Any

import pytest
from django.utils import timezone

from kyc.errors import ProviderError
from kyc.models import IdentityField, TransferRequest
from providers.corepass import sandbox, services
from providers.corepass.provider import CorePassProvider
from tests.corepass.conftest import (
    approved_silently,
    deliver,
    make_transfer,
    sandbox_req,
    status_callback,
)


def test_it_catches_up_on_lost_callbacks_from_all_statuses(
    live_account: Any, api: Any, settings: Any, monkeypatch: Any
) -> None:
    from providers.corepass import tasks

    # Run the per-request check task inline (the worker path is covered in test_e2e).
    monkeypatch.setattr(
        tasks.check_transfer, "delay", lambda pk: services.transfer_check(transfer_id=pk)
    )
    settings.COREPASS_SANDBOX_STEP_SECONDS = 0.02
    # The phone approves but the connector's callbacks never arrive.
    created, rid = approved_silently(api)

    tid = created["id"]
    assert services.reconcile() == 0  # heard from recently: nothing to ask
    TransferRequest.objects.filter(pk=tid).update(
        last_heard_at=timezone.now()
        - dt.timedelta(seconds=settings.TRANSFER_STALE_AFTER_SECONDS + 1)
    )
    assert services.reconcile() == 1
    t = TransferRequest.objects.get(pk=tid)
    # Success without the data is not "completed" for the merchant.
    assert (t.provider_status, t.status) == ("FINISH_SUCCESS", "processing")
    assert (
        t.events.filter(source="poll").exclude(tx_hash="").values("tx_hash").distinct().count() == 2
    )
    assert services.reconcile() == 0  # not stale any more


@pytest.mark.django_db
def test_it_gives_data_to_a_later_request_that_shares_the_qr(client: Any, account: Any) -> None:
    first = make_transfer(account)
    later = make_transfer(account)
    TransferRequest.objects.filter(pk=later.pk).update(provider_data={"already_sent": True})
    now = int(time.time())
    form = sandbox.data_form(sandbox_req(first), now=now)
    assert deliver(client, first, "data", form, now=now, multipart=True).status_code == 200
    status_callback(client, first, "CALLBACK_SUCCEED", now=now)
    assert IdentityField.objects.filter(transfer=later).count() == 1
    assert TransferRequest.objects.get(pk=later.pk).status == "completed"


def test_it_tests_the_connection_against_the_sandbox(public_url: str) -> None:
    # the outbound policy lets the portal reach only its own sandbox on loopback
    settings_ = CorePassProvider().sandbox_settings(sandbox_url=f"{public_url}/sandbox/corepass/")
    assert "valid Ed448" in CorePassProvider().test_connection(settings=settings_, state={})
    with pytest.raises(ProviderError, match="57-byte"):
        CorePassProvider().test_connection(
            settings={**settings_, "connector_public_key": "abcd" * 8}, state={}
        )
    with pytest.raises(ProviderError) as exc:
        CorePassProvider().test_connection(
            settings={**settings_, "connector_url": f"{public_url}/sandbox/corepass/nope"},
            state={},
        )
    assert exc.value.code == "provider_not_found"
