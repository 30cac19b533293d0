"""Review fixtures: each provider's own test set-up, reused (flows driven through their
real code: sandboxes, signed callbacks, the status machine)."""

from __future__ import annotations

from typing import Any

import pytest

from kyc.models import AuditEntry, KYCRecord, ProviderAccount, WebhookMessage
from providers.portmone.provider import PortmoneProvider
from tests import factories
from tests.blockpass.conftest import account, bp_record  # noqa: F401 - fixtures

# Three providers meet here: `account` is Blockpass's (bp_record builds on it) and
# `sandbox` is Incode's; the others are imported under provider names, which pytest
# registers them by.
from tests.incode.conftest import account as incode_account  # noqa: F401 - fixture
from tests.incode.conftest import eager, sandbox  # noqa: F401 - fixtures
from tests.portmone.conftest import SANDBOX as PORTMONE_SANDBOX
from tests.portmone.conftest import sandbox as portmone_sandbox  # noqa: F401 - fixture


@pytest.fixture
def portmone_account(merchant: Any, portmone_sandbox: Any) -> ProviderAccount:  # noqa: F811
    settings = PortmoneProvider().sandbox_settings(sandbox_url=PORTMONE_SANDBOX)
    return factories.ProviderAccountFactory(
        merchant=merchant, provider="portmone", settings=settings
    )


def status_of(record: KYCRecord) -> str:
    record.refresh_from_db()
    return record.review_status


def status_changes(record: KYCRecord) -> list[tuple[str, str]]:
    """(from, to) of every audited review status change of the record, oldest first."""
    return [
        (e.detail["from"], e.detail["to"])
        for e in AuditEntry.objects.filter(
            action="record.review_status_changed", object_id=str(record.pk)
        ).order_by("id")
    ]


def decided_messages(record: KYCRecord) -> list[dict[str, Any]]:
    return [
        m.data
        for m in WebhookMessage.objects.filter(
            event_type="record.review_decided", object_id=str(record.pk)
        ).order_by("id")
    ]


def incode_request(api: Any, reference: str, outcome: str) -> Any:
    """An Incode onboarding the customer finishes on the sandbox's phone page ("pass" is
    auto-approved, "fail" waits for review); tasks run inline (`eager`)."""
    from kyc.models import TransferRequest
    from kyc.status import Status
    from tests.conftest import wait_for
    from tests.incode.conftest import finish_on_phone

    r = api.post(
        "/api/v1/transfers/", {"provider": "incode", "reference": reference}, format="json"
    )
    assert r.status_code == 201, r.content
    t = TransferRequest.objects.get(pk=r.json()["id"])
    assert status_of(t.record) == KYCRecord.Review.WAITING  # asked, nothing back yet
    finish_on_phone(t.deep_link, outcome)
    wait_for(lambda: TransferRequest.objects.get(pk=t.pk).status != Status.PENDING)
    t.refresh_from_db()
    return t
