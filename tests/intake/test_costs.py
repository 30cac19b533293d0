"""Deliveries at the cost of one insert: the query and commit budget of each inbound path.

Measured like the bench measures them (every statement; every commit or autocommit
write), on a real transaction-per-request database, so a regression fails here before
it shows in `make bench`. Each test also checks the promise the cut must keep: the
delivery is stored, encrypted, and committed before the 2xx.
"""

from __future__ import annotations

import time
from typing import Any

import pytest
from django.db import connection

from kyc.models import InboundEvent, TransferEvent
from kyc.status import Status
from providers.corepass import sandbox
from tests.contract.deliveries import (
    blockpass_account,
    blockpass_resolved,
    blockpass_webhook,
    post,
)
from tests.corepass.conftest import deliver, make_account, make_transfer, sandbox_req

pytestmark = pytest.mark.django_db(transaction=True)

STATUS_QUERIES = 5
DATA_QUERIES = 8
WEBHOOK_QUERIES = 2


def _raw_body(event_id: int) -> bytes:
    with connection.cursor() as cursor:
        cursor.execute("SELECT body FROM kyc_inboundevent WHERE id = %s", [event_id])
        (raw,) = cursor.fetchone()
    return raw.encode() if isinstance(raw, str) else bytes(raw or b"")


def test_it_takes_a_corepass_status_callback_in_one_commit(
    client: Any, merchant: Any, measure: Any
) -> None:
    transfer = make_transfer(make_account(merchant))
    now = int(time.time())
    body = sandbox.status_body(sandbox_req(transfer), "ACCEPTED", "", now=now)
    with measure() as spent:
        r = deliver(client, transfer, "status", body, now=now)
    print(spent)
    assert r.status_code == 200, r.content
    assert not connection.in_atomic_block  # nothing left open: the answer came after the commit
    event = InboundEvent.objects.get(transfer=transfer)
    assert (event.state, event.kind, event.verified) == ("processed", "status:ACCEPTED", True)
    assert event.attempts == 1 and event.processed_at is not None
    transfer.refresh_from_db()
    assert transfer.status == Status.ACCEPTED and transfer.provider_status == "ACCEPTED"
    assert TransferEvent.objects.filter(transfer=transfer, inbound=event).count() == 1
    assert transfer.subject.encode() not in _raw_body(event.pk)  # encrypted at rest
    assert transfer.subject.encode() in bytes(event.body)  # ...and readable through the model
    assert len(spent.queries) <= STATUS_QUERIES, spent
    assert spent.commits == 1, spent
    # The request's UPDATE writes what the status machine changed: its secrets are not
    # encrypted again, its QR code not sent again.
    (update,) = [q for q in spent.queries if q.startswith('UPDATE "kyc_transferrequest"')]
    written = update.split(" SET ")[1].split(" WHERE ")[0]
    for column in ("subject", "provider_secrets", "qr_payload", "deep_link", "qr_svg", "items"):
        assert f'"{column}"' not in written, update
    assert '"status"' in written and '"provider_status"' in written, update


def test_it_takes_a_corepass_data_callback_in_one_commit(
    client: Any, merchant: Any, measure: Any
) -> None:
    transfer = make_transfer(make_account(merchant))
    now = int(time.time())
    deliver(
        client,
        transfer,
        "status",
        sandbox.status_body(sandbox_req(transfer), "ACCEPTED", "", now=now),
        now=now,
    )
    form = sandbox.data_form(sandbox_req(transfer), now=now)
    with measure() as spent:
        r = deliver(client, transfer, "data", form, now=now, multipart=True)
    print(spent)
    assert r.status_code == 200, r.content
    assert not connection.in_atomic_block
    event = InboundEvent.objects.get(transfer=transfer, kind="data")
    assert (event.state, event.verified) == ("received", True)  # held until DELIVERED is shown
    assert len(spent.queries) <= DATA_QUERIES, spent
    assert spent.commits == 1, spent


def test_it_takes_a_signed_blockpass_delivery_in_one_insert(
    client: Any, merchant: Any, measure: Any
) -> None:
    from unittest import mock

    account = blockpass_account(merchant, webhook_secret="s3cret-for-cost")
    payload = blockpass_resolved("bp-cost-1", env="QA")
    d = blockpass_webhook(account, payload, secret="s3cret-for-cost")
    with mock.patch("kyc.tasks.process_inbound.delay") as delay, measure() as spent:
        r = post(client, d)
    print(spent)
    assert r.status_code == 200, r.content
    event = InboundEvent.objects.get(account=account)
    assert (event.state, event.verified) == ("received", True)
    delay.assert_called_once_with(event.pk)  # after the commit
    assert b"bp-cost-1" not in _raw_body(event.pk)
    assert len(spent.queries) <= WEBHOOK_QUERIES, spent
    assert spent.commits == 1, spent
