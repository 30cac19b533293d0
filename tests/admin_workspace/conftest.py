"""A merchant with records waiting for review (Incode, Blockpass), their evidence, and
members in each role."""

from __future__ import annotations

import datetime as dt
from dataclasses import dataclass
from typing import Any

import pytest
from django.test import Client
from django.utils import timezone

from kyc.models import (
    IdentityField,
    InboundEvent,
    KYCRecord,
    Merchant,
    ProviderAccount,
    TransferRequest,
)
from kyc.status import Status
from tests import factories

EMAIL = "ada-lovelace-zq@example.com"


@dataclass
class Desk:
    merchant: Merchant
    old: KYCRecord  # waiting 30 h (overdue at the default 24 h SLA)
    new: KYCRecord  # waiting 1 h
    transfer: TransferRequest  # old's Incode request in review
    email: IdentityField  # old's email (EMAIL)
    delivery: InboundEvent


def login(user: Any) -> Client:
    client = Client()
    client.force_login(user)
    client.user = user  # type: ignore[attr-defined]
    return client


def member(merchant: Merchant, role: str, *, reveal: bool = True) -> Client:
    return login(factories.staff_user(merchant, reveal=reveal, role=role))


def browser_login(page: Any, login_url: str, user: Any, *, submit: str) -> None:
    """Sign `user` in through a login form (the factories' password) on a 1280 px screen;
    `submit` is the form's button (the admin's is an input, the console's a button)."""
    page.set_viewport_size({"width": 1280, "height": 900})
    page.goto(login_url)
    page.fill("#id_username", user.username)
    page.fill("#id_password", "pw")
    page.click(submit)


def waiting_record(
    merchant: Merchant, account: ProviderAccount, reference: str, hours: float
) -> tuple[KYCRecord, TransferRequest]:
    since = timezone.now() - dt.timedelta(hours=hours)
    record = factories.KYCRecordFactory(
        merchant=merchant,
        reference=reference,
        provider="incode",
        review_status=KYCRecord.Review.IN_REVIEW,
        review_since=since,
        created_at=since,
    )
    transfer = factories.TransferRequestFactory(
        account=account,
        record=record,
        status=Status.REVIEW,
        provider_status="ONBOARDING_FINISHED",
        status_detail="overall score FAIL (12.5)",
        provider_data={"score": {"overall_status": "FAIL", "overall_value": "12.5"}},
        created_at=since,
    )
    return record, transfer


@pytest.fixture
def desk(db: Any) -> Desk:
    merchant = factories.MerchantFactory(name="Acme Bank")
    account = factories.ProviderAccountFactory(merchant=merchant, provider="incode")
    old, transfer = waiting_record(merchant, account, "cust-old", 30)
    new, _ = waiting_record(merchant, account, "cust-new", 1)
    email = factories.IdentityFieldFactory(record=old, key="email", value=EMAIL, transfer=transfer)
    factories.IdentityFieldFactory(
        record=old, key="fullName", value="Ada Lovelace", transfer=transfer
    )
    delivery = factories.InboundEventFactory(
        transfer=transfer,
        kind="ONBOARDING_FINISHED",
        headers={"content-type": "application/json", "user-agent": "Incode-Webhooks/1.0"},
        body=b'{"interviewId": "x"}',
        state=InboundEvent.State.PROCESSED,
    )
    at = timezone.now().replace(microsecond=0) - dt.timedelta(hours=29, seconds=17)
    factories.TransferEventFactory(
        transfer=transfer,
        created_at=at,
        provider_status="ONBOARDING_FINISHED",
        detail="overall score FAIL (12.5)",
        source="callback",
        inbound=delivery,
    )
    return Desk(merchant, old, new, transfer, email, delivery)
