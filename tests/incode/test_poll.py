"""When no webhook comes (lost, or never configured), the portal asks Incode itself."""

from __future__ import annotations

import datetime as dt
from typing import Any

from django.utils import timezone

from kyc.models import TransferRequest
from kyc.status import Status
from providers.incode import services as incode_services
from tests.incode.conftest import account_for, finish_on_phone, start_request


def test_it_finishes_from_the_customer_page_poll_without_a_webhook(
    api: Any, merchant: Any, sandbox: str, client: Any, eager: None
) -> None:
    account_for(merchant, sandbox)  # no webhook URL in the vendor console
    t = start_request(api, "p1")
    assert client.get(f"/t/{t.page_token}/status").status_code == 200
    t.refresh_from_db()
    assert t.status == Status.PENDING  # Incode says UNKNOWN: nothing to do yet
    finish_on_phone(t.deep_link, "pass")
    from django.core.cache import cache

    cache.delete(f"poll-check:{t.page_token}")  # the 5 s rate-limit window, skipped
    r = client.get(f"/t/{t.page_token}/status")
    assert r.status_code in (200, 286)
    t.refresh_from_db()
    assert t.status == Status.COMPLETED


def test_it_checks_quiet_requests_from_reconcile(
    api: Any, merchant: Any, sandbox: str, eager: None
) -> None:
    account_for(merchant, sandbox)
    quiet, fresh = start_request(api, "q1"), start_request(api, "q2")
    finish_on_phone(quiet.deep_link, "fail")
    finish_on_phone(fresh.deep_link, "fail")
    TransferRequest.objects.filter(pk=quiet.pk).update(
        last_heard_at=timezone.now() - dt.timedelta(minutes=5)
    )
    assert incode_services.transfers_to_check() == [quiet.pk]
    assert incode_services.reconcile() == 1
    quiet.refresh_from_db()
    fresh.refresh_from_db()
    assert quiet.status == Status.REVIEW and fresh.status == Status.PENDING
    assert incode_services.transfers_to_check() == []


def test_it_finishes_once_when_webhook_and_poll_both_arrive(
    api: Any, account: Any, sandbox: str, eager: None
) -> None:
    t = start_request(api, "race")
    finish_on_phone(t.deep_link, "pass")  # the webhook (eager) finishes it
    from tests.conftest import wait_for

    wait_for(lambda: TransferRequest.objects.get(pk=t.pk).status == Status.COMPLETED)
    data_events = t.events.filter(kind="data").count()
    assert incode_services.transfer_check(transfer_id=t.pk) == "nothing-to-do"
    assert incode_services.onboarding_finish(transfer_id=t.pk) == "already-decided"
    assert t.events.filter(kind="data").count() == data_events == 1
