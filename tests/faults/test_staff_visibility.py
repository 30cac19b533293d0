"""Staff see each delivery's and each retried task's state in the admin (attempts, last
error, next attempt) and can reprocess deliveries; only their own merchant's."""

from __future__ import annotations

import datetime as dt
import json
from unittest import mock

import pytest
from django.utils import timezone

from kyc import tasks
from kyc.models import AuditEntry, CertPromise, InboundEvent, Merchant, ProviderAccount
from tests import factories

pytestmark = pytest.mark.django_db


def test_it_shows_delivery_state_and_reprocesses_on_request(client, promise) -> None:
    mine, theirs = (
        Merchant.objects.create(name="m", slug="m"),
        Merchant.objects.create(name="t", slug="t"),
    )
    account = ProviderAccount.objects.create(merchant=mine, provider="portmone", enabled=True)
    failed = InboundEvent.objects.create(
        provider="portmone",
        merchant=mine,
        account=account,
        kind="share.hint",
        body=json.dumps({"id": "unknown-share", "status": "approved"}).encode(),
        state=InboundEvent.State.FAILED,
        attempts=3,
        error="Portmone did not answer (503)",
    )
    dup = InboundEvent.objects.create(
        provider="portmone", merchant=mine, state=InboundEvent.State.DUPLICATE, duplicate_of=failed
    )
    other = InboundEvent.objects.create(
        provider="portmone", merchant=theirs, state=InboundEvent.State.FAILED
    )
    staff = factories.staff_user(mine)
    client.force_login(staff)

    listing = client.get("/admin/kyc/inboundevent/", {"state__exact": "failed"})
    page = listing.content.decode()
    assert "Portmone did not answer (503)" in page and "Processing failed" in page
    assert [e.pk for e in listing.context["cl"].result_list] == [failed.pk]
    detail = client.get(f"/admin/kyc/inboundevent/{failed.pk}/change/").content.decode()
    assert "Attempts" in detail and "Portmone did not answer" in detail

    with mock.patch.object(
        tasks.process_inbound, "delay", side_effect=lambda pk: tasks.process_inbound(pk)
    ):
        r = client.post(
            "/admin/kyc/inboundevent/",
            {"action": "reprocess", "_selected_action": [failed.pk, dup.pk, other.pk]},
            follow=True,
        )
    assert "Queued 1 deliveries" in r.content.decode()
    failed.refresh_from_db()
    assert (
        failed.state == InboundEvent.State.IGNORED and failed.attempts == 4
    )  # processed again, once
    assert (
        InboundEvent.objects.get(pk=other.pk).state == InboundEvent.State.FAILED
    )  # not theirs to touch
    assert InboundEvent.objects.get(pk=dup.pk).state == InboundEvent.State.DUPLICATE
    entry = AuditEntry.objects.get(action="inbound.reprocess")
    assert entry.actor == staff and entry.detail == {"ids": [failed.pk]}
    promise("staff_visibility", 1, "deliveries reprocessed from the admin")


def test_it_shows_retry_state_of_tasks(client) -> None:
    merchant = Merchant.objects.create(name="m", slug="m")
    due = timezone.now() + dt.timedelta(minutes=8)
    p = CertPromise.objects.create(
        merchant=merchant,
        promise_id="p-9",
        attempts=4,
        last_error="attempt 4: 503 busy",
        next_attempt_at=due,
    )
    client.force_login(factories.staff_user(merchant))
    page = client.get("/admin/kyc/certpromise/").content.decode()
    assert "p-9" in page and "attempt 4: 503 busy" in page
    detail = client.get(f"/admin/kyc/certpromise/{p.pk}/change/").content.decode()
    assert "Next attempt at" in detail and "Waiting to be pulled" in detail
