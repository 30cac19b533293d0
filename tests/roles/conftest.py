"""One merchant with something of everything, an owner, and a member in the role under test.

Every member gets every kyc permission and `reveal_pii`, so whatever they are refused is
refused by their role alone.
"""

from __future__ import annotations

from dataclasses import dataclass
from typing import Any

import pytest
from django.conf import settings
from django.test import Client

from kyc import registry, services
from kyc.models import ApiKey, Membership, Merchant, ProviderAccount, TransferRequest
from kyc.status import Status
from providers.sunbird.models import IssuanceRun, IssuanceStep
from tests import factories
from tests.sunbird.conftest import make_run

ROLES = [r.value for r in Membership.Role]  # owner, admin, compliance, viewer
OWNER, ADMIN, COMPLIANCE, VIEWER = (
    Membership.Role.OWNER,
    Membership.Role.ADMIN,
    Membership.Role.COMPLIANCE,
    Membership.Role.VIEWER,
)


def sandbox_settings(provider: str) -> dict[str, Any]:
    """The provider's own sandbox settings (never contacted by these tests)."""
    return registry.get(provider).sandbox_settings(
        sandbox_url=f"{settings.PUBLIC_URL}/sandbox/{provider}/"
    )


@dataclass
class World:
    merchant: Merchant
    owner: Any
    owner_key: ApiKey
    corepass: ProviderAccount
    transfer: TransferRequest  # a CorePass request
    in_review: TransferRequest  # an Incode request waiting for review
    run: IssuanceRun  # a failed issuance run


def member_client(merchant: Merchant, role: str) -> Client:
    client = Client()
    user = factories.staff_user(merchant, reveal=True, role=role)
    client.force_login(user)
    client.user = user  # type: ignore[attr-defined]
    return client


@pytest.fixture
def world(db: Any) -> World:
    merchant = factories.MerchantFactory()
    owner = factories.staff_user(merchant, reveal=True, role=OWNER)
    key, _ = services.api_key_create(merchant=merchant, name="owner's key", created_by=owner)
    accounts = {
        p: factories.ProviderAccountFactory(
            merchant=merchant, provider=p, settings=sandbox_settings(p)
        )
        for p in ("corepass", "incode", "sunbird")
    }
    transfer = factories.TransferRequestFactory(account=accounts["corepass"], reference="cp-1")
    in_review = factories.TransferRequestFactory(
        account=accounts["incode"], reference="in-1", status=Status.REVIEW
    )
    run = make_run(merchant)
    run.status = IssuanceRun.Status.FAILED
    run.save()
    IssuanceStep.objects.filter(pk=run.steps.order_by("order").values("pk")[:1]).update(
        status=IssuanceStep.Status.FAILED
    )
    return World(
        merchant=merchant,
        owner=owner,
        owner_key=key,
        corepass=accounts["corepass"],
        transfer=transfer,
        in_review=in_review,
        run=run,
    )
