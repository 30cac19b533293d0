"""A merchant with CorePass, Incode and Portmone accounts, its owner signed in, and a way
to write requests with a known history (status, opened, completed, timeline)."""

from __future__ import annotations

import datetime as dt
from typing import Any

import pytest
from django.conf import settings
from django.test import Client
from django.utils import timezone

from kyc import registry
from kyc.models import (
    KYCRecord,
    Membership,
    Merchant,
    ProviderAccount,
    TransferRequest,
)
from kyc.status import Status
from tests import factories


def sandbox_settings(provider: str) -> dict[str, Any]:
    return registry.get(provider).sandbox_settings(
        sandbox_url=f"{settings.PUBLIC_URL}/sandbox/{provider}/"
    )


@pytest.fixture
def accounts(merchant: Merchant) -> dict[str, ProviderAccount]:
    return {
        p: factories.ProviderAccountFactory(
            merchant=merchant, provider=p, settings=sandbox_settings(p)
        )
        for p in ("corepass", "incode", "portmone")
    }


@pytest.fixture
def owner(merchant: Merchant, client: Client) -> Client:
    user = factories.staff_user(merchant, reveal=True, role=Membership.Role.OWNER)
    client.force_login(user)
    client.user = user  # type: ignore[attr-defined]
    return client


# The path of a request the customer accepted (before it completed or failed).
ACCEPTED = (Status.PENDING, Status.ACCEPTED)


def member(merchant: Merchant, role: str, *, reveal: bool = True) -> Client:
    c = Client()
    user = factories.staff_user(merchant, reveal=reveal, role=role)
    c.force_login(user)
    c.user = user  # type: ignore[attr-defined]
    return c


def make_transfer(
    account: ProviderAccount,
    *,
    reference: str = "",
    status: str = Status.PENDING,
    created: dt.datetime | None = None,
    opened: bool = False,
    took: dt.timedelta | None = None,
    passed: tuple[str, ...] = (),
    provider_status: str = "",
    record: KYCRecord | None = None,
) -> TransferRequest:
    """One request with a timeline: created, then each status in `passed`, then `status`."""
    created = created or timezone.now() - dt.timedelta(minutes=30)
    n = TransferRequest.objects.count()
    t = factories.TransferRequestFactory(
        account=account,
        reference=reference or f"ref-{n}",
        record=record,
        status=status,
        provider_status=provider_status,
        created_at=created,
        opened_at=created + dt.timedelta(seconds=5) if opened else None,
        completed_at=created + took if took is not None else None,
    )
    steps = [Status.CREATED, *passed] + ([status] if status != Status.CREATED else [])
    for i, s in enumerate(steps):
        factories.TransferEventFactory(
            transfer=t, status=s, created_at=created + dt.timedelta(seconds=i), detail=f"to {s}"
        )
    return t


def customer_with_email(
    account: ProviderAccount, reference: str, email: str, **transfer: Any
) -> TransferRequest:
    """A customer's opened, pending request (`make_transfer` arguments) that brought
    their email (SH_EMAIL)."""
    record = factories.KYCRecordFactory(
        merchant=account.merchant, reference=reference, provider=account.provider
    )
    t = make_transfer(
        account, reference=reference, record=record, status=Status.PENDING, opened=True, **transfer
    )
    factories.IdentityFieldFactory(record=record, transfer=t, key="SH_EMAIL", value=email)
    return t


def waiting_review(merchant: Merchant, reference: str, hours: float) -> KYCRecord:
    """A customer whose review has waited `hours`."""
    return factories.KYCRecordFactory(
        merchant=merchant,
        reference=reference,
        review_status=KYCRecord.Review.IN_REVIEW,
        review_since=timezone.now() - dt.timedelta(hours=hours),
    )
