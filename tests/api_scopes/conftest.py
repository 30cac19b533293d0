"""A merchant with one customer whose identity values arrived, and keys of any scopes."""

from __future__ import annotations

from collections.abc import Callable
from dataclasses import dataclass
from typing import Any

import pytest
from rest_framework.test import APIClient

from kyc import services
from kyc.models import (
    Certificate,
    KYCRecord,
    Merchant,
    TransferRequest,
)
from tests import factories
from tests.incode.conftest import account as incode_account  # noqa: F401  (token-server tests)
from tests.incode.conftest import sandbox  # noqa: F401  (token-server tests)

# Planted values: no response of a key without `pii`, and no audit entry, may contain them.
EMAIL = "ada.planted@example.com"
DOB = "1815-12-10"


@dataclass
class World:
    merchant: Merchant
    record: KYCRecord
    transfer: TransferRequest
    certificate: Certificate


@pytest.fixture
def world(db: Any) -> World:
    merchant = factories.MerchantFactory(name="Scopes Ltd", slug="scopes-ltd")
    account = factories.ProviderAccountFactory(merchant=merchant, enabled=False)
    record = factories.KYCRecordFactory(merchant=merchant, reference="cust-1", provider="corepass")
    transfer = factories.TransferRequestFactory(account=account, record=record)
    for key, value in (("SH_EMAIL", EMAIL), ("SH_Passport_DOB", DOB)):
        factories.IdentityFieldFactory(record=record, key=key, value=value, transfer=transfer)
    certificate = factories.CertificateFactory(
        record=record, provider="sunbird", slug="course", external_id="c-1"
    )
    return World(merchant=merchant, record=record, transfer=transfer, certificate=certificate)


KeyFactory = Callable[..., tuple[APIClient, Any]]


@pytest.fixture
def key_with(world: World) -> KeyFactory:
    """key_with("read", "pii") -> (client authenticated with that key, ApiKey)."""

    def make(*scopes: str) -> tuple[APIClient, Any]:
        key, raw = services.api_key_create(
            merchant=world.merchant, name="-".join(scopes) or "none", scopes=scopes
        )
        client = APIClient()
        client.credentials(HTTP_AUTHORIZATION=f"Bearer {raw}")
        client.raw_key = raw  # type: ignore[attr-defined]
        return client, key

    return make
