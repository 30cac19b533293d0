"""Fixtures for the API tests: a CorePass account whose connector (the provider's wire
calls, outside the portal) answers from here and counts what it was asked."""

from __future__ import annotations

import threading
import time
from collections.abc import Iterator
from dataclasses import dataclass, field
from typing import Any
from unittest import mock

import pytest
from rest_framework.test import APIClient

from kyc import services
from kyc.models import ProviderAccount, TransferRequest
from kyc.status import Status
from providers.corepass import client
from providers.corepass.coreid import sample_coreid
from providers.corepass.schemas import QRCodeResult, VerifiedResult
from tests import factories
from tests.corepass.conftest import make_account
from tests.incode.conftest import account as incode_account  # noqa: F401  (fixture)
from tests.incode.conftest import eager, sandbox  # noqa: F401  (fixtures)

COREID = sample_coreid()


def start_body(reference: str = "customer-42", **extra: Any) -> dict[str, Any]:
    return {
        "provider": "corepass",
        "reference": reference,
        "coreid": COREID,
        "items": ["SH_EMAIL"],
        **extra,
    }


@dataclass
class Connector:
    """The CorePass connector as the portal's client sees it: counts QR requests, and can
    be slowed down (a provider taking its time while a duplicate arrives)."""

    delay: float = 0.0
    qr_calls: int = 0
    lock: threading.Lock = field(default_factory=threading.Lock)

    def verified(self, base: str, *, user: str, items: Any, **kw: Any) -> VerifiedResult:
        return VerifiedResult(verified=tuple(items))

    def qrcode(self, base: str, req: Any, *, now: int, **kw: Any) -> QRCodeResult:
        with self.lock:
            self.qr_calls += 1
        time.sleep(self.delay)
        return QRCodeResult(link=f"corepass:kyc?n={self.qr_calls}", expiration=now + 600)


@pytest.fixture
def connector(merchant: Any) -> Iterator[Connector]:
    make_account(merchant)
    fake = Connector()
    with (
        # looked up on each call, so a test can swap one answer (e.g. make it raise)
        mock.patch.object(client, "verified", side_effect=lambda *a, **k: fake.verified(*a, **k)),
        mock.patch.object(client, "qrcode", side_effect=lambda *a, **k: fake.qrcode(*a, **k)),
    ):
        yield fake


def key_client(merchant: Any, *scopes: str) -> APIClient:
    _, raw = services.api_key_create(
        merchant=merchant, name="k", scopes=list(scopes) or ["read", "write"]
    )
    c = APIClient()
    c.credentials(HTTP_AUTHORIZATION=f"Bearer {raw}")
    return c


def pending_transfer(merchant: Any, reference: str = "r-1", **kw: Any) -> TransferRequest:
    """A CorePass request waiting for the customer (as after a successful start)."""
    account = ProviderAccount.objects.filter(merchant=merchant, provider="corepass").first()
    account = account or make_account(merchant)
    record = services.record_get_or_create(
        merchant=merchant, reference=reference, provider="corepass"
    )
    values = {"status": Status.PENDING, **kw}
    return factories.TransferRequestFactory(
        account=account, record=record, subject=COREID, items=["SH_EMAIL"], **values
    )
