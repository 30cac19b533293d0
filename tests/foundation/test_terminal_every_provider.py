"""A terminal request never moves again, whichever provider it belongs to and whichever
way an update arrives: the generic status path, failure, expiry, review, and each flow's
own reconciliation (which must not even ask the provider)."""

from __future__ import annotations

import datetime as dt
from unittest import mock

import pytest
from django.utils import timezone

from kyc import registry, services
from kyc.contract import StatusUpdate
from kyc.models import KYCRecord, ProviderAccount, TransferRequest
from kyc.status import TERMINAL, Status

pytestmark = pytest.mark.django_db

# Providers whose flows create TransferRequests (Sunbird issues through runs instead).
REQUEST_PROVIDERS = [name for name, _ in registry.choices() if name != "sunbird"]
DONE_AT = timezone.now() - dt.timedelta(days=1)


def terminal_request(merchant, provider: str, status: str) -> TransferRequest:
    account, _ = ProviderAccount.objects.get_or_create(
        merchant=merchant, provider=provider, defaults={"enabled": True}
    )
    record = KYCRecord.objects.create(merchant=merchant, reference=f"{provider}-{status}-r")
    return TransferRequest.objects.create(
        merchant=merchant,
        account=account,
        provider=provider,
        reference=f"{provider}-{status}",
        record=record,
        subject="someone",
        provider_ref=f"ref-{provider}-{status}",
        status=status,
        provider_status="DONE",
        provider_rank=5,
        status_detail="the final word",
        failure_code="final" if status != Status.COMPLETED else "",
        completed_at=DONE_AT,
        expires_at=timezone.now() - dt.timedelta(hours=1),  # overdue, for the expiry sweep
    )


def snapshot(t: TransferRequest) -> tuple:
    """Where the request stands, and what the customer and merchant were told about it."""
    t.refresh_from_db()
    return (t.status, t.completed_at, t.failure_code, t.status_detail)


def test_it_covers_every_request_provider() -> None:
    assert {"corepass", "incode", "portmone", "blockpass"} <= set(REQUEST_PROVIDERS)


@pytest.mark.parametrize("provider", REQUEST_PROVIDERS)
@pytest.mark.parametrize("final", sorted(TERMINAL))
def test_it_never_moves_a_terminal_request(merchant, provider: str, final: str) -> None:
    t = terminal_request(merchant, provider, final)
    before = snapshot(t)
    for target in Status.values:
        update = StatusUpdate(
            status=target,
            provider_status="LATE",
            provider_rank=99,
            detail=f"late {target}",
            failure_code="late",
        )
        services.transfer_apply(transfer_id=t.pk, update=update, source="callback")
        assert snapshot(t) == before, (provider, final, target)
    services.transfer_fail(transfer_id=t.pk, code="late", detail="late failure", source="poll")
    assert services.transfer_expire_overdue() == 0
    for approve in (True, False):
        services.transfer_review(transfer=t, approve=approve, reason="late review", actor=None)
    assert snapshot(t) == before
    # control: the same updates do move a request that is still open
    t_open = terminal_request(merchant, provider, Status.PENDING)
    services.transfer_fail(transfer_id=t_open.pk, code="x", detail="failed", source="poll")
    assert snapshot(t_open)[0] == Status.FAILED


@pytest.mark.parametrize("final", sorted(TERMINAL))
def test_it_does_not_ask_the_provider_about_a_terminal_request(merchant, final: str) -> None:
    from providers.corepass import client as corepass_client
    from providers.corepass import services as corepass
    from providers.incode import services as incode
    from providers.portmone import services as portmone

    checks = {
        "corepass": (
            lambda t: corepass.transfer_check(transfer_id=t.pk),
            mock.patch.object(corepass_client, "all_statuses"),
        ),
        "incode": (
            lambda t: incode.onboarding_finish(transfer_id=t.pk),
            mock.patch.object(incode, "with_admin_token"),  # every Incode call goes through it
        ),
        "portmone": (
            lambda t: portmone.transfer_check(transfer_id=t.pk),
            mock.patch.object(portmone, "provider"),
        ),
    }
    for provider, (check, asked) in checks.items():
        t = terminal_request(merchant, provider, final)
        before = snapshot(t)
        with asked as provider_call:
            check(t)
        provider_call.assert_not_called()
        assert snapshot(t) == before, provider
