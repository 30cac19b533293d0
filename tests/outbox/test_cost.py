"""What the outbox adds to a request that changes a verification: one INSERT, no commit."""

from __future__ import annotations

from typing import Any

import pytest
from django.db import connection
from django.test.utils import CaptureQueriesContext

from kyc import services
from kyc.models import WebhookMessage
from kyc.services import StatusUpdate
from kyc.status import Status
from tests import factories

pytestmark = pytest.mark.django_db


def test_it_adds_one_insert_for_a_terminal_change_with_two_events(db: Any) -> None:
    merchant = factories.MerchantFactory()
    transfer = factories.TransferRequestFactory(merchant=merchant, reference="r")
    with CaptureQueriesContext(connection) as queries:
        services.transfer_apply(
            transfer_id=transfer.pk, update=StatusUpdate(status=Status.COMPLETED), source="poll"
        )
    sql = [q["sql"] for q in queries.captured_queries]
    inserts = [q for q in sql if q.startswith('INSERT INTO "kyc_webhookmessage"')]
    assert len(inserts) == 1
    assert not any("kyc_webhookendpoint" in q for q in sql)  # no lookup in the request
    assert not any(q.upper().startswith("COMMIT") for q in sql)
    assert sorted(WebhookMessage.objects.values_list("event_type", flat=True)) == [
        "verification.completed",
        "verification.updated",
    ]
