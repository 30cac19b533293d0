"""Promise figures (see tests/faults/promise_log.py) and shared set-ups for this directory's tests."""

import datetime as dt
from typing import Any

import pytest
from django.utils import timezone

from kyc.models import CertPromise, KYCRecord, Merchant
from providers.blockpass import services as bp_services
from tests.contract.deliveries import blockpass_account
from tests.faults.promise_log import (  # noqa: F401
    _write_promises,
    promise,
    pytest_runtest_makereport,
)


@pytest.fixture(autouse=True)
def _outbound_loopback(settings: Any, monkeypatch: pytest.MonkeyPatch) -> None:
    """Fault tests put fake providers and proxies on 127.0.0.1 ports: the outbound policy's
    explicit opt-in, for these tests only (settings here, the environment for the workers
    they start)."""
    settings.OUTBOUND_ALLOW_NETWORKS = ["127.0.0.0/8"]
    monkeypatch.setenv("OUTBOUND_ALLOW_NETWORKS", "127.0.0.0/8")


def blockpass_customer(
    *, slug: str, api_url: str, token_valid_for: dt.timedelta
) -> tuple[Any, Any]:
    """A Blockpass account against `api_url` and one registered customer holding a token."""
    merchant = Merchant.objects.create(name=slug, slug=slug)
    blockpass_account(merchant, api_url=api_url)
    expires = (timezone.now() + token_valid_for).isoformat()
    record = KYCRecord.objects.create(
        merchant=merchant,
        reference=slug,
        secrets={
            bp_services.SECRETS_KEY: {
                "access_token": "t",
                "refresh_token": "r",
                "expires_at": expires,
            }
        },
    )
    return merchant, record


def due_promise(record: Any, promise_id: str) -> CertPromise:
    """A Blockpass certificate promise for `record`, due now."""
    return CertPromise.objects.create(
        merchant=record.merchant,
        record=record,
        provider="blockpass",
        promise_id=promise_id,
        next_attempt_at=timezone.now(),
    )
