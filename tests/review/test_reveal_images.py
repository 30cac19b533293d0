"""A record whose only evidence is its ID and selfie images (no identity values) can be
revealed on the review page: still a POST with a purpose, audited once, by the same roles;
without the reveal the images stay hidden."""

from __future__ import annotations

import base64
from dataclasses import dataclass
from typing import Any

import pytest
from django.test import Client
from django.urls import reverse

from kyc import reveal
from kyc.models import AuditEntry, KYCRecord, Membership, Merchant, TransferRequest
from kyc.status import Status
from providers.incode.models import IncodeImage
from tests import factories
from tests.admin_workspace.conftest import member

# A real 1x1 PNG, so a browser can draw it.
PNG = base64.b64decode(
    "iVBORw0KGgoAAAANSUhEUgAAAAEAAAABCAYAAAAfFcSJAAAADUlEQVR42mNkYPhfDwAChwGA60e6kgAAAABJRU5ErkJggg=="
)
LABELS = ["ID front", "ID back", "Selfie"]
HIDDEN = "Reveal to see the ID images."


@dataclass
class ImagesOnly:
    merchant: Merchant
    record: KYCRecord
    urls: list[str]

    @property
    def page(self) -> str:
        return reverse("admin:kyc_kycrecord_review", args=[self.record.pk])

    @property
    def reveal(self) -> str:
        return reverse("admin:kyc_kycrecord_reveal", args=[self.record.pk])


def images_only_record(reference: str = "img-only") -> ImagesOnly:
    """An Incode request in review with its three images stored and no identity value."""
    merchant = factories.MerchantFactory()
    account = factories.ProviderAccountFactory(merchant=merchant, provider="incode")
    record = factories.KYCRecordFactory(
        merchant=merchant,
        reference=reference,
        provider="incode",
        review_status=KYCRecord.Review.IN_REVIEW,
    )
    transfer = TransferRequest.objects.create(
        merchant=merchant,
        account=account,
        provider="incode",
        reference=reference,
        record=record,
        status=Status.REVIEW,
    )
    images = [
        IncodeImage.objects.create(transfer=transfer, kind=kind, data=PNG)
        for kind in IncodeImage.Kind.values
    ]
    assert not record.fields.exists()
    urls = [reverse("admin:kyc_incode_image", args=[i.pk]) for i in images]
    return ImagesOnly(merchant, record, urls)


def _reveals(record: KYCRecord) -> Any:
    return AuditEntry.objects.filter(action="pii.revealed", object_id=str(record.pk))


def _hidden(client: Client, case: ImagesOnly) -> None:
    html = client.get(case.page).content.decode()
    assert HIDDEN in html and not any(url in html for url in case.urls)
    for url in case.urls:
        response = client.get(url)
        assert response.status_code == 403 and response.content == HIDDEN.encode()


@pytest.mark.django_db
def test_it_reveals_a_record_that_has_only_images() -> None:
    case = images_only_record()
    reviewer = member(case.merchant, Membership.Role.COMPLIANCE)
    _hidden(reviewer, case)
    assert 'id="reveal-images"' in reviewer.get(case.page).content.decode()

    form = reviewer.get(case.reveal).content.decode()
    assert 'id="reveal-form"' in form and all(label in form for label in LABELS)
    assert not _reveals(case.record).exists()  # a GET reveals nothing

    response = reviewer.post(case.reveal, {"purpose": "review"})
    assert response.status_code == 302 and response["Location"] == case.page
    entry = _reveals(case.record).get()
    assert entry.actor == reviewer.user and entry.merchant == case.merchant
    assert entry.detail["fields"] == [] and entry.detail["images"] == LABELS
    assert entry.detail["purpose"] == "review"

    html = reviewer.get(case.page).content.decode()
    assert HIDDEN not in html and all(f'src="{url}"' in html for url in case.urls)
    for url in case.urls:
        shown = reviewer.get(url)
        assert shown.status_code == 200 and shown.content == PNG
        assert shown["Content-Type"] == "image/png" and "no-store" in shown["Cache-Control"]
    assert _reveals(case.record).count() == 1  # showing them wrote nothing more
    # The reveal is this session's only.
    _hidden(member(case.merchant, Membership.Role.COMPLIANCE), case)


@pytest.mark.django_db
def test_it_still_needs_a_purpose_for_the_images() -> None:
    case = images_only_record()
    reviewer = member(case.merchant, Membership.Role.COMPLIANCE)
    refused = reviewer.post(case.reveal, {})
    assert refused.status_code == 400 and "Choose why" in refused.content.decode()
    other = reviewer.post(case.reveal, {"purpose": "other", "note": " "})
    assert other.status_code == 400 and "Say why" in other.content.decode()
    assert not _reveals(case.record).exists()
    _hidden(reviewer, case)


@pytest.mark.django_db
@pytest.mark.parametrize("role", [Membership.Role.ADMIN, Membership.Role.VIEWER])
def test_it_lets_only_the_revealing_roles_reveal_the_images(role: str) -> None:
    case = images_only_record()
    client = member(case.merchant, role)
    assert "reveal-images" not in client.get(case.page).content.decode()
    assert client.post(case.reveal, {"purpose": "review"}).status_code == 403
    no_perm = member(case.merchant, Membership.Role.COMPLIANCE, reveal=False)
    assert no_perm.post(case.reveal, {"purpose": "review"}).status_code == 403
    assert not _reveals(case.record).exists()
    _hidden(member(case.merchant, Membership.Role.COMPLIANCE), case)


@pytest.mark.django_db
def test_it_refuses_a_reveal_when_the_images_are_gone_too() -> None:
    case = images_only_record()
    IncodeImage.objects.filter(transfer__record=case.record).update(data=None)
    reviewer = member(case.merchant, Membership.Role.COMPLIANCE)
    refused = reviewer.post(case.reveal, {"purpose": "review"})
    assert refused.status_code == 400 and "still stored" in refused.content.decode()
    assert not _reveals(case.record).exists()


@pytest.mark.django_db
def test_it_covers_images_only_when_the_caller_asks() -> None:
    """kyc.reveal: the admin's reveal covers images; a reveal of values alone (the
    merchant's customer page) still needs a value."""
    case = images_only_record()
    staff = factories.staff_user(case.merchant, reveal=True, role=Membership.Role.COMPLIANCE)
    ask = {
        "record": case.record,
        "actor": staff,
        "session_key": "s-1",
        "field_ids": [],
        "purpose": "review",
        "note": "",
    }
    with pytest.raises(reveal.RevealRefused):
        reveal.record_reveal(**ask)
    assert reveal.record_revealed(record=case.record, session_key="s-1") is None
    grant = reveal.record_reveal(**ask, images=True)
    assert grant.images == 3 and grant.field_ids == [] and grant.summary == "3 image(s)"
    kept = reveal.record_revealed(record=case.record, session_key="s-1")
    assert kept is not None and kept.images == 3
    assert reveal.record_revealed(record=case.record, session_key="s-2") is None
    assert _reveals(case.record).count() == 1
    assert [i.label for i in reveal.record_images(case.record)] == LABELS
