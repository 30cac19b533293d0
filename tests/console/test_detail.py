"""One verification: masked data and an audited reveal, the live status, the customer's
link and QR, cancel (with a confirmation step) and a new link."""

from __future__ import annotations

from collections.abc import Iterator
from typing import Any
from unittest import mock

import pytest
from django.urls import reverse

from kyc import registry
from kyc.contract import StartResult
from kyc.models import AuditEntry, IdentityField, Membership, TransferRequest
from kyc.status import Status
from tests.console.conftest import customer_with_email, member
from tests.corepass.conftest import USER

pytestmark = pytest.mark.django_db

EMAIL = "olena@example.com"


@pytest.fixture
def done(accounts: dict[str, Any], merchant: Any) -> TransferRequest:
    t = customer_with_email(accounts["corepass"], "cust-7", EMAIL)
    t.subject = USER
    t.items = ["SH_EMAIL", "SH_ANY_DOB"]
    t.save()
    return t


@pytest.fixture
def started() -> Iterator[mock.MagicMock]:
    """The provider's side of starting (the connector is not called): it answers a QR."""
    corepass = type(registry.get("corepass"))
    answer = StartResult(provider_ref="share-2", qr_payload="corepass:sign-2", status="pending")
    with mock.patch.object(corepass, "start_transfer", return_value=answer) as start:
        yield start


def test_it_masks_received_data_and_reveals_it_audited(owner: Any, done: TransferRequest) -> None:
    url = reverse("transfer_detail", args=[done.pk])
    page = owner.get(url).content.decode()
    assert "Email address" in page and EMAIL not in page and "••••••" in page
    assert not AuditEntry.objects.filter(action="pii.revealed").exists()
    field = IdentityField.objects.get(transfer=done)
    reveal = reverse("customer_reveal", args=[done.record_id])
    refused = owner.post(reveal, {"fields": [field.pk], "next": url}, follow=True)
    assert "Choose why" in refused.content.decode() and EMAIL not in refused.content.decode()
    shown = owner.post(reveal, {"fields": [field.pk], "purpose": "review", "next": url})
    assert shown.status_code == 302 and shown["Location"] == url
    page = owner.get(url).content.decode()
    assert EMAIL in page and "audit log" in page
    entry = AuditEntry.objects.get(action="pii.revealed")
    assert entry.actor == owner.user and entry.detail["fields"] == ["SH_EMAIL"]
    assert EMAIL not in str(entry.detail)


def test_it_lets_only_a_revealing_role_reveal(done: TransferRequest, merchant: Any) -> None:
    viewer = member(merchant, Membership.Role.VIEWER)
    page = viewer.get(reverse("transfer_detail", args=[done.pk])).content.decode()
    assert "reveal-form" not in page and "••••••" in page
    field = IdentityField.objects.get(transfer=done)
    answer = viewer.post(
        reverse("customer_reveal", args=[done.record_id]),
        {"fields": [field.pk], "purpose": "review"},
    )
    assert answer.status_code == 403
    assert not AuditEntry.objects.filter(action="pii.revealed").exists()
    assert EMAIL not in viewer.get(reverse("transfer_detail", args=[done.pk])).content.decode()


def test_it_polls_the_status_until_the_request_ends(owner: Any, done: TransferRequest) -> None:
    page = owner.get(reverse("transfer_detail", args=[done.pk])).content.decode()
    live = reverse("transfer_live", args=[done.pk])
    assert f'hx-get="{live}"' in page and 'hx-trigger="every 3s"' in page
    first = owner.get(live)
    assert first.status_code == 200 and "Waiting for the customer" in first.content.decode()
    TransferRequest.objects.filter(pk=done.pk).update(
        status=Status.COMPLETED, provider_status="FINISH_SUCCESS"
    )
    last = owner.get(live)
    assert last.status_code == 286  # htmx stops polling
    body = last.content.decode()
    assert "Completed" in body and "hx-trigger" not in body


def test_it_shows_the_customer_link_and_its_qr(owner: Any, done: TransferRequest) -> None:
    page = owner.get(reverse("transfer_detail", args=[done.pk])).content.decode()
    assert f"/t/{done.page_token}/" in page and 'data-copy="page-url"' in page
    assert 'aria-label="QR code"' in page and "<svg" in page
    assert reverse("customer_detail", args=[done.record_id]) in page


def test_it_cancels_only_after_confirmation(owner: Any, done: TransferRequest) -> None:
    url = reverse("transfer_cancel", args=[done.pk])
    confirm = owner.get(url).content.decode()
    assert "Cancel this verification?" in confirm and "Yes, cancel it" in confirm
    done.refresh_from_db()
    assert done.status == Status.PENDING  # asking is not doing
    answer = owner.post(url)
    assert answer.status_code == 302
    done.refresh_from_db()
    assert done.status == Status.CANCELLED
    assert AuditEntry.objects.filter(action="transfer.cancelled", object_id=str(done.pk)).exists()
    again = owner.post(url, follow=True).content.decode()
    assert "already cancelled" in again
    page = owner.get(reverse("transfer_detail", args=[done.pk])).content.decode()
    assert "Cancel…" not in page and "Cancelled" in page


def test_it_refuses_to_cancel_a_completed_request(owner: Any, done: TransferRequest) -> None:
    TransferRequest.objects.filter(pk=done.pk).update(status=Status.COMPLETED)
    page = owner.post(reverse("transfer_cancel", args=[done.pk]), follow=True).content.decode()
    assert "can no longer be cancelled" in page
    done.refresh_from_db()
    assert done.status == Status.COMPLETED


def test_it_makes_a_new_link_with_the_same_details(
    owner: Any, done: TransferRequest, started: mock.MagicMock
) -> None:
    answer = owner.post(reverse("transfer_again", args=[done.pk]))
    new = TransferRequest.objects.exclude(pk=done.pk).get()
    assert answer.status_code == 302 and answer["Location"] == reverse(
        "transfer_detail", args=[new.pk]
    )
    assert (new.provider, new.reference, new.subject, new.items, new.record_id) == (
        "corepass",
        "cust-7",
        USER,
        ["SH_EMAIL", "SH_ANY_DOB"],
        done.record_id,
    )
    assert new.page_token != done.page_token and new.status == Status.PENDING
    assert started.call_args.args[0].items == ("SH_EMAIL", "SH_ANY_DOB")
